"""The ``dynamicChoice``, ``group`` and ``geoPoint`` field types, through HTTP: what they accept and store, how they
read, filter, sort, aggregate and travel through CSV, and what they refuse (platform-facts §3.2, §3.3, §5.3)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import quote, urlparse

import pytest

from tests.conftest import Api, create, login, wait_for_job
from tests.entities.test_query_roundtrips import monitored_app

STATES = [{"label": "Alabama", "name": "AL"}, {"label": "Arizona", "name": "AZ"}]
PLACES = {"name": "places", "label": "Places", "recordLabel": "#{name}", "history": True, "fields": [
    {"name": "name", "type": "text"},
    {"name": "state", "label": "State", "type": "dynamicChoice"},
]}


def define(api: Api, body: dict[str, Any]) -> None:
    response = api.put(f"/metadata/entities/{body['name']}", json=body)
    assert response.status_code == 200, response.get_json()


def names(api: Api, query: str, entity: str = "places") -> list[str]:
    response = api.get(f"/data/{entity}?{query}")
    assert response.status_code == 200, response.get_json()
    return [r["name"] for r in response.get_json()["items"]]


def field_errors(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.get_json()
    return [(e["field"], e["code"]) for e in response.get_json()["errors"]]


def run_import(api: Api, entity: str, text: str) -> dict[str, Any]:
    response = api.post(f"/data/{entity}/import", data={"file": (io.BytesIO(text.encode()), "data.csv")},
                        content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    return wait_for_job(api, response.get_json()["jobId"])


def run_export(api: Api, entity: str, query: str = "") -> list[list[str]]:
    response = api.put(f"/data/{entity}/export{'?' + query if query else ''}")
    assert response.status_code == 200, response.get_json()
    job = wait_for_job(api, response.get_json()["jobId"])
    assert job["status"] == "FINISHED", job
    download = api.client.get(urlparse(job["results"]["fileLink"]).path, headers={"token": api.token})
    return list(csv.reader(io.StringIO(download.get_data(as_text=True))))


def aggregate(api: Api, entity: str, pipeline: list[dict[str, Any]]) -> Any:
    return api.put(f"/data/{entity}/aggregate", json=pipeline)


# --- dynamicChoice ------------------------------------------------------------------------------------------

@pytest.fixture
def places(api: Api) -> Api:
    define(api, PLACES)
    return api


def test_dynamic_choice_is_written_as_the_object_or_a_bare_string_and_read_as_the_object(places: Api):
    full = create(places, "places", {"name": "a", "state": {"options": STATES, "selectedValue": "AZ"}})
    assert full["state"] == {"options": STATES, "selectedValue": "AZ"}
    bare = create(places, "places", {"name": "b", "state": "Texas"})
    assert bare["state"] == {"options": [{"label": "Texas", "name": "Texas"}], "selectedValue": "Texas"}
    none = create(places, "places", {"name": "c", "state": {"options": STATES, "selectedValue": None}})
    assert none["state"] == {"options": STATES, "selectedValue": None}
    assert places.get(f"/data/places/{full['id']}").get_json()["state"] == full["state"]
    updated = places.put(f"/data/places/{full['id']}", json={"state": {"options": STATES, "selectedValue": "AL"}})
    assert updated.status_code == 200 and updated.get_json()["state"]["selectedValue"] == "AL"
    cleared = places.put(f"/data/places/{full['id']}", json={"state": None}).get_json()
    assert cleared["state"] is None


@pytest.mark.parametrize("value", [
    {"options": STATES, "selectedValue": "TX"},  # not one of the options
    {"options": STATES, "selectedValue": 5},
    {"options": [{"label": "Alabama"}], "selectedValue": None},  # an option without a name
    {"options": [{"label": 1, "name": "AL"}]},
    {"options": [{"label": "A", "name": "AL", "colour": "red"}]},
    {"options": [STATES[0], STATES[0]], "selectedValue": "AL"},  # names repeat
    {"options": "AL"}, {"selectedValue": "AL"}, {"options": STATES, "other": 1}, "", 5, ["AL"], True,
])
def test_bad_dynamic_choices_are_field_errors(places: Api, value: Any):
    response = places.post("/data/places", json={"name": "x", "state": value})
    assert field_errors(response) == [("state", "invalid")]
    assert response.get_json()["errors"][0]["additionalInfo"] == {"rejectedValue": value}
    assert places.get("/data/places").get_json()["total"] == 0


def test_dynamic_choice_cannot_be_unique_nor_indexed_and_takes_no_accumulator(places: Api):
    for flag in ("unique", "indexable"):
        body = {"name": "bad", "fields": [{"name": "state", "type": "dynamicChoice", flag: True}]}
        response = places.post("/metadata/entities", json=body)
        assert (f"fields[0].{flag}", "invalid") in field_errors(response)
    create(places, "places", {"name": "a", "state": "AL"})
    for accumulator in ("first", "last", "min", "max", "sum"):
        response = aggregate(places, "places", [{"group": {"x": f"{accumulator}(state)"}}])
        assert response.status_code == 400, accumulator
        assert "allowed: none" in response.get_json()["message"]


def test_dynamic_choice_filters_read_the_selected_value(places: Api):
    create(places, "places", {"name": "az", "state": {"options": STATES, "selectedValue": "AZ"}})
    create(places, "places", {"name": "al", "state": {"options": STATES, "selectedValue": "AL"}})
    create(places, "places", {"name": "unselected", "state": {"options": STATES, "selectedValue": None}})
    create(places, "places", {"name": "unset"})
    query = "_sortField=name&_sortType=asc&"
    assert names(places, query + "state=AZ") == ["az"]
    assert names(places, query + "state=equals(AL,AZ)") == ["al", "az"]
    assert names(places, query + "state=Arizona") == []  # the option's name, not its label
    assert names(places, query + "state=notEquals(AZ)") == ["al", "unselected", "unset"]
    assert names(places, query + "state=empty()") == ["unselected", "unset"]
    assert names(places, query + "state=notEmpty()") == ["al", "az"]
    assert names(places, query + "state=like(z)") == ["az"]
    assert names(places, "_sortField=state&_sortType=desc&state=notEmpty()") == ["az", "al"]
    bad = places.get("/data/places?state=greater(AL)")
    assert bad.status_code == 400 and "not allowed for fields of type dynamicChoice" in bad.get_json()["message"]
    matched = aggregate(places, "places", [{"match": {"state": "AL"}}, {"sort": {"state": "asc"}}])
    assert [r["name"] for r in matched.get_json()["items"]] == ["al"]
    projected = places.get("/data/places?state=AZ&_fields=state").get_json()["items"][0]
    assert projected["state"] == {"options": STATES, "selectedValue": "AZ"}  # the value comes back whole


def test_dynamic_choice_plain_text_is_the_selected_label(places: Api):
    record = create(places, "places", {"name": "a", "state": {"options": STATES, "selectedValue": "AZ"}})
    create(places, "places", {"name": "b", "state": {"options": STATES, "selectedValue": None}})
    items = places.get("/data/places?_format=plainText&_sortField=name&_sortType=asc").get_json()["items"]
    assert [i["state"] for i in items] == ["Arizona", ""]
    assert places.get(f"/data/places/{record['id']}?_format=plainText").get_json()["state"] == "Arizona"


def test_dynamic_choice_csv_export_is_json_and_import_takes_it_or_a_bare_name(places: Api):
    create(places, "places", {"name": "a", "state": {"options": STATES, "selectedValue": "AZ"}})
    rows = run_export(places, "places", "_fields=name,state&_useFieldNames=true")
    assert rows[0] == ["name", "state"]
    assert json.loads(rows[1][1]) == {"options": STATES, "selectedValue": "AZ"}
    assert rows[1][1] == '{"options":[{"label":"Alabama","name":"AL"},{"label":"Arizona","name":"AZ"}],' \
                         '"selectedValue":"AZ"}'
    out = io.StringIO()
    jsonish = "{options:[{label:Alabama,name:AL},{label:Arizona,name:AZ}],selectedValue:AL}"  # the facts' form
    csv.writer(out).writerows([["name", "state"], ["copy", rows[1][1]], ["bare", "Texas"], ["jsonish", jsonish]])
    job = run_import(places, "places", out.getvalue())
    assert job["results"] == {"rowsImported": 3, "rowsWithErrors": 0}, job
    by_name = {r["name"]: r["state"] for r in places.get("/data/places?_size=10").get_json()["items"]}
    assert by_name["copy"] == {"options": STATES, "selectedValue": "AZ"}
    assert by_name["jsonish"] == {"options": STATES, "selectedValue": "AL"}
    assert by_name["bare"] == {"options": [{"label": "Texas", "name": "Texas"}], "selectedValue": "Texas"}


def test_dynamic_choice_bad_csv_cells_are_row_errors(places: Api):
    job = run_import(places, "places", 'name,state\nbad,"{""options"": 5}"\nworse,{not json\nok,AL\n')
    results = job["results"]
    assert (results["rowsImported"], results["rowsWithErrors"]) == (1, 2), job
    rows = results["results"]
    assert rows["2"]["errors"][0]["field"] == "state" and "options is a list" in rows["2"]["errorMessage"]
    assert "Not a dynamic choice" in rows["3"]["errorMessage"]
    assert names(places, "") == ["ok"]


# --- group --------------------------------------------------------------------------------------------------

TEAMS = {"name": "teams", "label": "Teams", "recordLabel": "#{name}", "history": True, "fields": [
    {"name": "name", "type": "text"},
    {"name": "team", "label": "Team", "type": "group"},
    {"name": "watchers", "type": "group", "multiplicity": "many"},
]}


def new_group(api: Api, name: str, label: str | None = None) -> dict[str, Any]:
    response = api.post("/groups", json={"name": name, **({"label": label} if label is not None else {})})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def teams(api: Api) -> tuple[Api, dict[str, dict[str, Any]]]:
    define(api, TEAMS)
    groups = {"crew": new_group(api, "crew", "Crew team"), "ops": new_group(api, "ops", "Operations"),
              # a group whose label is another group's name: the name wins
              "tricky": new_group(api, "tricky", "crew")}
    return api, groups


def ref(group: dict[str, Any]) -> dict[str, str]:
    return {"id": group["id"], "label": group["label"]}


def test_group_is_written_by_id_name_or_label_and_read_as_id_and_label(teams):
    api, groups = teams
    crew = ref(groups["crew"])
    for value in (groups["crew"]["id"], {"id": groups["crew"]["id"]}, "crew", "Crew team", {"name": "crew"},
                  {"label": "Crew team"}):
        record = create(api, "teams", {"name": "x", "team": value})
        assert record["team"] == crew, value
    assert create(api, "teams", {"name": "x", "team": "Operations"})["team"] == ref(groups["ops"])
    # "crew" is the name of one group and the label of another: the name wins; {label} asks for the label
    assert create(api, "teams", {"name": "x", "team": {"label": "crew"}})["team"] == ref(groups["tricky"])
    many = create(api, "teams", {"name": "y", "watchers": ["ops", groups["crew"]["id"]]})
    assert many["watchers"] == [ref(groups["ops"]), crew]
    assert api.get(f"/data/teams/{many['id']}").get_json()["watchers"] == many["watchers"]
    changed = api.put(f"/data/teams/{many['id']}", json={"team": "tricky", "watchers": []}).get_json()
    assert changed["team"] == ref(groups["tricky"]) and changed["watchers"] == []


@pytest.mark.parametrize("value", ["nobody", "6b0404aca7408a15fb0c93ee", {"id": "6b0404aca7408a15fb0c93ee"},
                                   {"id": "nope"}, {"name": "Crew team"}, {"other": 1}, "", 5, True, ["crew"]])
def test_unknown_or_malformed_groups_are_field_errors(teams, value: Any):
    api, _ = teams
    response = api.post("/data/teams", json={"name": "x", "team": value})
    assert field_errors(response) == [("team", "invalid")]
    assert api.get("/data/teams").get_json()["total"] == 0


def test_a_label_shared_by_two_groups_is_ambiguous(teams):
    api, _ = teams
    new_group(api, "ops2", "Operations")
    response = api.post("/data/teams", json={"name": "x", "team": "Operations"})
    assert field_errors(response) == [("team", "invalid")]
    assert "More than one group" in response.get_json()["errors"][0]["message"]


def test_group_filters_match_id_then_name_then_label(teams):
    api, groups = teams
    create(api, "teams", {"name": "s", "team": "crew", "watchers": ["ops"]})
    create(api, "teams", {"name": "o", "team": "ops"})
    create(api, "teams", {"name": "t", "team": "tricky", "watchers": ["ops", "crew"]})
    create(api, "teams", {"name": "none"})
    query = "_sortField=name&_sortType=asc&"
    assert names(api, query + "team=crew", "teams") == ["s"]  # the name wins over the other group's label
    assert names(api, query + f"team={groups['crew']['id']}", "teams") == ["s"]
    assert names(api, query + "team=Crew%20team", "teams") == ["s"]
    assert names(api, query + "team=Operations", "teams") == ["o"]
    assert names(api, query + "team=equals(ops,tricky)", "teams") == ["o", "t"]
    assert names(api, query + "team=notEquals(crew)", "teams") == ["none", "o", "t"]
    assert names(api, query + "team=nobody", "teams") == []
    assert names(api, query + "team=notEquals(nobody)", "teams") == ["none", "o", "s", "t"]
    assert names(api, query + f"team.id={groups['ops']['id']}", "teams") == ["o"]
    assert names(api, query + "team.label=crew", "teams") == ["t"]
    assert names(api, query + "team=like(team)", "teams") == ["s"]  # the label
    assert names(api, query + "team=empty()", "teams") == ["none"]
    assert names(api, query + "team=notEmpty()", "teams") == ["o", "s", "t"]
    assert names(api, query + "watchers=crew", "teams") == ["t"]
    assert names(api, query + "watchers=ops", "teams") == ["s", "t"]
    # by label: "Crew team", "Operations", "crew"
    assert names(api, "_sortField=team&_sortType=asc&team=notEmpty()", "teams") == ["s", "o", "t"]
    assert api.get("/data/teams?team=greater(a)").status_code == 400
    assert api.get("/data/teams?team.name=crew").status_code == 400
    matched = aggregate(api, "teams", [{"match": {"team": "ops"}}]).get_json()["items"]
    assert [r["name"] for r in matched] == ["o"]


def test_group_unique_and_accumulators(api: Api):
    define(api, {"name": "seats", "fields": [{"name": "name", "type": "text"},
                                             {"name": "team", "type": "group", "unique": True}]})
    new_group(api, "crew", "Crew team")
    create(api, "seats", {"name": "a", "team": "crew"})
    assert field_errors(api.post("/data/seats", json={"name": "b", "team": "crew"})) == [("team", "duplicate")]
    create(api, "seats", {"name": "c"})
    ops = new_group(api, "ops", "Operations")
    create(api, "seats", {"name": "d", "team": "ops"})
    rows = aggregate(api, "seats", [{"sort": {"name": "asc"}},
                                    {"group": {"by": "team", "n": "count()", "first": "first(name)"}}])
    assert rows.status_code == 200, rows.get_json()
    by_team = {json.dumps(r["team"]): r for r in rows.get_json()["items"]}
    crew = api.get("/groups/crew").get_json()
    assert by_team[json.dumps(ref(crew))]["n"] == 1 and by_team["null"]["n"] == 1
    firsts = aggregate(api, "seats", [{"sort": {"name": "asc"}}, {"group": {"f": "first(team)", "l": "last(team)"}}])
    assert firsts.get_json()["items"] == [{"f": ref(crew), "l": ref(ops)}]
    refused = aggregate(api, "seats", [{"group": {"m": "max(team)"}}])
    assert refused.status_code == 400 and "allowed: first(), last()" in refused.get_json()["message"]


def test_group_plain_text_csv_export_and_import(teams):
    api, groups = teams
    create(api, "teams", {"name": "s", "team": "crew", "watchers": ["ops", "crew"]})
    item = api.get("/data/teams?_format=plainText").get_json()["items"][0]
    assert item["team"] == "Crew team" and item["watchers"] == "Operations, Crew team"
    rows = run_export(api, "teams", "_fields=name,team,watchers&_useFieldNames=true")
    assert rows == [["name", "team", "watchers[0]", "watchers[1]"], ["s", "Crew team", "Operations", "Crew team"]]
    job = run_import(api, "teams", "name,team,watchers[0]\nby name,crew,ops\nby label,Operations,\n"
                                   "unknown,nobody,\n")
    results = job["results"]
    assert (results["rowsImported"], results["rowsWithErrors"]) == (2, 1), job
    assert "Group 'nobody' does not exist" in results["results"]["4"]["errorMessage"]
    by_name = {r["name"]: r for r in api.get("/data/teams?_size=10").get_json()["items"]}
    assert by_name["by name"]["team"] == ref(groups["crew"]) and by_name["by name"]["watchers"] == [ref(groups["ops"])]
    assert by_name["by label"]["team"] == ref(groups["ops"])


def test_a_relabelled_group_shows_its_new_label_in_every_group_field(teams):
    """As a renamed user's user fields: one CASCADE_UPDATE job per group field holding the group."""
    api, groups = teams
    record = create(api, "teams", {"name": "s", "team": "crew", "watchers": ["ops", "crew"]})
    other = create(api, "teams", {"name": "other", "team": "ops"})
    assert api.put("/groups/crew", json={"label": "Revenue"}).status_code == 200
    jobs = [j for j in api.get("/status/jobs?type=CASCADE_UPDATE").get_json()["items"]]
    assert len(jobs) == 2  # team and watchers
    for job in jobs:
        assert wait_for_job(api, job["id"])["status"] == "FINISHED"
    revenue = {"id": groups["crew"]["id"], "label": "Revenue"}
    after = api.get(f"/data/teams/{record['id']}").get_json()
    assert after["team"] == revenue and after["watchers"] == [ref(groups["ops"]), revenue]
    assert api.get(f"/data/teams/{other['id']}").get_json()["version"] == other["version"]
    assert names(api, "team=Revenue", "teams") == ["s"]  # filters look the group up as it is now
    assert names(api, "team=crew", "teams") == ["s"]
    history = api.get(f"/data/teams/{record['id']}/history").get_json()["items"]
    assert "SYSTEM_CASCADE_UPDATE" in [h["eventType"] for h in history]
    assert api.put("/groups/crew", json={"usersManagement": True}).status_code == 200
    assert len(api.get("/status/jobs?type=CASCADE_UPDATE").get_json()["items"]) == 2  # same label: no job
    assert api.put("/groups/ops", json={"label": ""}).status_code == 200  # back to its name
    for job in api.get("/status/jobs?type=CASCADE_UPDATE").get_json()["items"]:
        assert wait_for_job(api, job["id"])["status"] == "FINISHED"
    assert api.get(f"/data/teams/{other['id']}").get_json()["team"] == {"id": groups["ops"]["id"], "label": "ops"}


