"""Property tests: the API's answer equals a plain-Python reference filter; junk input is only ever a 400."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import BadRequest
from core.storage import drop_embedded
from entities.query import map_filter
from tests.conftest import Api, login, make_app

PROPS = {
    "name": "props", "label": "Props",
    "fields": [
        {"name": "name", "type": "text"},
        {"name": "n", "type": "integer"},
        {"name": "d", "type": "decimal"},
        {"name": "flag", "type": "boolean"},
        {"name": "kind", "type": "choice", "typeRules": {"possibleValues": ["a", "b", "c"]}},
        {"name": "day", "type": "date"},
        {"name": "tags", "type": "text", "multiplicity": "many"},
        {"name": "items", "type": "nestedFields", "multiplicity": "many",
         "nestedFields": [{"name": "code", "type": "text"}, {"name": "qty", "type": "integer"}]},
    ],
}

NAMES = ["ab", "Ab", "abc", "b", "xa", "c,d", "a b"]
NUMS = [-3, -1, 0, 1, 2, 3]
DECS = [-2, 0, 0.5, 1.25]
KINDS = ["a", "b", "c"]
DAYS = ["2024-01-01", "2024-01-02", "2024-02-01"]
TAGS = ["x", "y", "Z"]
CODES = ["p", "q", "P", "pq"]
QTYS = [-2, 0, 1, 2]

# path -> (domain of filter values, operators, kind of values)
PATHS: dict[str, tuple[list[Any], list[str], str]] = {
    "name": (NAMES, ["equals", "notEquals", "like", "greater", "less", "between", "empty", "notEmpty"], "str"),
    "n": (NUMS, ["equals", "notEquals", "greater", "greaterOrEquals", "lessOrEquals", "between", "empty",
                 "notEmpty"], "num"),
    "d": (DECS, ["equals", "greater", "less", "between", "notEmpty", "empty"], "num"),
    "flag": ([True, False], ["equals", "notEquals"], "bool"),
    "kind": (KINDS, ["equals", "notEquals", "empty", "notEmpty"], "str"),
    "day": (DAYS, ["equals", "greater", "lessOrEquals", "between", "empty"], "str"),
    "tags": (TAGS, ["equals", "notEquals", "like", "between", "empty", "notEmpty"], "str"),
    "items.code": (CODES, ["equals", "notEquals", "like", "greater", "empty", "notEmpty"], "str"),
    "items.qty": (QTYS, ["equals", "notEquals", "between", "less", "empty", "notEmpty"], "num"),
}


def record_strategy() -> st.SearchStrategy[dict[str, Any]]:
    item = st.fixed_dictionaries({}, optional={"code": st.sampled_from(CODES), "qty": st.sampled_from(QTYS)})
    return st.fixed_dictionaries({}, optional={
        "name": st.sampled_from(NAMES), "n": st.sampled_from(NUMS), "d": st.sampled_from(DECS),
        "flag": st.booleans(), "kind": st.sampled_from(KINDS), "day": st.sampled_from(DAYS),
        "tags": st.lists(st.sampled_from(TAGS), max_size=3), "items": st.lists(item, max_size=3)})


def random_record(rng: random.Random) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for key, domain in (("name", NAMES), ("n", NUMS), ("d", DECS), ("flag", [True, False]), ("kind", KINDS),
                        ("day", DAYS)):
        if rng.random() < 0.75:
            rec[key] = rng.choice(domain)
    if rng.random() < 0.8:
        rec["tags"] = [rng.choice(TAGS) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.8:
        rec["items"] = [{k: rng.choice(d) for k, d in (("code", CODES), ("qty", QTYS)) if rng.random() < 0.8}
                        for _ in range(rng.randint(0, 3))]
    return rec


@st.composite
def filters(draw: st.DrawFn) -> tuple[str, str, list[Any]]:
    path = draw(st.sampled_from(sorted(PATHS)))
    domain, ops, _ = PATHS[path]
    op = draw(st.sampled_from(ops))
    if op in ("empty", "notEmpty"):
        args: list[Any] = []
    elif op == "between":
        args = [draw(st.sampled_from(domain)), draw(st.sampled_from(domain))]
    elif op in ("equals", "notEquals"):
        args = draw(st.lists(st.sampled_from(domain), min_size=1, max_size=3))
    elif op == "like":
        base = draw(st.sampled_from([str(v) for v in domain] + ["A", "b", ""]))
        args = [draw(st.sampled_from([base, "/" + base, base + "/"]))]
    else:
        args = [draw(st.sampled_from(domain))]
    return path, op, args


def _text(v: Any) -> str:
    text = json.dumps(v) if isinstance(v, bool) else str(v)
    return '"' + text + '"' if "," in text else text


def to_query_value(op: str, args: list[Any]) -> str:
    body = ",".join(_text(a) for a in args)
    plain = op == "equals" and (len(args) > 1 or not isinstance(args[0], str))
    return body if plain else f"{op}({body})"


def values_at(rec: dict[str, Any], path: str) -> list[Any]:
    if path == "flag":
        return [rec.get("flag", False)]
    if path.startswith("items."):
        inner = path.split(".")[1]
        return [it[inner] for it in rec.get("items", []) if inner in it]
    value = rec.get(path)
    return [] if value is None else value if isinstance(value, list) else [value]


def reference(rec: dict[str, Any], path: str, op: str, args: list[Any]) -> bool:
    vals = values_at(rec, path)
    if op == "empty":
        return not vals
    if op == "notEmpty":
        return bool(vals)
    if op == "equals":
        return any((v == a and type(v) is not bool) or v is a for v in vals for a in args)
    if op == "notEquals":
        return not reference(rec, path, "equals", args)
    if op == "like":
        pat = str(args[0])
        low = [str(v).lower() for v in vals]
        if len(pat) > 1 and pat.startswith("/") and not pat.endswith("/"):
            return any(v.startswith(pat[1:].lower()) for v in low)
        if len(pat) > 1 and pat.endswith("/") and not pat.startswith("/"):
            return any(v.endswith(pat[:-1].lower()) for v in low)
        if pat == "/":
            return bool(low)
        return any(pat.lower() in v for v in low)
    if op == "between":
        return any(args[0] <= v <= args[1] for v in vals)
    a = args[0]
    return any({"greater": v > a, "greaterOrEquals": v >= a, "less": v < a, "lessOrEquals": v <= a}[op]
               for v in vals)


class Store:
    def __init__(self) -> None:
        self.app = make_app()
        self.api: Api = login(self.app)
        assert self.api.post("/metadata/entities", json=PROPS).status_code == 200
        svc = self.app.extensions["runtime"]
        self.entity = svc.registry.get("props")
        self.col = svc.records.collection(self.entity)

    def load(self, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        self.col.delete_many({})
        out = {}
        for rec in records:
            response = self.api.post("/data/props", json=rec)
            assert response.status_code == 200, (rec, response.get_json())
            out[response.get_json()["id"]] = rec
        return out

    def ids(self, params: list[tuple[str, str]]) -> set[str]:
        response = self.api.get("/data/props", query_string=[*params, ("_size", "1000")])
        assert response.status_code == 200, (params, response.get_json())
        body = response.get_json()
        assert body["total"] == len(body["items"])
        return {i["id"] for i in body["items"]}


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    s = Store()
    yield s
    drop_embedded(s.app.config["RUNTIME"].mongodb_db)


@pytest.fixture(scope="module")
def pool(store: Store) -> dict[str, dict[str, Any]]:
    rng = random.Random(20240611)
    return store.load([random_record(rng) for _ in range(60)])


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@FAST
@given(st.lists(filters(), min_size=1, max_size=3), st.booleans())
def test_random_filters_match_the_reference(store: Store, pool: dict[str, dict[str, Any]],
                                            conds: list[tuple[str, str, list[Any]]], as_complex: bool):
    if store.col.count_documents({}) != len(pool):  # another test reloaded the store
        pool.clear()
        pool.update(store.load([random_record(random.Random(20240611)) for _ in range(60)]))
    expected = {rid for rid, rec in pool.items() if all(reference(rec, *c) for c in conds)}
    if as_complex:
        value = ",".join(f"filter('{p}','{to_query_value(o, a)}')" for p, o, a in conds)
        params = [("_query", f"and({value})")]
    else:
        params = [(p, to_query_value(o, a)) for p, o, a in conds]
    assert store.ids(params) == expected, (params, expected)


@FAST
@given(st.lists(filters(), min_size=2, max_size=3))
def test_random_or_queries_match_the_reference(store: Store, pool: dict[str, dict[str, Any]],
                                               conds: list[tuple[str, str, list[Any]]]):
    expected = {rid for rid, rec in pool.items() if any(reference(rec, *c) for c in conds)}
    value = ",".join(f"filter('{p}','{to_query_value(o, a)}')" for p, o, a in conds)
    assert store.ids([("_query", f"or({value})")]) == expected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.lists(record_strategy(), max_size=6), filters())
def test_random_records_and_filters_match_the_reference(store: Store, records: list[dict[str, Any]],
                                                        cond: tuple[str, str, list[Any]]):
    loaded = store.load(records)
    try:
        expected = {rid for rid, rec in loaded.items() if reference(rec, *cond)}
        assert store.ids([(cond[0], to_query_value(cond[1], cond[2]))]) == expected
    finally:
        store.col.delete_many({})


JUNK = st.text(alphabet=st.sampled_from([*"abnmeqtgilk_$.,()'\"{}[]/\\: -+*?^|0123456789", "\x00", "é"]),
               max_size=40)
KEYS = st.one_of(JUNK, st.sampled_from(["name", "n", "d", "flag", "kind", "day", "tags", "items", "items.code",
                                        "items.qty", "id", "label", "_query", "_sortField", "_size", "_offset",
                                        "_fields", "_globalSearch", "$where", "_format"]))
VALUES = st.one_of(JUNK, st.sampled_from(["like(/(a+)+/)", "between(1)", "empty()", "greater(", "{\"$ne\":1}",
                                          "and(filter('n','1'),", "or(filter('name','a'))", '{"code":"p"}',
                                          "notEmpty()", "like(/[/)", "equals()"]),
                   st.builds(lambda a, b: f"{a}({b})", st.sampled_from(sorted(["equals", "like", "between",
                                                                              "greater", "and", "or", "filter"])),
                             JUNK))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=4))
def test_junk_query_strings_are_200_or_400(store: Store, params: list[tuple[str, str]]):
    response = store.api.get("/data/props", query_string=params)
    assert response.status_code in (200, 400), (params, response.get_json())
    if response.status_code == 400:
        assert response.get_json()["code"] == "badRequest"


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), JUNK),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.one_of(KEYS, st.just("_or"), st.just("_and")),
                                                            inner, max_size=3)),
                    max_leaves=8)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.one_of(KEYS, st.sampled_from(["_or", "_and"])), JSON, max_size=3))
def test_junk_query_maps_are_filters_or_bad_requests(store: Store, mapping: dict[str, Any]):
    try:
        mongo_filter = map_filter(store.entity, mapping)
    except BadRequest:
        return
    list(store.col.find(mongo_filter).limit(5))  # whatever it built, the store accepts it
