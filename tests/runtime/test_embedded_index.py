"""The embedded store's ``_id`` point lookup must answer exactly as a full scan would."""

import time

from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import embedded_index
from core.storage import connect, drop_embedded


def test_id_lookups_match_a_full_scan():
    store = connect(None, "embedded_index_test")
    try:
        col = store.collection("things")
        ids = [ObjectId() for _ in range(5)]
        col.insert_many([{"_id": oid, "n": i, "version": 1} for i, oid in enumerate(ids)])

        assert col.find_one({"_id": ids[2]})["n"] == 2
        assert col.find_one({"_id": ids[2], "version": 2}) is None  # the other conditions still apply
        assert col.find_one({"_id": ObjectId()}) is None
        found = sorted(d["n"] for d in col.find({"_id": {"$in": [ids[0], ids[4], ids[0], ObjectId()]}}))
        assert found == [0, 4]
        assert [d["n"] for d in col.find({"_id": {"$in": ids[:3]}, "n": {"$gt": 0}}).sort("n", 1)] == [1, 2]
        assert col.update_many({"_id": {"$in": ids[1:3]}}, {"$inc": {"version": 1}}).modified_count == 2
        assert col.count_documents({"version": 2}) == 2
        assert col.find_one_and_update({"_id": ids[1], "version": 1}, {"$set": {"n": 9}}) is None
        assert col.count_documents({"_id": {"$gt": ids[2]}}) == 2  # operators other than $in keep the scan
    finally:
        drop_embedded("embedded_index_test")


# --- cursors, top-k and one-pass pages against mongomock's own implementation ------------------------

_values = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["a", "b", "B"]), st.booleans(),
                    st.lists(st.integers(-2, 2), max_size=2))
_docs = st.lists(st.fixed_dictionaries({}, optional={"a": _values, "b": _values, "c": st.integers(0, 2)}),
                 max_size=25)
_sorts = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "_id"]), st.sampled_from([1, -1])),
                  max_size=3, unique_by=lambda t: t[0])
_filters = st.sampled_from([{}, {"c": 1}, {"a": {"$gt": 0}}, {"b": {"$in": ["a", 1, None]}}, {"c": {"$ne": 2}}])


def _fresh(name: str, docs: list[dict]) -> tuple[object, object]:
    store = connect(None, name)
    col = store.collection("things")
    if docs:
        col.insert_many([dict(d, _id=i) for i, d in enumerate(docs)])
    return store, col


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=_docs, sort=_sorts, flt=_filters, skip=st.integers(0, 5), limit=st.integers(-4, 8),
       projection=st.sampled_from([None, {"a": 1}, {"b": 0}]))
def test_find_matches_upstream(docs, sort, flt, skip, limit, projection):
    _, col = _fresh("embedded_index_props", docs)
    try:
        def run() -> list[dict]:
            cursor = col.find(flt, projection, skip=skip, limit=limit)
            return list(cursor.sort(sort) if sort else cursor)
        patched = run()
        with embedded_index.upstream():
            expected = run()
        assert patched == expected
    finally:
        drop_embedded("embedded_index_props")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=_docs, sort=_sorts, flt=_filters, skip=st.integers(0, 5), limit=st.integers(0, 8))
def test_page_and_total_match_a_find_and_a_count(docs, sort, flt, skip, limit):
    _, col = _fresh("embedded_index_pages", docs)
    try:
        page, total = col.page_and_total(flt, flt, sort, skip, limit, {"a": 1})
        with embedded_index.upstream():
            cursor = col.find(flt, {"a": 1}, skip=skip, limit=limit)
            expected = list(cursor.sort(sort) if sort else cursor) if limit else []
            assert total == col.count_documents(flt)
        assert page == expected
    finally:
        drop_embedded("embedded_index_pages")


def test_a_cursor_reads_to_the_end_in_linear_time():
    _, col = _fresh("embedded_index_linear", [{"c": i % 3} for i in range(20000)])
    try:
        start = time.perf_counter()
        assert sum(1 for _ in col.find({})) == 20000
        assert len(list(col.find({}).sort("c", -1).limit(10))) == 10
        assert time.perf_counter() - start < 3  # upstream slices the result per document: O(n²), minutes
    finally:
        drop_embedded("embedded_index_linear")


# --- equality indexes kept on writes, against mongomock's scan ----------------------------------------

_ops = st.lists(st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 6), st.one_of(st.none(), st.integers(0, 3)), st.integers(0, 2)),
    st.tuples(st.just("set"), st.integers(0, 6), st.one_of(st.none(), st.integers(0, 3)), st.integers(0, 2)),
    st.tuples(st.just("replace"), st.integers(0, 6), st.one_of(st.none(), st.integers(0, 3)), st.integers(0, 2)),
    st.tuples(st.just("delete"), st.integers(0, 6), st.none(), st.integers(0, 2)),
), max_size=30)


