"""History reads cost the same number of round trips however large the history is, and use an index."""

from __future__ import annotations

import pytest

from core.config import Config
from runtime.app import bootstrap, create_app
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, EXAMPLES, company, create, login
from tests.support.commands import monitored_store
from tests.support.mongo_wire_server import MongoWireServer


@pytest.fixture(scope="module")
def server():
    with MongoWireServer() as srv:
        yield srv


def _app(server):
    store, log = monitored_store(server.uri)
    app = create_app(Config.from_env(mongodb_uri=server.uri, admin_email=ADMIN_EMAIL,
                                     admin_password=ADMIN_PASSWORD), store=store)
    bootstrap(app, EXAMPLES)
    return app, log


def _covered_by_index(indexes: dict, filter_keys: list[str], sort_keys: list[str]) -> bool:
    for spec in indexes.values():
        keys = [k for k, _ in spec["key"]]
        wanted = filter_keys + [k for k in sort_keys if k not in filter_keys]
        if keys[: len(wanted)] == wanted:
            return True
    return False


def test_history_reads_are_bounded_and_indexed(server):
    app, log = _app(server)
    api = login(app)
    small = create(api, "companies", company(name="Small"))
    big = create(api, "companies", company(name="Big"))
    for i in range(5):
        api.put(f"/data/companies/{small['id']}", json={"notes": f"s{i}"})
    for i in range(150):
        api.put(f"/data/companies/{big['id']}", json={"notes": f"b{i}"})
    for record in (small, big):  # a first read publishes what the writes left in their outboxes
        assert api.get(f"/data/companies/{record['id']}/history?_size=5").status_code == 200
    counts, recorded = [], []
    for record in (small, big):
        with log.recording_commands() as commands:
            assert api.get(f"/data/companies/{record['id']}/history?_size=5").status_code == 200
        counts.append(len(commands))
        finds = [c for name, c in commands if name == "find" and c["find"] == "sys.history"]
        assert finds, commands
        indexes = app.extensions["runtime"].history.col.index_information()
        f = finds[-1]
        filter_keys = [k for k in f["filter"] if k not in ("pending", "_id")]
        assert _covered_by_index(indexes, filter_keys, list(f.get("sort", {})))
    assert counts[0] == counts[1], [[(n, c.get(n)) for n, c in cmds] for cmds in recorded]
    with log.recording_commands() as commands:
        api.get("/data/companies/history?_size=5&eventTypes=USER_RECORD_CHANGED")
    entity_count = len(commands)
    for i in range(50):
        api.put(f"/data/companies/{small['id']}", json={"notes": f"more{i}"})
    api.get("/data/companies/history?_size=5&eventTypes=USER_RECORD_CHANGED")  # publishes the last outbox
    with log.recording_commands() as commands:
        api.get("/data/companies/history?_size=5&eventTypes=USER_RECORD_CHANGED")
    assert len(commands) == entity_count


def test_retention_is_a_server_ttl_index_on_mongodb(server):
    app, _ = _app(server)
    ttl = app.extensions["runtime"].history.col.index_information()["retention"]
    assert ttl["expireAfterSeconds"] == 0 and ttl["key"] == [("expireAt", 1)]
    tokens = app.extensions["runtime"].store.collection("sys.tokens").index_information()["expiry"]
    assert tokens["expireAfterSeconds"] == 0


def test_the_outbox_repair_of_a_history_read_uses_the_sparse_outbox_index(server):
    app, log = _app(server)
    api = login(app)
    record = create(api, "companies", company(name="Outboxed"))
    with log.recording_commands() as commands:
        assert api.get(f"/data/companies/{record['id']}/history").status_code == 200
    repairs = [c for name, c in commands if name == "find" and c["find"] == "data.companies"]
    assert repairs, commands
    indexes = app.extensions["runtime"].records.collection("companies").index_information()
    for find in repairs:
        assert _covered_by_index(indexes, list(find["filter"]), []), find["filter"]


def test_deleting_a_record_on_the_embedded_store_does_not_scan_the_whole_history(app, api):
    """A delete marks its record's entries (the entity's history policy): found by an index, not by reading every
    entry of every record, so a delete costs the same however long the app's history is."""
    import time

    from bson import ObjectId

    history = app.extensions["runtime"].history.col
    history.insert_many([{"_id": ObjectId(), "entityName": "companies", "recordId": str(ObjectId()),
                          "eventType": "USER_RECORD_CHANGED", "timestamp": 0} for _ in range(100_000)])
    ids = [create(api, "companies", company(name=f"Gone {i}"))["id"] for i in range(100)]
    start = time.perf_counter()
    for rid in ids:
        assert api.delete(f"/data/companies/{rid}").status_code == 200
    elapsed = time.perf_counter() - start
    assert elapsed < 2.5, elapsed  # read through: 100 × 100,000 entries
    marked = list(history.find({"recordId": ids[0]}))
    assert [e["eventType"] for e in marked] == ["USER_RECORD_CREATED", "USER_RECORD_DELETED"]
    assert all(e["recordDeleted"] is True for e in marked)