def test_a_group_field_cannot_become_another_type(teams):
    api, _ = teams
    changed = json.loads(json.dumps(TEAMS))
    changed["fields"][1]["type"] = "text"
    response = api.put("/metadata/entities/teams", json=changed)
    assert response.status_code == 400 and "cannot become" in response.get_json()["errors"][0]["message"]


# --- geoPoint -----------------------------------------------------------------------------------------------

SHOPS = {"name": "shops", "label": "Shops", "recordLabel": "#{name}", "history": True, "fields": [
    {"name": "name", "type": "text"},
    {"name": "location", "label": "Location", "type": "geoPoint"},
    {"name": "address", "type": "nestedFields", "nestedFields": [{"name": "street", "type": "text"},
                                                                  {"name": "spot", "type": "geoPoint"}]},
]}
# Buenos Aires, Montevideo (about 205 km away), Rosario (about 280 km away), Madrid (about 10,000 km away)
CITIES = {"ba": (-34.6037, -58.3816), "mvd": (-34.9011, -56.1645), "ros": (-32.9442, -60.6505),
          "mad": (40.4168, -3.7038)}


def point(city: str) -> dict[str, float]:
    latitude, longitude = CITIES[city]
    return {"latitude": latitude, "longitude": longitude}


@pytest.fixture
def shops(api: Api) -> Api:
    define(api, SHOPS)
    return api


