"""The query language through HTTP: every operator on every type family, system params, errors, safety."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.datastructures import MultiDict

from core.storage import drop_embedded
from entities.query import map_filter, parse_list_query
from tests.conftest import Api, company, create, login, make_app

THINGS = {
    "name": "things", "label": "Things", "recordLabel": "#{title}",
    "fields": [
        {"name": "title", "type": "text", "unique": True},
        {"name": "amount", "type": "integer", "indexable": True},
        {"name": "price", "type": "decimal"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "dateTime"},
        {"name": "opens", "type": "time"},
        {"name": "active", "type": "boolean"},
        {"name": "kind", "type": "choice",
         "typeRules": {"possibleValues": [{"name": "small", "label": "Small one"}, "medium", "large"]}},
        {"name": "owner", "type": "relationship", "typeRules": {"entity": "companies"}},
        {"name": "info", "type": "nestedFields",
         "nestedFields": [{"name": "code", "type": "text"}, {"name": "level", "type": "integer"}]},
        {"name": "parts", "type": "nestedFields", "multiplicity": "many",
         "nestedFields": [{"name": "sku", "type": "text"}, {"name": "qty", "type": "integer"}]},
        {"name": "tags", "type": "text", "multiplicity": "many"},
        {"name": "phone", "type": "phone"},
        {"name": "color", "type": "color"},
    ],
}

RECORDS = [
    {"title": "Alpha", "amount": 10, "price": 1.5, "day": "2024-01-10", "at": 1700000000000, "opens": "08:00",
     "active": True, "kind": "small", "owner": "Acme", "info": {"code": "X1", "level": 1},
     "parts": [{"sku": "p-1", "qty": 1}, {"sku": "p-2", "qty": 5}], "tags": ["red", "blue"],
     "phone": "1-702-845-9380", "color": "#ff0000"},
    {"title": "Beta", "amount": 20, "price": 2.25, "day": "2024-02-10", "at": 1710000000000, "opens": "12:30",
     "active": False, "kind": "medium", "owner": "Blogpad", "info": {"code": "Y2", "level": 2},
     "parts": [{"sku": "p-3", "qty": 3}], "tags": ["green"], "phone": "555-123-4567", "color": "#00ff00"},
    {"title": "Gamma ray", "amount": 30, "day": "2024-03-10", "opens": "18:00", "kind": "large", "parts": [],
     "tags": []},
    {"title": "delta, inc", "amount": -5, "price": 0, "kind": "small", "owner": "Acme",
     "parts": [{"sku": "P-9", "qty": 2}, {"sku": "x", "qty": 9}]},
]
A, B, G, D = "Alpha", "Beta", "Gamma ray", "delta, inc"
ALL = {A, B, G, D}


def seed_things(api: Api) -> dict[str, str]:
    """Define ``things``, create the two companies its records point at and ``RECORDS``: ids by title."""
    assert api.post("/metadata/entities", json=THINGS).status_code == 200
    create(api, "companies", company(name="Acme"))
    create(api, "companies", company(name="Blogpad"))
    return {r["title"]: create(api, "things", r)["id"] for r in RECORDS}


class World:
    def __init__(self, api: Api, ids: dict[str, str], app: Any):
        self.api, self.ids, self.app = api, ids, app

    def get(self, query: str):
        return self.api.get(f"/data/things?{query}")

    def titles(self, query: str) -> set[str]:
        response = self.get(query)
        assert response.status_code == 200, (query, response.get_json())
        body = response.get_json()
        assert body["total"] == len(body["items"]), body
        return {item["title"] for item in body["items"]}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    app = make_app()
    api = login(app)
    yield World(api, seed_things(api), app)
    drop_embedded(app.config["RUNTIME"].mongodb_db)


def q(text: str) -> str:
    """Percent-encode the value part of each ``key=value`` (keeps the test table readable)."""
    parts = []
    for pair in text.split("&"):
        key, _, value = pair.partition("=")
        parts.append(f"{key}={quote(value, safe='')}")
    return "&".join(parts)


CASES: list[tuple[str, set[str]]] = [
    # text
    ("title=Alpha", {A}),
    ("title=equals(Alpha)", {A}),
    ("title=Alpha,Beta", {A, B}),
    ('title="delta, inc"', {D}),
    ('title="delta, inc",Beta', {D, B}),
    ("title=notEquals(Alpha)", ALL - {A}),
    ("title=notEquals(Alpha,Beta)", {G, D}),
    ("title=like(ET)", {B}),
    ("title=like(/a)", {A}),
    ("title=like(a/)", {A, B}),
    ("title=like(/^(alpha|beta)$/)", {A, B}),
    ("title=like(/a{1,2}l/)", {A}),
    ("title=like(ray,inc)", {G, D}),
    ("title=between(Alpha,Beta)", {A, B}),
    ("title=greater(Beta)", {G, D}),
    ("title=greaterOrEquals(Beta)", {B, G, D}),
    ("title=less(Beta)", {A}),
    ("title=lessOrEquals(Beta)", {A, B}),
    ("title=notEmpty()", ALL),
    ("title=empty()", set()),
    ("label=like(gamma)", {G}),
    # numbers
    ("amount=10", {A}),
    ("amount=10,30", {A, G}),
    ("amount=notEquals(10)", {B, G, D}),
    ("amount=greater(10)", {B, G}),
    ("amount=greaterOrEquals(10)", {A, B, G}),
    ("amount=less(10)", {D}),
    ("amount=lessOrEquals(10)", {A, D}),
    ("amount=between(-5,10)", {A, D}),
    ("amount=greater(0)&amount=less(25)", {A, B}),
    ("price=2.25", {B}),
    ("price=greater(1)", {A, B}),
    ("price=empty()", {G}),
    ("price=notEmpty()", {A, B, D}),
    ("price=between(0,1.5)", {A, D}),
    # dates, date-times, times
    ("day=2024-02-10", {B}),
    ("day=greater(2024-01-10)", {B, G}),
    ("day=between(2024-01-01,2024-02-10)", {A, B}),
    ("day=lessOrEquals(2024-02-10)", {A, B}),
    ("day=empty()", {D}),
    ("at=1700000000000", {A}),
    ("at=greater(1700000000000)", {B}),
    ("at=greaterOrEquals(2023-11-14 22:13)", {A, B}),
    ("at=less(2024-01-01)", {A}),
    ("at=notEmpty()", {A, B}),
    ("at=notEquals(1700000000000)", {B, G, D}),
    ("opens=greater(10:00)", {B, G}),
    ("opens=between(08:00,12:30)", {A, B}),
    ("opens=less(12:00)", {A}),
    ("opens=12:30", {B}),
    # booleans: a boolean never set reads as false
    ("active=true", {A}),
    ("active=false", {B, G, D}),
    ("active=notEquals(true)", {B, G, D}),
    ("active=notEquals(false)", {A}),
    ("active=true,false", ALL),
    # choices
    ("kind=small", {A, D}),
    ("kind=Small one", {A, D}),
    ("kind=medium,large", {B, G}),
    ("kind=notEquals(small)", {B, G}),
    ("kind=notEmpty()", ALL),
    ("kind=empty()", set()),
    # relationships: the label by default, .id and .label explicitly
    ("owner=Acme", {A, D}),
    ("owner=acme", set()),
    ("owner.label=Blogpad", {B}),
    ("owner=Acme,Blogpad", {A, B, D}),
    ("owner=notEquals(Acme)", {B, G}),
    ("owner=like(LOG)", {B}),
    ("owner=empty()", {G}),
    ("owner=notEmpty()", {A, B, D}),
    # nested, single-valued
    ("info.code=X1", {A}),
    ("info.level=greater(1)", {B}),
    ("info.code=like(y)", {B}),
    ('info={"code":"X1","level":1}', {A}),
    ('info={"code":"X1","level":"greater(1)"}', set()),
    ("info=empty()", {G, D}),
    ("info=notEmpty()", {A, B}),
    ("info.code=empty()", {G, D}),
    # nested, multi-valued: any element; a JSON object is one element matching everything
    ("parts.sku=p-3", {B}),
    ("parts.sku=like(/p-)", {A, B, D}),
    ("parts.sku=notEquals(p-1)", {B, G, D}),
    ("parts.qty=greater(4)", {A, D}),
    ("parts.qty=between(3,8)", {A, B}),
    ('parts={"sku":"p-1","qty":"5"}', set()),
    ('parts={"sku":"p-2","qty":"5"}', {A}),
    ('parts={"sku":"like(p)","qty":"greaterOrEquals(2)"}', {A, B, D}),
    ("parts=empty()", {G}),
    ("parts=notEmpty()", {A, B, D}),
    ("parts.sku=empty()", {G}),
    ("parts.sku=notEmpty()", {A, B, D}),
    # multi-valued text
    ("tags=red", {A}),
    ("tags=red,green", {A, B}),
    ("tags=notEquals(red)", {B, G, D}),
    ("tags=like(/GR)", {B}),
    ("tags=between(a,c)", {A}),
    ("tags=empty()", {G, D}),
    ("tags=notEmpty()", {A, B}),
    # phone: non-digits stripped from the filter value
    ("phone=1-702-845-9380", {A}),
    ("phone=(555) 123 4567", {B}),
    ("phone=like(845-93)", {A}),
    ("phone=empty()", {G, D}),
    # colors
    ("color=#FF0000", {A}),
    ("color=like(ff00)", {A, B}),
    ("color=notEquals(#ff0000)", {B, G, D}),
    # complex queries, ANDed with the plain field params
    ("_query=or(filter('title','Alpha'),filter('amount','greater(25)'))", {A, G}),
    ("_query=and(filter('kind','small'),or(filter('amount','less(0)'),filter('tags','red')))", {A, D}),
    ("_query=or(and(filter('kind','small'),filter('title','Alpha')),and(or(filter('owner','Blogpad'))))", {A, B}),
    ("_query=or(filter('title','Alpha'),filter('amount','greater(25)'))&kind=large", {G}),
    ("_query= or( filter('title','\"delta, inc\"') , filter('title','it''s') )", {D}),
    ("_query=filter('title','delta, inc')", set()),
    ("_query=filter('parts','{\"sku\":\"x\",\"qty\":\"9\"}')", {D}),
    # global search: any word, any text field, case-insensitive; quotes for a phrase
    ("_globalSearch=gamma", {G}),
    ("_globalSearch=ALPHA beta", {A, B}),
    ('_globalSearch="gamma ray"', {G}),
    ('_globalSearch="ray gamma"', set()),
    ("_globalSearch=blogpad", {B}),
    ("_globalSearch=p-9", {D}),
    ("_globalSearch=gamma&kind=small", set()),
    # safety: JSON-looking values are plain strings for text fields
    ('title={"$ne":1}', set()),
    ("title=like(.*)", set()),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] for c in CASES])
def test_filters(world: World, query: str, expected: set[str]):
    assert world.titles(q(query)) == expected


def test_id_filters(world: World):
    a, b, g = world.ids[A], world.ids[B], world.ids[G]
    assert world.titles(f"id={a}") == {A}
    assert world.titles(f"id={a},{b}") == {A, B}
    assert world.titles(f"id=notEquals({a})") == ALL - {A}
    assert world.titles(f"id=greater({b})") == {G, D}
    assert world.titles(f"id=between({b},{g})") == {B, G}
    assert world.titles(f"owner.id={world.api.get('/data/things?title=Alpha').get_json()['items'][0]['owner']['id']}") \
        == {A, D}
    assert world.titles(q(f"_query=filter('id','{a},{g}')")) == {A, G}
    element = world.api.get(f"/data/things/{a}").get_json()["parts"][1]["id"]
    assert world.titles(f"parts.id={element}") == {A}
    assert world.titles(q(f'parts={{"id":"{element}","qty":5}}')) == {A}


ERRORS = [
    ("amount=like(1)", "amount"),
    ("amount=abc", "amount"),
    ("amount=1.5", "amount"),
    ("price=nan", "price"),
    ("amount=99999999999999999999999", "amount"),
    ("day=like(2024)", "day"),
    ("day=10/01/2024", "day"),
    ("at=yesterday", "at"),
    ("opens=25:99", "opens"),
    ("active=maybe", "active"),
    ("active=empty()", "active"),
    ("active=like(t)", "active"),
    ("active=greater(false)", "active"),
    ("kind=huge", "kind"),
    ("kind=like(sm)", "kind"),
    ("kind=greater(small)", "kind"),
    ("owner=greater(A)", "owner"),
    ("owner.id=like(a)", "owner.id"),
    ("owner.id=nope", "owner.id"),
    ("owner.type=a", "owner.type"),
    ("info=notEquals(x)", "info"),
    ("info=X1", "info"),
    ("info=[1]", "info"),
    ('info={"nope":1}', "info.nope"),
    ('parts={"qty":"abc"}', "parts.qty"),
    ("parts={}", "parts"),
    ("color=greater(#000000)", "color"),
    ("id=like(a)", "id"),
    ("id=12", "id"),
    ("title=between(a)", "title"),
    ("title=greater(a,b)", "title"),
    ("title=empty(x)", "title"),
    ("title=sounds(like)", "title"),
    ('title="unterminated', "title"),
    ('title="a"b', "title"),
    ("title=like(/(a+)+$/)", "title"),
    ("title=like(/[/)", "title"),
    ("title=like(/" + "a" * 201 + "/)", "title"),
    ("nope=1", "nope"),
    ("$where=1", "$where"),
    (".title=1", ".title"),
    ("title.=1", "title."),
    ("parts.$sku=1", "parts.$sku"),
    ("_unknown=1", "_unknown"),
    ("_query=filter('title')", "_query"),
    ("_query=xor(filter('title','a'))", "_query"),
    ("_query=and()", "_query"),
    ("_query=filter('title','a') junk", "_query"),
    ("_query=filter('$where','1')", "_query"),
    ("_query=filter('amount','abc')", "_query"),
    ("_query=" + "and(" * 40 + "filter('title','a')" + ")" * 40, "_query"),
    ("_sortField=tags", "_sortField"),
    ("_sortField=parts.qty", "_sortField"),
    ("_sortField=info", "_sortField"),
    ("_sortField=nope", "_sortField"),
    ("_sortType=up", "_sortType"),
    ("_size=1001", "_size"),
    ("_size=-1", "_size"),
    ("_size=x", "_size"),
    ("_offset=abc", "_offset"),
    ("_offset=6b0404aca7408a15fb0c93ee&_sortField=amount", "_offset"),
    ("_fields=nope", "_fields"),
    ("_format=xml", "_format"),
    ("_relationshipsToFetch=title", "_relationshipsToFetch"),
]


@pytest.mark.parametrize(("query", "param"), ERRORS, ids=[e[0][:60] for e in ERRORS])
def test_bad_queries_are_400_naming_the_parameter(world: World, query: str, param: str):
    response = world.get(q(query))
    assert response.status_code == 400, (query, response.get_json())
    body = response.get_json()
    assert body["code"] == "badRequest" and f"'{param}'" in body["message"], body
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(param, "invalid")], body


def test_sort_size_offset(world: World):
    def names(query: str) -> list[str]:
        return [i["title"] for i in world.get(query).get_json()["items"]]

    assert names("_sortField=amount&_sortType=asc") == [D, A, B, G]
    assert names("_sortField=amount") == [G, B, A, D]
    assert names("_sortField=owner&_sortType=asc&owner=notEmpty()") == [A, D, B] or \
        names("_sortField=owner&_sortType=asc&owner=notEmpty()") == [D, A, B]
    assert names("_sortField=info.level&_sortType=desc&info=notEmpty()") == [B, A]
    assert names("_sortField=title&_sortType=asc") == [A, B, G, D]
    assert names("_sortField=amount&_sortType=asc&_size=2&_offset=1") == [A, B]
    body = world.get("_size=2").get_json()
    assert body["total"] == 4 and len(body["items"]) == 2 and body["offset"] == body["items"][-1]["id"]
    rest = world.get(f"_size=10&_offset={body['offset']}").get_json()
    assert [i["id"] for i in body["items"] + rest["items"]] == sorted(world.ids.values(), reverse=True)
    assert world.get("_offset=100").get_json()["items"] == []


def test_fields_projection(world: World):
    body = world.get("_fields=amount,parts.qty,owner&title=Alpha").get_json()
    item = body["items"][0]
    assert set(item) == {"id", "version", "label", "amount", "parts", "owner"}
    assert item["parts"] == [{"id": item["parts"][0]["id"], "label": "Parts", "qty": 1},
                             {"id": item["parts"][1]["id"], "label": "Parts", "qty": 5}]
    assert item["owner"]["label"] == "Acme"
    both = world.get("_fields=parts,parts.sku&title=Alpha").get_json()["items"][0]
    assert both["parts"][0]["sku"] == "p-1" and both["parts"][0]["qty"] == 1
    plain = world.get("_fields=at&_format=plainText&title=Alpha").get_json()["items"][0]
    assert plain["at"] == "2023-11-14T22:13:20.000Z"


def test_projection_is_pushed_down_to_the_store(world: World):
    entity = world.app.extensions["runtime"].registry.get("things")
    query = parse_list_query(entity, MultiDict([("_fields", "amount,parts.qty,info.code")]))
    assert query.projection == {"_id": 1, "label": 1, "version": 1, "amount": 1, "parts.id": 1, "parts.label": 1,
                                "parts.qty": 1, "info.id": 1, "info.label": 1, "info.code": 1}
    assert parse_list_query(entity, MultiDict()).projection is None


def test_base_filter_is_anded_and_cannot_be_overridden(world: World):
    entity = world.app.extensions["runtime"].registry.get("things")
    col = world.app.extensions["runtime"].records.collection(entity)
    base = {"kind": "small"}
    for args, expected in [([], {A, D}), ([("title", "Beta")], set()), ([("kind", "medium")], set()),
                           ([("_query", "or(filter('kind','medium'),filter('kind','small'))")], {A, D}),
                           ([("kind", "notEquals(small)")], set())]:
        query = parse_list_query(entity, MultiDict(args), base_filter=base)
        assert {d["title"] for d in col.find(query.filter)} == expected, args
        if args:  # the base is kept whole: merged with conditions on other keys, or ANDed beside a clash
            assert (query.filter.get("$and") or [query.filter])[0].items() >= base.items()


def test_map_filter(world: World):
    entity = world.app.extensions["runtime"].registry.get("things")
    col = world.app.extensions["runtime"].records.collection(entity)

    def titles(mapping: dict[str, Any]) -> set[str]:
        return {d["title"] for d in col.find(map_filter(entity, mapping))}

    assert titles({"amount": "greater(15)"}) == {B, G}
    assert titles({"active": True}) == {A}
    assert titles({"active": False}) == {B, G, D}
    assert titles({"amount": 10}) == {A}
    assert titles({"amount": [10, 20]}) == {A, B}
    assert titles({"kind": ["small", "large"], "amount": "greater(0)"}) == {A, G}
    assert titles({"parts": {"sku": "p-2", "qty": 5}}) == {A}
    assert titles({"parts": {"sku": "p-1", "qty": 5}}) == set()
    assert titles({"parts": [{"sku": "p-1"}, {"qty": "greater(8)"}]}) == {A, D}
    assert titles({"owner": "Acme"}) == {A, D}
    assert titles({"owner": {"label": "Blogpad"}}) == {B}
    assert titles({"at": 1700000000000}) == {A}
    assert titles({"price": None}) == {G}
    assert titles({"_or": {"kind": "large", "_and": {"kind": "small", "active": True}}}) == {A, G}
    assert titles({"_or": [{"kind": "large"}, {"title": "Beta"}]}) == {B, G}
    assert titles({"_and": [{"kind": "small"}, {"amount": "less(0)"}]}) == {D}
    assert titles({"_query": "or(filter('title','Alpha'),filter('title','Beta'))", "active": True}) == {A}
    assert titles({"id": f"notEquals({world.ids[A]})"}) == {B, G, D}
    assert titles({}) == ALL
    from core.errors import BadRequest
    for bad in [{"$where": "1"}, {"title": {"$ne": 1}}, {"_or": "x"}, {"_or": []}, {"amount": []},
                {"_size": 3}, {"nope": 1}, {"amount": "like(1)"}, {"parts": {"$where": 1}}, {"amount": {"a": 1}}]:
        with pytest.raises(BadRequest):
            map_filter(entity, bad)


PHONES = {"plus": "+1 (702) 845-9380", "bare": "1-775-555-0100", "local": "555-123-4567"}
PHONE_CASES: list[tuple[str, set[str]]] = [
    ("17028459380", {"plus"}),
    ("+17028459380", {"plus"}),
    ("1-702-845-9380", {"plus"}),
    ("+1 (775) 555-0100", {"bare"}),
    ("17028459380,+17755550100", {"plus", "bare"}),
    ("equals(17028459380)", {"plus"}),
    ("notEquals(17028459380)", {"bare", "local"}),
    ("notEquals(+17028459380,5551234567)", {"bare"}),
    ("like(/1702)", {"plus"}),
    ("like(/+1775)", {"bare"}),
    ("like(/702)", set()),
    ("like(9380/,/555)", {"plus", "local"}),
]


def test_phone_filters_match_a_number_stored_with_or_without_its_plus(app, api: Api):
    """A number written with a leading + keeps it when stored; a filter finds it with or without one (the filter
    value's non-digits are stripped), in the query string, in ``_query`` and in an aggregate ``match``."""
    for name, number in PHONES.items():
        create(api, "companies", company(name=name, contactInformation={"phoneNumber": number}))
    path = "contactInformation.phoneNumber"

    def names(value: str) -> set[str]:
        response = api.get("/data/companies", query_string={path: value})
        assert response.status_code == 200, (value, response.get_json())
        return {item["name"] for item in response.get_json()["items"]}

    for value, expected in PHONE_CASES:
        assert names(value) == expected, value
    assert api.get("/data/companies", query_string={"_query": f"filter('{path}','17028459380')"}
                   ).get_json()["items"][0]["name"] == "plus"
    matched = api.put("/data/companies/aggregate", json=[{"match": {path: "17028459380"}}]).get_json()
    assert [item["name"] for item in matched["items"]] == ["plus"]
    listed = api.get("/data/companies", query_string={path: "17028459380"}).get_json()["items"][0]
    assert listed["contactInformation"]["phoneNumber"] == "+1-702-845-9380"  # stored and shown as before


def test_delete_over_query(app, api: Api):
    ids = seed_things(api)
    response = api.delete("/data/things?" + q("kind=small&owner=Acme"))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {ids[A], ids[D]} and all(v["status"] == "ok" for v in body.values())
    assert body[ids[A]]["response"]["title"] == A
    remaining = api.get("/data/things").get_json()
    assert {i["title"] for i in remaining["items"]} == {B, G}
    assert api.delete("/data/things?amount=like(1)").status_code == 400
    assert api.delete("/data/things?_bogus=1").status_code == 400


def test_delete_over_query_refuses_more_than_1000_without_async(app, api: Api):
    assert api.post("/metadata/entities", json=THINGS).status_code == 200
    svc = app.extensions["runtime"]
    col = svc.records.collection(svc.registry.get("things"))
    from bson import ObjectId
    col.insert_many([{"_id": ObjectId(), "version": 1, "label": f"t{i}", "title": f"t{i}", "amount": i}
                     for i in range(1001)])
    response = api.delete("/data/things?amount=greaterOrEquals(0)")
    assert response.status_code == 400 and "_async" in response.get_json()["message"]
    assert col.count_documents({}) == 1001
    small = api.delete("/data/things?amount=less(3)")
    assert small.status_code == 200 and len(small.get_json()) == 3
    assert col.count_documents({}) == 998


def test_id_offset_walk_never_skips_or_repeats_while_inserting(app, api: Api):
    assert api.post("/metadata/entities", json=THINGS).status_code == 200
    initial = {create(api, "things", {"title": f"r{i}", "amount": i})["id"] for i in range(25)}
    for sort_type in ("desc", "asc"):
        seen: list[str] = []
        offset, n = None, 0
        while True:
            url = f"/data/things?_size=4&_sortType={sort_type}" + (f"&_offset={offset}" if offset else "")
            body = api.get(url).get_json()
            seen.extend(i["id"] for i in body["items"])
            if not body["items"]:
                break
            offset = body["offset"]
            for _ in range(2):  # concurrent writers add records between pages
                n += 1
                create(api, "things", {"title": f"new-{sort_type}-{n}", "amount": 1000 + n})
            if n > 200:
                break
        assert len(seen) == len(set(seen)), "a record came back twice"
        assert initial <= set(seen), "a record that existed all along was skipped"
        assert seen == sorted(seen, reverse=sort_type == "desc")


@pytest.mark.parametrize("sort", ["_sortField=amount&_sortType=asc", "_sortField=amount&_sortType=desc",
                                  "_sortField=title&_sortType=asc", "_sortField=owner&_sortType=desc",
                                  "_sortField=info.level&_sortType=asc"])
def test_the_returned_offset_pages_through_any_sort(world: World, sort: str):
    """The seed: the ``offset`` a sorted list returns is what the next request sends (keyset on the sort value,
    then the id for ties and nulls)."""
    everything = [i["id"] for i in world.get(f"{sort}&_size=100").get_json()["items"]]
    paged, offset = [], None
    for _ in range(len(everything) + 1):
        body = world.get(f"{sort}&_size=1" + (f"&_offset={offset}" if offset else "")).get_json()
        assert body["total"] == len(everything)
        if not body["items"]:
            break
        paged.append(body["items"][0]["id"])
        offset = body["offset"]
    assert paged == everything and len(everything) == len(world.ids)


def test_phone_ranges_compare_digits_whether_a_plus_was_written(api: Any) -> None:
    """A phone is stored as its digits, with the ``+`` it was written with: greater, less and between compare
    the digits, with a bound written either way, and aggregate match the same."""
    assert api.put("/metadata/entities/calls", json={"name": "calls", "fields": [
        {"name": "name", "type": "text"}, {"name": "tel", "type": "phone"}]}).status_code == 200
    for name, tel in (("p1", "+1 (702) 845-9380"), ("p2", "17028459390"), ("p3", "+1-702-845-9300"),
                      ("p4", "7028459399"), ("p5", "+44 20 7946 0958")):
        assert api.post("/data/calls", json={"name": name, "tel": tel}).status_code == 200

    def names(query: str) -> set[str]:
        response = api.get(f"/data/calls?{query}&_size=100")
        assert response.status_code == 200, response.get_json()
        return {i["name"] for i in response.get_json()["items"]}
    for low, high in (("17028459300", "17028459390"), (quote("+1-702-845-9300"), quote("+1-702-845-9390"))):
        assert names(f"tel=between({low},{high})") == {"p1", "p2", "p3"}
    # digits compare as text, as stored: 7028459399 (written without a country code) is after 17028459380
    assert names("tel=greater(17028459380)") == names(f"tel=greater({quote('+17028459380')})") == {"p2", "p4", "p5"}
    assert names("tel=less(17028459380)") == names(f"tel=less({quote('+1 702 845 9380')})") == {"p3"}
    assert names("tel=lessOrEquals(17028459380)") == {"p1", "p3"}
    assert names("tel=greaterOrEquals(7028459399)") == {"p4"}
    rows = api.put("/data/calls/aggregate", json=[{"match": {"tel": "between(17028459300,17028459380)"}},
                                                  {"count": "n"}]).get_json()["items"]
    assert rows == [{"n": 2}]


def test_a_multi_valued_boolean_never_set_holds_no_false(api: Any) -> None:
    """A single boolean never set reads false and equals(false) finds it; a multi-valued one never set reads [],
    as one set to [], and holds no element equal to false (facts §1.4: any element)."""
    assert api.put("/metadata/entities/switches", json={"name": "switches", "fields": [
        {"name": "name", "type": "text"}, {"name": "on", "type": "boolean"},
        {"name": "flags", "type": "boolean", "multiplicity": "many"}]}).status_code == 200
    for body in ({"name": "r1", "flags": [False]}, {"name": "r2", "flags": [True], "on": True}, {"name": "r3"},
                 {"name": "r4", "flags": [True, False]}, {"name": "r5", "flags": []}):
        assert api.post("/data/switches", json=body).status_code == 200

    def names(query: str) -> set[str]:
        response = api.get(f"/data/switches?{query}&_size=100")
        assert response.status_code == 200, response.get_json()
        return {i["name"] for i in response.get_json()["items"]}
    assert names("flags=false") == {"r1", "r4"}
    assert names("flags=false,true") == {"r1", "r2", "r4"}
    assert names("flags=notEquals(false)") == {"r2", "r3", "r5"}
    assert names("on=false") == {"r1", "r3", "r4", "r5"}  # a single boolean never set reads false
    rows = api.put("/data/switches/aggregate", json=[{"match": {"flags": "false"}}, {"count": "n"}]).get_json()
    assert rows["items"] == [{"n": 2}]