def _write(col, kind: str, key: int, doc: dict) -> str:
    """One write of a property test's sequence; its outcome as the test compares it with upstream's."""
    try:
        if kind == "insert":
            col.insert_one({"_id": key, **doc})
        elif kind == "set":
            col.update_one({"_id": key}, {"$set": doc})
        elif kind == "replace":
            col.replace_one({"_id": key}, doc)
        else:
            col.delete_one({"_id": key})
    except Exception as exc:
        return type(exc).__name__
    return "ok"


def _replay_and_compare(patched, upstream, apply, ops, filters) -> None:
    """Each write gives the same outcome on both collections (upstream with mongomock's own code), then each
    filter finds the same documents in the same order."""
    for op in ops:
        outcome = apply(patched, op)
        with embedded_index.upstream():
            assert outcome == apply(upstream, op), op
    for flt in filters:
        found = list(patched.find(flt))
        with embedded_index.upstream():
            assert found == list(upstream.find(flt)) == list(patched.find(flt)), flt


def _apply(col, op) -> str:
    kind, key, code, n = op
    doc = {"n": [n, 3 - n] if n == 2 else n, "owner": {"id": n % 2}}  # an array: each bound may match another element
    if code is not None:
        doc["code"] = f"c{code}"
    return _write(col, kind, key, doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops, probes=st.lists(st.tuples(st.sampled_from(["code", "n", "owner.id"]), st.integers(0, 3)),
                                 min_size=1, max_size=4))
def test_equality_indexes_answer_as_the_scan_after_any_writes(ops, probes):
    _, patched = _fresh("eq_patched", [])
    _, upstream = _fresh("eq_upstream", [])
    try:
        for col in (patched, upstream):
            col.create_index("code", unique=True, sparse=True)
            col.create_index("n")
            col.create_index("owner.id")
            col.create_index([("n", 1), ("code", 1)])  # compound, not unique: no lookup uses it
            col.create_index([("owner.id", 1), ("n", -1)], unique=True, sparse=True)
        filters = []
        for name, value in probes:
            wanted = f"c{value}" if name == "code" else value
            filters += [{name: wanted}, {"$and": [{name: wanted}, {"n": {"$gte": 0}}]}, {name: {"$gte": wanted}},
                        {"$and": [{"n": {"$gt": value - 1, "$lte": value}}, {name: wanted}]},
                        {"n": {"$gt": value - 1, "$lt": value}}]
        _replay_and_compare(patched, upstream, _apply, ops, filters)
    finally:
        drop_embedded("eq_patched")
        drop_embedded("eq_upstream")


# A sub-document path (``box._id``, as the records' history outbox index) whose head is missing, a dict, a list
# or a plain value; compound keys, unique and not.
_BOXES = [None, "missing", {"_id": 1}, {"_id": 2}, {}, {"_id": None}, [{"_id": 1}], {"_id": [1, 2]}, "text",
          {"_id": {"x": 1}}, {"_id": True}, {"_id": 1.0}]
_box_ops = st.lists(st.tuples(st.sampled_from(["insert", "set", "replace", "delete"]), st.integers(0, 5),
                              st.integers(0, len(_BOXES) - 1), st.integers(0, 2)), max_size=30)


def _apply_boxed(col, op) -> str:
    kind, key, box, n = op
    doc = {"kind": "ab"[n % 2], "n": n, "code": f"c{key % 3}"}
    if _BOXES[box] != "missing":
        doc["box"] = _BOXES[box]
    return _write(col, kind, key, doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_box_ops, probes=st.lists(st.sampled_from([None, 1, 2, True, 1.0, "a", "b"]), min_size=1, max_size=4))
def test_sub_document_and_compound_keys_answer_as_the_scan_after_any_writes(ops, probes):
    _, patched = _fresh("eq_box_patched", [])
    _, upstream = _fresh("eq_box_upstream", [])
    try:
        for col in (patched, upstream):
            col.create_index("box._id", sparse=True)
            col.create_index([("kind", 1), ("n", 1)])  # compound, not unique: kept by no lookup
            col.create_index([("code", 1), ("kind", 1)], unique=True)
        filters = [flt for value in probes for flt in (
            {"box._id": value}, {"kind": value}, {"$and": [{"box._id": value}, {"n": {"$gte": 0}}]},
            {"kind": value, "n": 1}, {"code": "c1", "kind": value})]
        _replay_and_compare(patched, upstream, _apply_boxed, ops, filters)
    finally:
        drop_embedded("eq_box_patched")
        drop_embedded("eq_box_upstream")