def test_geo_point_is_read_and_written_as_latitude_and_longitude(shops: Api, app: Any):
    record = create(shops, "shops", {"name": "a", "location": {"latitude": 10.5, "longitude": 12},
                                     "address": {"street": "Main", "spot": point("ba")}})
    assert record["location"] == {"latitude": 10.5, "longitude": 12}
    assert record["address"]["spot"] == point("ba")
    assert shops.get(f"/data/shops/{record['id']}").get_json()["location"] == record["location"]
    stored = app.extensions["runtime"].store.collection("data.shops").find_one({})
    assert stored["location"] == {"type": "Point", "coordinates": [12, 10.5]}  # GeoJSON: longitude first
    indexes = app.extensions["runtime"].store.collection("data.shops").index_information()
    assert indexes["geo_location"]["key"] == [("location", "2dsphere")]
    assert indexes["geo_address.spot"]["key"] == [("address.spot", "2dsphere")]
    moved = shops.put(f"/data/shops/{record['id']}", json={"location": {"latitude": -90, "longitude": 180}})
    assert moved.status_code == 200 and moved.get_json()["location"] == {"latitude": -90, "longitude": 180}
    assert shops.put(f"/data/shops/{record['id']}", json={"location": None}).get_json()["location"] is None


@pytest.mark.parametrize("value", [
    {"latitude": 90.5, "longitude": 0}, {"latitude": 0, "longitude": -180.01}, {"latitude": "1", "longitude": 2},
    {"latitude": True, "longitude": 2}, {"latitude": 1}, {"latitude": 1, "longitude": 2, "altitude": 3},
    {"lat": 1, "long": 2}, "(1,2)", [2, 1], 5,
])
def test_bad_geo_points_are_field_errors(shops: Api, value: Any):
    response = shops.post("/data/shops", json={"name": "x", "location": value})
    assert field_errors(response) == [("location", "invalid")]
    assert shops.get("/data/shops").get_json()["total"] == 0


