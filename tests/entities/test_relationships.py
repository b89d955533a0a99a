"""Relationships: filtering by id or label, copied fields (read, filter, sort, project, aggregate), delete policies,
label and copied-field cascades."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, create

FIRMS = {"name": "firms", "recordLabel": "#{name}", "history": True,
         "fields": [{"name": "name", "type": "text", "required": True},
                    {"name": "kind", "type": "choice", "typeRules": {"possibleValues": ["a", "b"]}},
                    {"name": "size", "type": "integer"}]}


def people(**rules: Any) -> dict[str, Any]:
    rel = {"entity": "firms", "copiedFields": ["kind", "size"], **rules}
    return {"name": "people", "recordLabel": "#{name}", "history": True,
            "fields": [{"name": "name", "type": "text", "required": True},
                       {"name": "firm", "type": "relationship", "typeRules": rel},
                       {"name": "firms", "type": "relationship", "multiplicity": "many",
                        "typeRules": {"entity": "firms", **{k: v for k, v in rules.items() if k == "onDelete"}}}]}


def setup(api: Api, **rules: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    assert api.put("/metadata/entities/firms", json=FIRMS).status_code == 200
    assert api.put("/metadata/entities/people", json=people(**rules)).status_code == 200
    riff = create(api, "firms", {"name": "Riffwire", "kind": "a", "size": 10})
    oak = create(api, "firms", {"name": "Oakbank", "kind": "b", "size": 3})
    return riff, oak


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return sorted(i["name"] for i in response.get_json()["items"])


def test_bare_relationship_filter_takes_an_id_or_a_label(api: Api):
    riff, oak = setup(api)
    create(api, "people", {"name": "Ana", "firm": riff["id"]})
    create(api, "people", {"name": "Bo", "firm": "Oakbank", "firms": [riff["id"], oak["id"]]})
    assert names(api.get(f"/data/people?firm={riff['id']}")) == ["Ana"]
    assert names(api.get("/data/people?firm=Riffwire")) == ["Ana"]
    assert names(api.get(f"/data/people?firm=notEquals({riff['id']})")) == ["Bo"]
    assert names(api.get(f"/data/people?firms={riff['id']}")) == ["Bo"]
    assert names(api.get("/data/people?firm=Nobody")) == []


def test_copied_fields_are_stored_read_filtered_sorted_projected_and_aggregated(api: Api):
    riff, _ = setup(api)
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"]})
    create(api, "people", {"name": "Bo", "firm": {"label": "Oakbank"}})
    assert ana["firm"] == {"id": riff["id"], "label": "Riffwire", "kind": "a", "size": 10}
    assert api.get(f"/data/people/{ana['id']}").get_json()["firm"]["kind"] == "a"
    assert names(api.get("/data/people?firm.kind=a")) == ["Ana"]
    assert names(api.get("/data/people?firm.size=greater(5)")) == ["Ana"]
    listed = api.get("/data/people?_sortField=firm.size&_sortType=asc").get_json()["items"]
    assert [i["name"] for i in listed] == ["Bo", "Ana"]
    projected = api.get("/data/people?_fields=firm.kind&_sortField=firm.size&_sortType=desc").get_json()["items"]
    assert projected[0] == {"id": ana["id"], "version": 0, "label": "Ana",
                            "firm": {"id": riff["id"], "label": "Riffwire", "kind": "a"}}
    agg = api.put("/data/people/aggregate", json=[{"group": {"by": "firm.kind", "n": "count()"}},
                                                   {"sort": {"firm.kind": "asc"}}])
    assert agg.status_code == 200, agg.get_json()
    assert [(r["firm.kind"], r["n"]) for r in agg.get_json()["items"]] == [("a", 1), ("b", 1)]
    bad = api.get("/data/people?firm.nope=1")
    assert bad.status_code == 400 and "firm.kind" in bad.get_json()["message"]


def test_copied_fields_must_exist_in_the_target(api: Api):
    api.put("/metadata/entities/firms", json=FIRMS)
    body = people()
    body["fields"][1]["typeRules"]["copiedFields"] = ["ghost"]
    response = api.put("/metadata/entities/people", json=body)
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "firm.typeRules.copiedFields"
    body["fields"][1]["typeRules"] = {"entity": "firms", "onDelete": "explode"}
    assert api.put("/metadata/entities/people", json=body).get_json()["errors"][0]["field"] == \
        "fields[1].typeRules.onDelete"