def test_a_unique_check_does_not_scan_the_collection():
    _, col = _fresh("eq_linear", [{"code": f"c{i}", "n": i % 7} for i in range(20000)])
    try:
        col.create_index("code", unique=True, sparse=True)
        col.update_one({"_id": 1}, {"$set": {"n": 3}})  # builds the index once
        start = time.perf_counter()
        for i in range(200):
            col.update_one({"_id": i}, {"$set": {"n": i}})
            assert col.find_one({"code": f"c{i + 1}"})["_id"] == i + 1
        assert time.perf_counter() - start < 2  # a scan per write and read: 400 x 20k documents
    finally:
        drop_embedded("eq_linear")


def test_writes_keep_only_the_keys_a_lookup_can_use():
    _, col = _fresh("eq_keys", [{"code": f"c{i}", "n": i, "kind": "ab"[i % 2]} for i in range(10)])
    try:
        col.create_index("code", unique=True)
        col.create_index([("kind", 1), ("n", -1)])  # like the history's (entity, record, _id): sorts, never looked up
        col.create_index([("kind", 1), ("code", 1)], unique=True)
        assert col.find_one({"code": "c3"})["_id"] == 3
        kept = col._inner._store.__dict__["_equality"].keys
        assert kept == [(("code", 1),), (("kind", 1), ("code", 1))]
    finally:
        drop_embedded("eq_keys")


def test_an_index_created_again_as_it_is_keeps_the_lookups_index_and_a_changed_one_rebuilds_it():
    _, col = _fresh("eq_again", [{"code": f"c{i}", "n": i % 3} for i in range(10)])
    try:
        col.create_index("code", unique=True, sparse=True)
        store = col._inner._store
        assert col.find_one({"code": "c3"})["_id"] == 3
        built = store.__dict__["_equality"]
        col.create_index("code", unique=True, sparse=True)  # what every metadata save does for every index
        assert store.__dict__["_equality"] is built
        col.update_one({"_id": 3}, {"$set": {"code": "x3"}})
        assert col.find_one({"code": "x3"})["_id"] == 3 and col.find_one({"code": "c3"}) is None
        col.create_index("n")  # a new key: the lookups' index is built again, with it
        assert "_equality" not in store.__dict__
        assert sorted(d["_id"] for d in col.find({"n": 1})) == [1, 4, 7]
        assert store.__dict__["_equality"] is not built
        assert (("n", 1),) in store.__dict__["_equality"].keys
    finally:
        drop_embedded("eq_again")


def test_an_equality_on_an_unindexed_field_does_not_build_the_indexes():
    _, col = _fresh("eq_unindexed", [{"code": f"c{i}", "kind": "ab"[i % 2]} for i in range(10)])
    try:
        col.create_index("code", unique=True)
        store = col._inner._store
        assert len(list(col.find({"kind": "a"}))) == 5
        assert "_equality" not in store.__dict__  # a first 100k list would build every index under its time limit
        assert col.find_one({"code": "c3"})["_id"] == 3
        assert "_equality" in store.__dict__
    finally:
        drop_embedded("eq_unindexed")


def test_building_an_index_does_not_count_against_the_time_limit():
    from core import embedded_query

    with embedded_query.time_limit(time.monotonic() + 0.05):
        embedded_query.extend_deadline(10)
        time.sleep(0.1)
        embedded_query.check_deadline()  # moved later: no ExecutionTimeout


def test_a_new_unique_index_refuses_values_two_documents_share_and_not_a_list_repeating_its_own():
    import pytest
    from pymongo.errors import DuplicateKeyError

    docs = [{"tags": ["t1", "t2", "t2"], "code": "a"}, {"tags": ["t3"], "code": "b"}, {"code": "c"}]
    _, col = _fresh("uq_lists", docs)
    try:
        with embedded_index.upstream(), pytest.raises(DuplicateKeyError):  # mongomock's own check
            col.create_index("tags", unique=True, name="tags_upstream")
        col.create_index("tags", unique=True, sparse=True)
        col.create_index([("code", 1), ("tags", 1)], unique=True, partialFilterExpression={"code": {"$gt": "a"}})
        with pytest.raises(DuplicateKeyError):
            col.insert_one({"tags": ["t9", "t3"]})
        col.insert_one({"tags": ["t4", "t4"], "code": "d"})
        col.drop_index("tags_1")
        col.update_one({"_id": 1}, {"$set": {"tags": ["t2"]}})
        with pytest.raises(DuplicateKeyError) as refused:
            col.create_index("tags", unique=True, name="tags_again")
        assert refused.value.details["keyPattern"] == {"tags": 1}
        assert "tags_again" not in col.index_information()
    finally:
        drop_embedded("uq_lists")