def test_geo_point_is_single_valued_and_not_unique(api: Api):
    for extra in ({"multiplicity": "many"}, {"unique": True}):
        body = {"name": "bad", "fields": [{"name": "location", "type": "geoPoint", **extra}]}
        key = "multiplicity" if "multiplicity" in extra else "unique"
        assert (f"fields[0].{key}", "invalid") in field_errors(api.post("/metadata/entities", json=body))
    body = {"name": "bad", "fields": [{"name": "location", "type": "geoPoint",
                                       "defaultValue": {"latitude": 100, "longitude": 0}}]}
    assert ("fields[0].defaultValue", "invalid") in field_errors(api.post("/metadata/entities", json=body))


def test_geo_point_plain_text_and_csv_are_lat_long(shops: Api):
    create(shops, "shops", {"name": "a", "location": {"latitude": 10.5, "longitude": 12}})
    assert shops.get("/data/shops?_format=plainText").get_json()["items"][0]["location"] == "(10.5,12)"
    rows = run_export(shops, "shops", "_fields=name,location&_useFieldNames=true")
    assert rows == [["name", "location"], ["a", "(10.5,12)"]]
    job = run_import(shops, "shops", 'name,location\nb,"(-34.6037,-58.3816)"\nc," ( 1 , -2.5 ) "\nd,"(91,0)"\n'
                                     'e,here\n')
    results = job["results"]
    assert (results["rowsImported"], results["rowsWithErrors"]) == (2, 2), job
    assert "latitude must be a number" in results["results"]["4"]["errorMessage"]
    assert "is not a geo point" in results["results"]["5"]["errorMessage"]
    by_name = {r["name"]: r["location"] for r in shops.get("/data/shops?_size=10").get_json()["items"]}
    assert by_name["b"] == point("ba") and by_name["c"] == {"latitude": 1, "longitude": -2.5}


