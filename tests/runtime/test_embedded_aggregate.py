"""The embedded store's aggregate patches must answer exactly as mongomock's own pipeline does."""

import datetime
import time

from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import embedded_index
from core.storage import connect, drop_embedded

_OIDS = [ObjectId(f"{i:024x}") for i in range(3)]
_keys = st.one_of(st.none(), st.integers(0, 2), st.sampled_from([1.0, 2.5]), st.sampled_from(["a", "b"]),
                  st.sampled_from(_OIDS), st.just(datetime.datetime(2024, 1, 1)), st.booleans(),
                  st.lists(st.integers(0, 1), max_size=2))
_uniform = st.sampled_from([st.integers(0, 2), st.sampled_from([0, 1.0, 2.5]), st.sampled_from(["a", "b", "c"]),
                            st.sampled_from(_OIDS), st.booleans(), _keys])  # one plain type, or any mix


def _docs_of(keys):
    return st.lists(st.fixed_dictionaries({"n": st.integers(0, 5), "k": keys, "s": st.sampled_from(["x", "y"]),
                                           "o": st.fixed_dictionaries({"id": keys})}), max_size=20)


_docs = st.one_of(_uniform.flatmap(_docs_of), st.lists(st.fixed_dictionaries({"n": st.integers(0, 5)}, optional={
    "k": _keys, "s": st.sampled_from(["x", "y"]), "o": st.fixed_dictionaries({"id": _keys})}), max_size=20))
_matches = st.sampled_from([None, {}, {"n": {"$gte": 2}}, {"s": "x"}, {"$or": [{"k": 1}, {"k": "a"}]},
                            {"k": {"$in": [None, 2]}}])
_projects = st.sampled_from([None, {"k": 1, "n": 1}, {"_id": 0, "k": 1, "n": True, "o": 1}, {"o.id": 1, "n": 1},
                             {"k": 1, "n": {"$add": ["$n", 1]}}])
_group_keys = st.sampled_from(["$k", "$s", "$o.id", "$o", None, {"k": "$k", "s": "$s"}, "no $group stage"])


def _outcome(fn):
    try:
        return fn()
    except Exception as exc:
        return type(exc).__name__


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=_docs, match=_matches, project=_projects, key=_group_keys)
def test_aggregate_matches_upstream(docs, match, project, key):
    store = connect(None, "embedded_aggregate_props")
    try:
        col = store.collection("things")
        if docs:
            col.insert_many([dict(d, _id=ObjectId()) for d in docs])
        pipeline = ([{"$match": match}] if match is not None else []) + \
            ([{"$project": project}] if project else []) + \
            ([{"$group": {"_id": key, "total": {"$sum": "$n"}, "first": {"$first": "$n"}, "last": {"$last": "$n"},
                          "count": {"$sum": 1}}}]
             if key != "no $group stage" else [])
        patched = _outcome(lambda: col.aggregate(pipeline))
        with embedded_index.upstream():
            expected = _outcome(lambda: col.aggregate(pipeline))
        assert patched == expected
        if isinstance(patched, list):
            assert [list(row) for row in patched] == [list(row) for row in expected]  # field order too
    finally:
        drop_embedded("embedded_aggregate_props")


def test_first_and_last_take_the_edge_document_even_without_the_value():
    """As MongoDB: ``$first`` / ``$last`` give null when the group's first / last document lacks the value
    (mongomock's own skipped to the nearest document that has one)."""
    store = connect(None, "embedded_aggregate_edges")
    try:
        col = store.collection("things")
        col.insert_many([{"_id": 1, "t": "a", "n": 1}, {"_id": 2, "t": "b", "n": 2}, {"_id": 3, "t": "c"}])
        group = {"$group": {"_id": None, "first": {"$first": "$n"}, "last": {"$last": "$n"}}}
        assert col.aggregate([{"$sort": {"t": 1}}, group]) == [{"_id": None, "first": 1, "last": None}]
        assert col.aggregate([{"$sort": {"t": -1}}, group]) == [{"_id": None, "first": None, "last": 1}]
        by_key = col.aggregate([{"$sort": {"t": 1}}, {"$group": {"_id": {"$gt": ["$_id", 1]},
                                                                 "last": {"$last": "$n"}}}, {"$sort": {"_id": 1}}])
        assert by_key == [{"_id": False, "last": 1}, {"_id": True, "last": None}]
        with embedded_index.upstream():  # what mongomock gave
            assert col.aggregate([{"$sort": {"t": 1}}, group]) == [{"_id": None, "first": 1, "last": 2}]
    finally:
        drop_embedded("embedded_aggregate_edges")