def test_geo_point_takes_only_near_and_no_accumulator(shops: Api):
    create(shops, "shops", {"name": "a", "location": point("ba")})
    for query in ("location=(1,2)", "location=empty()", "location=like(1)", "_sortField=location"):
        response = shops.get(f"/data/shops?{query}")
        assert response.status_code == 400, query
    for accumulator in ("first", "last", "min"):
        response = aggregate(shops, "shops", [{"group": {"x": f"{accumulator}(location)"}}])
        assert response.status_code == 400 and "allowed: none" in response.get_json()["message"]


@pytest.fixture
def cities(shops: Api) -> Api:
    for name in ("mad", "ros", "ba", "mvd"):
        create(shops, "shops", {"name": name, "location": point(name), "address": {"spot": point(name)}})
    create(shops, "shops", {"name": "nowhere"})
    return shops


BA = "-34.6037,-58.3816"


def shop_names(api: Api, query: str) -> list[str]:
    return names(api, query, "shops")


def test_near_filters_by_distance_and_sorts_nearest_first(cities: Api):
    assert shop_names(cities, f"location=near({BA})") == ["ba", "mvd", "ros", "mad"]  # the one without is out
    assert cities.get(f"/data/shops?location=near({BA})").get_json()["total"] == 4
    assert shop_names(cities, f"location=near({BA},1000,300000)") == ["mvd", "ros"]
    assert shop_names(cities, f"location=near({BA},,250000)") == ["ba", "mvd"]
    assert shop_names(cities, f"location=near({BA},250000)") == ["ros", "mad"]
    assert shop_names(cities, f"location=near({BA},30000000)") == []  # beyond half the Earth's circumference
    assert shop_names(cities, "location=near(40.4168,-3.7038,0,1000)") == ["mad"]
    page = cities.get(f"/data/shops?location=near({BA})&_size=2&_offset=1").get_json()
    assert [r["name"] for r in page["items"]] == ["mvd", "ros"] and page["total"] == 4
    # the request's own sort wins; the distances still filter
    assert shop_names(cities, f"location=near({BA},,300000)&_sortField=name&_sortType=asc") == ["ba", "mvd", "ros"]
    assert shop_names(cities, f"address.spot=near({BA},,250000)") == ["ba", "mvd"]
    assert shop_names(cities, f"location=near({BA},,250000)&name=notEquals(ba)") == ["mvd"]
    either = quote(f"or(filter('location','near({BA},,250000)'),filter('name','mad'))")
    assert shop_names(cities, f"_query={either}&_sortField=name") == ["mvd", "mad", "ba"]


@pytest.mark.parametrize("value", ["near(91,0)", "near(0,-181)", "near(1)", "near(1,2,3,4,5)", "near(a,b)",
                                   "near(0,0,-1)", "near(0,0,10,5)", "near(0,0,x)"])
def test_bad_near_arguments_are_400(cities: Api, value: str):
    response = cities.get(f"/data/shops?location={value}")
    assert response.status_code == 400 and response.get_json()["code"] == "badRequest", response.get_json()
    assert "location" in response.get_json()["message"]


def test_near_is_only_for_geo_points_and_a_proximity_list_pages_by_number(cities: Api):
    response = cities.get(f"/data/shops?name=near({BA})")
    assert response.status_code == 400 and "not allowed for fields of type text" in response.get_json()["message"]
    first = cities.get("/data/shops?_size=1").get_json()["items"][0]["id"]
    response = cities.get(f"/data/shops?location=near({BA})&_offset={first}")
    assert response.status_code == 400 and "_offset" in response.get_json()["message"]
    define(cities, {"name": "routes", "fields": [{"name": "stops", "type": "nestedFields", "multiplicity": "many",
                                                   "nestedFields": [{"name": "at", "type": "geoPoint"}]}]})
    create(cities, "routes", {"stops": [{"at": point("ba")}, {"at": point("mvd")}]})
    response = cities.get(f"/data/routes?stops.at=near({BA})")
    assert response.status_code == 400 and "multi-valued nested field" in response.get_json()["message"]
    response = aggregate(cities, "routes", [geo_near(key="stops.at")])
    assert response.status_code == 400 and "not a geo point outside multi-valued" in response.get_json()["message"]


def test_near_in_an_aggregate_match_and_an_export(cities: Api):
    rows = aggregate(cities, "shops", [{"match": {"location": f"near({BA},,250000)"}}, {"sort": {"name": "asc"}}])
    assert [r["name"] for r in rows.get_json()["items"]] == ["ba", "mvd"]
    exported = run_export(cities, "shops", f"location=near({BA})&_fields=name,location&_useFieldNames=true")
    assert [row[0] for row in exported[1:]] == ["ba", "mvd", "ros", "mad"]
    assert exported[2][1] == "(-34.9011,-56.1645)"


def test_near_and_geo_near_through_the_wire_test_server_as_on_a_mongodb_server():
    """On a server the list is a find carrying $nearSphere and a count carrying only the $geoWithin filter (a server
    refuses $nearSphere in a count, and so does the patched store the wire server serves)."""
    with monitored_app() as (app, commands, _):
        api = login(app)
        define(api, SHOPS)
        for name in ("mad", "ros", "ba", "mvd"):
            create(api, "shops", {"name": name, "location": point(name)})
        commands.reset()
        page = api.get(f"/data/shops?location=near({BA},,300000)&_size=2").get_json()
        assert [r["name"] for r in page["items"]] == ["ba", "mvd"] and page["total"] == 3
        finds = [e["command"] for e in commands.events if e["name"] == "find" and e["command"]["find"] == "data.shops"]
        assert "$nearSphere" in json.dumps(finds, default=str) and "sort" not in finds[0]
        assert shop_names(api, f"location=near({BA},250000)&_sortField=name&_sortType=desc") == ["ros", "mad"]
        rows = aggregate(api, "shops", [geo_near(maxDistance=300000, includeLocs="found")]).get_json()["items"]
        assert [(r["name"], r["found"]) for r in rows] == [("ba", point("ba")), ("mvd", point("mvd")),
                                                           ("ros", point("ros"))]