def test_results_do_not_share_mutable_values_with_the_store():
    store = connect(None, "embedded_aggregate_copies")
    try:
        col = store.collection("things")
        col.insert_one({"_id": 1, "o": {"id": 1, "tags": ["a"]}})
        rows = col.aggregate([{"$match": {"_id": 1}}])
        rows[0]["o"]["tags"].append("b")
        assert col.find_one({"_id": 1})["o"]["tags"] == ["a"]
    finally:
        drop_embedded("embedded_aggregate_copies")


def test_a_group_by_over_100k_documents_is_fast():
    """The aggregate target (≤ 5 s at 100k records, end to end) leaves room for the request around it."""
    store = connect(None, "embedded_aggregate_100k")
    try:
        col = store.collection("things")
        companies = [{"id": ObjectId(), "label": f"c{i}"} for i in range(100)]
        col.insert_many([{"_id": ObjectId(), "company": companies[i % 100], "skills": i % 11, "note": "x" * 20}
                         for i in range(100_000)])
        pipeline = [{"$project": {"_id": 1, "company": 1, "skills": 1}},
                    {"$group": {"_id": "$company.id", "company": {"$first": "$company"},
                                "total": {"$sum": "$skills"}}}]
        start = time.thread_time()
        rows = col.aggregate(pipeline)
        spent = time.thread_time() - start
        assert len(rows) == 100 and sum(r["total"] for r in rows) == sum(i % 11 for i in range(100_000))
        assert spent < 5, spent  # mongomock's own path: about 60 s
    finally:
        drop_embedded("embedded_aggregate_100k")


def test_every_stage_runs_under_the_time_limit():
    """``maxTimeMS`` is checked before each stage and as a stage reads its documents, not only while the first
    stage scans the collection: an ``$unwind`` that makes 200k documents of one stops at the limit (and copies the
    document without its array for each element: mongomock copied the whole array each time, minutes here)."""
    import pytest
    from pymongo.errors import ExecutionTimeout

    store = connect(None, "embedded_aggregate_time")
    try:
        col = store.collection("things")
        col.insert_one({"_id": 1, "a": list(range(200_000))})
        pipeline = [{"$unwind": "$a"}, {"$project": {"a": 1}}, {"$group": {"_id": None, "n": {"$sum": 1}}}]
        start = time.monotonic()
        with pytest.raises(ExecutionTimeout):
            col.aggregate(pipeline, maxTimeMS=50)
        assert time.monotonic() - start < 1
        first = col.aggregate([pipeline[0], {"$limit": 2}], maxTimeMS=5000)
        assert first == [{"_id": 1, "a": 0}, {"_id": 1, "a": 1}]
    finally:
        drop_embedded("embedded_aggregate_time")


_arrays = st.one_of(st.none(), st.just([]), st.integers(0, 3), st.lists(st.one_of(
    st.integers(0, 3), st.fixed_dictionaries({"x": st.integers(0, 2)}), st.lists(st.integers(0, 1), max_size=2)),
    max_size=4))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(st.fixed_dictionaries({"n": st.integers(0, 3)}, optional={
           "a": _arrays, "o": st.fixed_dictionaries({}, optional={"a": _arrays, "k": st.integers(0, 1)})}),
           max_size=6),
       path=st.sampled_from(["$a", "$o.a"]), preserve=st.sampled_from([None, True, False]),
       then=st.sampled_from([[], [{"$project": {"a": 1, "o": 1}}], [{"$group": {"_id": "$a", "c": {"$sum": 1}}}]]))
def test_unwind_matches_upstream(docs, path, preserve, then):
    store = connect(None, "embedded_unwind_props")
    try:
        col = store.collection("things")
        if docs:
            col.insert_many([dict(d, _id=i) for i, d in enumerate(docs)])
        spec = path if preserve is None else {"path": path, "preserveNullAndEmptyArrays": preserve}
        pipeline = [{"$unwind": spec}, *then]
        patched = _outcome(lambda: col.aggregate(pipeline))
        with embedded_index.upstream():
            expected = _outcome(lambda: col.aggregate(pipeline))
        assert patched == expected
        if isinstance(patched, list):
            assert [list(row) for row in patched] == [list(row) for row in expected]
            if patched and "a" in patched[0] and isinstance(patched[0]["a"], list):
                patched[0]["a"].append("changed")  # copies: the next element's document is not touched
                assert len(patched) < 2 or patched[1].get("a") != patched[0]["a"]
    finally:
        drop_embedded("embedded_unwind_props")