def geo_near(**settings: Any) -> dict[str, Any]:
    latitude, longitude = CITIES["ba"]
    return {"geoNear": {"coordinates": {"longitude": longitude, "latitude": latitude}, "distanceField": "distance",
                        "key": "location", **settings}}


def test_geo_near_stage_orders_by_distance_and_adds_it(cities: Api):
    rows = aggregate(cities, "shops", [geo_near(), {"project": "name,distance"}])
    assert rows.status_code == 200, rows.get_json()
    items = rows.get_json()["items"]
    assert [r["name"] for r in items] == ["ba", "mvd", "ros", "mad"]
    assert items[0]["distance"] == 0 and 205_000 < items[1]["distance"] < 206_000  # meters
    rows = aggregate(cities, "shops", [geo_near(minDistance=1000, maxDistance=300000, distanceMultiplier=0.001,
                                                includeLocs="found")]).get_json()["items"]
    assert [(r["name"], round(r["distance"]), r["found"]) for r in rows] == [("mvd", 205, point("mvd")),
                                                                             ("ros", 280, point("ros"))]
    assert rows[0]["location"] == point("mvd") and rows[0]["label"] == "mvd"  # the whole record, rendered
    # paging as the platform suggests: a growing minDistance and the last id left out
    first = aggregate(cities, "shops", [geo_near(), {"limit": 1}]).get_json()["items"][0]
    not_first = {"match": {"id": f"notEquals({first['id']})"}}
    after = aggregate(cities, "shops", [geo_near(minDistance=first["distance"]), not_first, {"limit": 1}])
    after = after.get_json()["items"]
    assert [r["name"] for r in after] == ["mvd"]
    nested = aggregate(cities, "shops", [geo_near(key="address.spot", maxDistance=250000), {"count": "n"}])
    assert nested.get_json()["items"] == [{"n": 2}]


def test_geo_near_key_may_be_left_out_when_the_entity_has_one_geo_point(api: Api):
    define(api, {"name": "stops", "fields": [{"name": "name", "type": "text"}, {"name": "at", "type": "geoPoint"}]})
    create(api, "stops", {"name": "far", "at": point("mad")})
    create(api, "stops", {"name": "near", "at": point("mvd")})
    settings = geo_near()["geoNear"]
    del settings["key"]
    rows = aggregate(api, "stops", [{"geoNear": settings}]).get_json()["items"]
    assert [r["name"] for r in rows] == ["near", "far"]


@pytest.mark.parametrize(("stages", "message"), [
    ([{"limit": 5}, geo_near()], "geoNear must be the first stage"),
    ([geo_near(key=None)], "give key, the geo point field to search: one of location, address.spot"),
    ([geo_near(key="name")], "is not a geo point"),
    ([geo_near(key="nope")], "unknown key 'nope'"),
    ([geo_near(distanceField="a.b")], "distanceField: the output name"),
    ([geo_near(distanceField=None)], "distanceField: the output name"),
    ([geo_near(includeLocs="distance")], "must differ"),
    ([geo_near(minDistance=-1)], "minDistance must be a non-negative number"),
    ([geo_near(maxDistance="5")], "maxDistance must be a non-negative number"),
    ([geo_near(minDistance=10, maxDistance=5)], "maxDistance must not be less than minDistance"),
    ([geo_near(coordinates={"longitude": 200, "latitude": 0})], "longitude must be a number"),
    ([geo_near(coordinates=[1, 2])], "coordinates is"),
    ([geo_near(spherical=True)], "settings is an object with distanceField"),
])
def test_bad_geo_near_stages_are_400(cities: Api, stages: list[dict[str, Any]], message: str):
    if stages[-1].get("geoNear", {}).get("key", "") is None:
        del stages[-1]["geoNear"]["key"]
    response = aggregate(cities, "shops", stages)
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["message"]


def test_geo_near_keeps_a_regular_users_access_rule(app: Any, cities: Api):
    """The access rule of a restricted user cannot be a leading $match (geoNear must stay first): it is the stage's
    query."""
    from bson import ObjectId

    svc = app.extensions["runtime"]
    svc.auth.create_user("geo@example.com", "geo-password", "Geo", "User")
    gid = ObjectId()
    rule = {"access": {"when": {"name": "notEquals(ba)"}}}
    svc.store.collection("sys.groups").insert_one(
        {"_id": gid, "name": "southAmerica", "label": "South America", "version": 1,
         "permissions": {"api": {"data": True}, "entities": {"shops": rule}}})
    svc.store.collection("sys.users").update_one({"email": "geo@example.com"},
                                                 {"$set": {"groups": [{"id": gid, "primary": True}]}})
    user = login(app, "geo@example.com", "geo-password")
    rows = aggregate(user, "shops", [geo_near(maxDistance=300000)])
    assert rows.status_code == 200, rows.get_json()
    assert [r["name"] for r in rows.get_json()["items"]] == ["mvd", "ros"]


# --- the OpenAPI document -----------------------------------------------------------------------------------

def test_the_openapi_document_describes_the_three_types(app: Any, api: Api):
    from openapi_spec_validator import validate

    define(api, PLACES)
    define(api, TEAMS)
    define(api, SHOPS)
    doc = api.get("/openapi.json").get_json()
    validate(doc)
    schemas = doc["components"]["schemas"]
    state, team, location = (schemas["places"]["properties"]["state"], schemas["teams"]["properties"]["team"],
                             schemas["shops"]["properties"]["location"])
    assert set(state["properties"]) == {"options", "selectedValue"} and state["x-field-type"] == "dynamicChoice"
    assert set(team["properties"]) == {"id", "label"}
    assert location["properties"]["latitude"]["maximum"] == 90 and location["nullable"] is True
    assert schemas["teams.Input"]["properties"]["team"]["anyOf"][0] == {"type": "string"}
    assert create(api, "places", {"state": schemas["places.Input"]["properties"]["state"]["example"]})
    assert create(api, "shops", {"location": schemas["shops.Input"]["properties"]["location"]["example"]})
    near = doc["components"]["parameters"]
    described = next(p for p in near.values() if p["name"] == "location")["description"]
    assert "`location=near(-34.6037,-58.3816,0,5000)`" in described
    assert api.get("/data/shops?location=near(-34.6037,-58.3816,0,5000)").status_code == 200


# --- defaults, type changes, history ------------------------------------------------------------------------

def test_defaults_type_changes_and_history(api: Api):
    crew = new_group(api, "crew", "Crew team")
    body = {"name": "mixed", "history": True, "fields": [
        {"name": "name", "type": "text"},
        {"name": "team", "type": "group", "defaultValue": "crew"},
        {"name": "state", "type": "dynamicChoice", "defaultValue": "AZ"},
        {"name": "at", "type": "geoPoint", "defaultValue": {"latitude": 1, "longitude": 2}},
        {"name": "code", "type": "text"},
    ]}
    define(api, body)
    record = create(api, "mixed", {"name": "a", "code": "TX"})
    assert record["team"] == ref(crew) and record["state"]["selectedValue"] == "AZ"
    assert record["at"] == {"latitude": 1, "longitude": 2}
    created = api.get(f"/data/mixed/{record['id']}/history").get_json()["items"][0]["newRecord"]
    assert (created["team"], created["state"], created["at"]) == (record["team"], record["state"], record["at"])
    api.put(f"/data/mixed/{record['id']}", json={"state": "TX"})
    change = api.get(f"/data/mixed/{record['id']}/history?_size=1").get_json()["items"][0]["newRecord"]
    assert change["state"]["text"] == '{state:{"options":[{"label":"TX","name":"TX"}],"selectedValue":"TX"}}'
    # text → dynamicChoice: the text becomes one selected option; geoPoint → text: its (lat,long)
    body["fields"][4]["type"] = "dynamicChoice"
    body["fields"][3] = {"name": "at", "type": "text"}
    response = api.put("/metadata/entities/mixed", json=body)
    assert response.status_code == 200, response.get_json()
    wait_for_job(api, response.get_json()["refactoring"]["jobId"])
    converted = api.get(f"/data/mixed/{record['id']}").get_json()
    assert converted["code"] == {"options": [{"label": "TX", "name": "TX"}], "selectedValue": "TX"}
    assert converted["at"] == "(1,2)"


def test_a_group_filter_works_in_background_jobs(teams):
    """An export re-reads its query in a job: looking a group up there needs the app, as a request does (jobs of
    the embedded runner run in its app context, as an RQ worker's do)."""
    api, _ = teams
    create(api, "teams", {"name": "s", "team": "crew"})
    create(api, "teams", {"name": "o", "team": "ops"})
    assert run_export(api, "teams", "team=crew&_fields=name&_useFieldNames=true") == [["name"], ["s"]]


def test_dynamic_choices_geo_points_and_groups_cannot_be_a_relationships_lookup_field(api: Api):
    define(api, {"name": "spots", "fields": [{"name": "name", "type": "text"},
                                             {"name": "state", "type": "dynamicChoice"},
                                             {"name": "at", "type": "geoPoint"}, {"name": "team", "type": "group"}]})
    for name in ("state", "at", "team"):
        body = {"name": "visits", "fields": [{"name": "spot", "type": "relationship",
                                              "typeRules": {"entity": "spots", "lookupField": name}}]}
        response = api.post("/metadata/entities", json=body)
        assert response.status_code == 400, name
        assert "cannot be used to find a record" in response.get_json()["errors"][0]["message"]
