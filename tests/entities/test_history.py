"""History: one entry per committed change, readable per record and per entity."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from entities.records.outbox import outbox_entries
from tests.conftest import ADMIN_EMAIL, Api, company, create, grant_all, login

ENTRY_KEYS = ["id", "entityId", "entityName", "entityVersion", "recordId", "recordName", "user", "timestamp", "ip",
              "eventType", "eventCategory", "contextPath", "recordDeleted", "deletionDate", "oldRecord", "newRecord"]


def history(api: Api, record_id: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = api.get(f"/data/companies/{record_id}/history?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_create_update_delete_write_one_entry_each(api: Api):
    created = create(api, "companies", company())
    api.put(f"/data/companies/{created['id']}", json={"version": 0, "type": "b"})
    api.delete(f"/data/companies/{created['id']}")
    body = history(api, created["id"])
    assert body["total"] == 3
    deleted, changed, made = body["items"]
    assert [e["eventType"] for e in body["items"]] == ["USER_RECORD_DELETED", "USER_RECORD_CHANGED",
                                                        "USER_RECORD_CREATED"]
    for entry in body["items"]:
        assert list(entry) == ENTRY_KEYS
        assert entry["entityName"] == "companies" and entry["recordId"] == created["id"]
        assert entry["user"] == ADMIN_EMAIL and entry["eventCategory"] == "USER" and entry["entityVersion"] == 1
        assert entry["recordName"] == "Test 1" and entry["ip"] == "127.0.0.1"
    assert made["contextPath"] == "entities.companies.create" and made["oldRecord"] == {}
    assert made["newRecord"]["name"] == "Test 1" and made["newRecord"]["addresses"][0]["label"] == "NV - 89145"
    assert changed["contextPath"] == "entities.companies.update"
    assert changed["oldRecord"]["type"] == {"json": "a", "text": "{type:a}"}
    assert changed["newRecord"]["type"] == {"json": "b", "text": "{type:b}"}
    assert "name" not in changed["newRecord"]
    assert deleted["newRecord"] == {} and deleted["oldRecord"]["type"] == "b"
    # once deleted, every entry of the record says so
    assert all(e["recordDeleted"] is True and isinstance(e["deletionDate"], int) for e in body["items"])
    assert body["offset"] == made["id"]


def test_nested_and_multi_valued_diffs(api: Api):
    created = create(api, "companies", company())
    address = created["addresses"][0]
    api.put(f"/data/companies/{created['id']}", json={
        "addresses": [{"id": address["id"], "zipCode": "89000"}, {"zipCode": "10001", "state": "NY"}],
        "contactInformation": {"email": "new@x.io"}})
    change = history(api, created["id"], _size=1)["items"][0]
    old, new = change["oldRecord"], change["newRecord"]
    assert old["addresses"]["json"] == created["addresses"]
    assert [a["zipCode"] for a in new["addresses"]["json"]] == ["89000", "10001"]
    assert new["addresses"]["text"].startswith("{addresses:[")
    assert old["contactInformation"]["json"]["email"] == "jwoodsrq@spotify.com"
    assert new["contactInformation"]["json"]["email"] == "new@x.io"
    cleared = api.put(f"/data/companies/{created['id']}", json={"addresses": None}).get_json()
    assert cleared["addresses"] == []
    last = history(api, created["id"], _size=1)["items"][0]
    assert last["newRecord"]["addresses"] == {"json": [], "text": "{}"}


def test_failed_writes_leave_no_entry(api: Api):
    created = create(api, "companies", company())
    assert api.put(f"/data/companies/{created['id']}", json={"version": 7, "type": "b"}).status_code == 409
    assert api.put(f"/data/companies/{created['id']}", json={"numberOfEmployees": -5}).status_code == 400
    assert api.post("/data/companies", json={"name": "Test 1"}).status_code == 400  # duplicate
    assert history(api, created["id"])["total"] == 1
    assert api.get("/data/companies/history").get_json()["total"] == 1


def test_paging_by_history_id_with_concurrent_writes(app, api: Api):
    created = create(api, "companies", company())
    for i in range(24):
        api.put(f"/data/companies/{created['id']}", json={"notes": f"n{i}"})
    stop = threading.Event()

    def writer() -> None:
        client = login(app)
        i = 0
        while not stop.is_set() and i < 200:
            client.put(f"/data/companies/{created['id']}", json={"notes": f"w{i}"})
            i += 1

    seen: list[str] = []
    first = history(api, created["id"], _size=10)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        page = first
        while page["items"]:
            seen.extend(e["id"] for e in page["items"])
            page = history(api, created["id"], _size=10, _offset=page["offset"])
    finally:
        stop.set()
        thread.join()
    assert len(seen) == len(set(seen)) == 25  # the 25 entries before paging began, none twice, none skipped
    assert seen == sorted(seen, reverse=True)


def test_entity_history_filters(api: Api):
    a = create(api, "companies", company(name="A"))
    create(api, "companies", company(name="B"))
    api.put(f"/data/companies/{a['id']}", json={"type": "c"})
    everything = api.get("/data/companies/history").get_json()
    assert everything["total"] == 3
    changes = api.get("/data/companies/history?eventTypes=USER_RECORD_CHANGED").get_json()
    assert changes["total"] == 1 and changes["items"][0]["recordId"] == a["id"]
    both = api.get("/data/companies/history?eventTypes=USER_RECORD_CHANGED,USER_RECORD_CREATED&_size=2").get_json()
    assert both["total"] == 3 and len(both["items"]) == 2
    rest = api.get(f"/data/companies/history?_offset={both['offset']}").get_json()
    assert len(rest["items"]) == 1
    t = everything["items"][1]["timestamp"]
    ranged = api.get(f"/data/companies/history?from={t}&to={t}").get_json()
    assert {e["timestamp"] for e in ranged["items"]} == {t}
    future = int(dt.datetime.now().timestamp() * 1000) + 3_600_000
    assert api.get(f"/data/companies/history?from={future}").get_json()["total"] == 0


def test_entity_history_bounds_past_what_an_id_holds(api: Api):
    """An ObjectId holds seconds up to 2^32 (the year 2106): a ``to`` past it has no upper bound, a ``from`` past
    it matches nothing, and both still answer with the right entries."""
    create(api, "companies", company(name="A"))
    create(api, "companies", company(name="B"))
    for to in (4294967294000, 4294967295000, 4294967296000, 253402300799999):
        response = api.get(f"/data/companies/history?to={to}")
        assert response.status_code == 200 and response.get_json()["total"] == 2, (to, response.get_json())
    for start in (4294967295000, 4294967296000, 253402300799999):
        response = api.get(f"/data/companies/history?from={start}&to=253402300799999")
        assert response.status_code == 200 and response.get_json()["total"] == 0, (start, response.get_json())
    assert api.get("/data/companies/history?from=0&to=4294967296000").get_json()["total"] == 2


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", ["253402300800000", "99999999999999999999999", "-1"])
def test_entity_history_bounds_beyond_the_year_9999_are_400_naming_them(api: Api, name: str, value: str):
    response = api.get(f"/data/companies/history?{name}={value}")
    assert response.status_code == 400, response.get_json()
    assert [e["field"] for e in response.get_json()["errors"]] == [name]


@pytest.mark.parametrize("query", ["eventTypes=NOPE", "from=yesterday", "_size=abc", "_offset=xyz",
                                   "from=10&to=5"])
def test_bad_filters_are_400(api: Api, query: str):
    assert api.get(f"/data/companies/history?{query}").status_code == 400


def test_unknown_entity_404_and_no_history_400(api: Api):
    assert api.get("/data/ghosts/history").status_code == 404
    api.put("/metadata/entities/notes", json={"name": "notes", "fields": [{"name": "text", "type": "text"}]})
    record = create(api, "notes", {"text": "x"})
    response = api.get(f"/data/notes/{record['id']}/history")
    assert response.status_code == 400 and "not enabled" in response.get_json()["message"]
    assert api.get("/data/companies/not-an-id/history").status_code == 400


def test_settings_events_and_ignored_fields(app, api: Api):
    definition = {"name": "tasks", "history": {"events": ["USER_RECORD_CHANGED"], "ignoredFields": ["secret"]},
                  "fields": [{"name": "title", "type": "text"}, {"name": "secret", "type": "text"}]}
    assert api.put("/metadata/entities/tasks", json=definition).status_code == 200
    task = create(api, "tasks", {"title": "t", "secret": "s"})
    api.put(f"/data/tasks/{task['id']}", json={"secret": "s2"})
    api.put(f"/data/tasks/{task['id']}", json={"title": "t2", "secret": "s3"})
    body = api.get(f"/data/tasks/{task['id']}/history").get_json()
    assert body["total"] == 1
    assert body["items"][0]["newRecord"] == {"title": {"json": "t2", "text": "{title:t2}"}}


def test_retention_is_a_ttl_index(app, api: Api):
    definition = {"name": "events", "history": {"keepDays": 30, "keepDeletedDays": 7},
                  "fields": [{"name": "title", "type": "text"}]}
    api.put("/metadata/entities/events", json=definition)
    record = create(api, "events", {"title": "e"})
    col = app.extensions["runtime"].history.col
    assert col.index_information()["retention"]["key"] == [("expireAt", 1)]
    entry = col.find_one({"recordId": record["id"]})
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert dt.timedelta(days=29) < entry["expireAt"] - now <= dt.timedelta(days=30)
    api.delete(f"/data/events/{record['id']}")
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1)
    docs = list(col.find({"recordId": record["id"]}))
    assert len(docs) == 2
    for doc in docs:
        assert dt.timedelta(days=6) < doc["expireAt"] - now and doc["expireAt"] - later <= dt.timedelta(days=7)


def test_history_deleted_with_the_record_when_asked(app, api: Api):
    definition = {"name": "drafts", "history": {"onRecordDeleted": "delete"}, "fields": [{"name": "t", "type": "text"}]}
    api.put("/metadata/entities/drafts", json=definition)
    record = create(api, "drafts", {"t": "x"})
    api.put(f"/data/drafts/{record['id']}", json={"t": "y"})
    api.delete(f"/data/drafts/{record['id']}")
    assert api.get(f"/data/drafts/{record['id']}/history").get_json()["total"] == 0


def test_impersonation_records_both_users(app, anon: Api):
    app.extensions["runtime"].auth.create_user("employee@example.com", "pw-employee", "Employee", "Test")
    grant_all(app, "employee@example.com")
    login_body = anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "admin-password",
                                                "emailImpersonatedUser": "employee@example.com"}).get_json()
    api = Api(anon.client, login_body["token"])
    record = create(api, "companies", company())
    entry = history(api, record["id"])["items"][0]
    assert entry["user"] == "employee@example.com" and entry["adminUser"] == ADMIN_EMAIL


def test_a_crash_after_the_record_write_is_repaired(app, api: Api):
    """The entry rides in the record write; if the process dies before publishing it, the next read repairs it."""
    app.extensions["runtime"].history.direct = False  # the outbox: how a server keeps history
    publisher = app.extensions["runtime"].history.publisher
    created = create(api, "companies", company())
    publisher.paused = True  # the process "dies" right after the write: its publisher never runs
    assert api.put(f"/data/companies/{created['id']}", json={"type": "c"}).status_code == 200
    raw = app.extensions["runtime"].records.collection("companies").find_one({})
    changed = [e for e in outbox_entries(raw["_hist"]) if e["eventType"] == "USER_RECORD_CHANGED"]
    assert [e["newRecord"]["type"]["json"] for e in changed] == ["c"]
    assert app.extensions["runtime"].history.col.count_documents({"_id": changed[0]["_id"]}) == 0
    # the change committed (the record says so) and its entry is not lost
    body = history(api, created["id"])
    assert [e["eventType"] for e in body["items"]] == ["USER_RECORD_CHANGED", "USER_RECORD_CREATED"]
    assert body["items"][0]["newRecord"]["type"]["json"] == "c"
    assert "_hist" not in app.extensions["runtime"].records.collection("companies").find_one({})


def test_unpublished_entries_are_carried_by_the_records_next_write(app, api: Api):
    """A write keeps the entries of its pre-image not yet published, next to its own, until publication."""
    app.extensions["runtime"].history.direct = False  # the outbox: how a server keeps history
    publisher = app.extensions["runtime"].history.publisher
    created = create(api, "companies", company())
    publisher.paused = True
    assert api.put(f"/data/companies/{created['id']}", json={"type": "c"}).status_code == 200
    assert api.put(f"/data/companies/{created['id']}", json={"type": "a"}).status_code == 200
    raw = app.extensions["runtime"].records.collection("companies").find_one({})
    assert [e["newRecord"]["type"]["json"] for e in outbox_entries(raw["_hist"])
            if e["eventType"] == "USER_RECORD_CHANGED"] == [
        "c", "a"]
    publisher.paused = False
    assert publisher.flush() == 2
    body = history(api, created["id"])
    assert [e["eventType"] for e in body["items"]] == ["USER_RECORD_CHANGED"] * 2 + ["USER_RECORD_CREATED"]
    assert [e["newRecord"]["type"]["json"] for e in body["items"][:2]] == ["a", "c"]
    assert "_hist" not in app.extensions["runtime"].records.collection("companies").find_one({})  # read repair
    assert api.delete(f"/data/companies/{created['id']}").status_code == 200
    assert history(api, created["id"])["items"][0]["eventType"] == "USER_RECORD_DELETED"


def test_a_crash_in_the_middle_of_a_delete_is_repaired(app, api: Api, monkeypatch):
    recorder = app.extensions["runtime"].history
    records = app.extensions["runtime"].records
    gone = create(api, "companies", company(name="Gone"))
    kept = create(api, "companies", company(name="Kept"))

    def die(*args, **kwargs):
        raise SystemExit("process died")

    # died after the delete committed but before the entry was confirmed
    monkeypatch.setattr(recorder, "confirm", die)
    with pytest.raises(SystemExit):
        api.delete(f"/data/companies/{gone['id']}")
    monkeypatch.undo()
    # died after the pending entry was written but before the delete ran
    monkeypatch.setattr(records.collection("companies").__class__, "delete_one", die, raising=False)
    col = records.collection("companies")
    original = records.collection
    monkeypatch.setattr(records, "collection", lambda entity: _Dying(original(entity)))
    with pytest.raises(SystemExit):
        api.delete(f"/data/companies/{kept['id']}")
    monkeypatch.undo()
    assert col.count_documents({}) == 1
    assert history(api, gone["id"])["items"][0]["eventType"] == "USER_RECORD_DELETED"
    assert [e["eventType"] for e in history(api, kept["id"])["items"]] == ["USER_RECORD_CREATED"]


class _Dying:
    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        if name == "delete_one":
            def die(*args, **kwargs):
                raise SystemExit("process died")
            return die
        return getattr(self._inner, name)


def test_expired_history_is_removed_by_the_store(app, api: Api):
    definition = {"name": "events", "history": {"keepDays": 1}, "fields": [{"name": "title", "type": "text"}]}
    api.put("/metadata/entities/events", json=definition)
    record = create(api, "events", {"title": "e"})
    api.put(f"/data/events/{record['id']}", json={"title": "f"})
    col = app.extensions["runtime"].history.col
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    col.update_one({"eventType": "USER_RECORD_CREATED", "recordId": record["id"]}, {"$set": {"expireAt": past}})
    app.extensions["runtime"].store.sweep_expired()
    assert [e["eventType"] for e in api.get(f"/data/events/{record['id']}/history").get_json()["items"]] == [
        "USER_RECORD_CHANGED"]


def test_a_history_read_during_a_delete_in_flight_keeps_its_entry(app, api: Api, monkeypatch):
    """Between writing its pending entry and deleting the record, a delete may be overtaken by a history
    read; the read's repair must not drop that entry, or the delete would succeed with no history."""
    record = create(api, "companies", company(name="In flight"))
    history = app.extensions["runtime"].history
    pending_written, go_on = threading.Event(), threading.Event()
    real = history.insert_pending

    def slow_insert_pending(entry, previous=None):
        real(entry, previous)
        pending_written.set()
        assert go_on.wait(10)

    monkeypatch.setattr(history, "insert_pending", slow_insert_pending)
    outcome: dict = {}
    deleting = threading.Thread(target=lambda: outcome.update(
        status=login(app).delete(f"/data/companies/{record['id']}").status_code))
    deleting.start()
    assert pending_written.wait(10)
    assert api.get("/data/companies/history").status_code == 200  # repairs while the delete is in flight
    go_on.set()
    deleting.join(10)
    assert outcome == {"status": 200}
    events = [e["eventType"] for e in api.get(f"/data/companies/{record['id']}/history").get_json()["items"]]
    assert events == ["USER_RECORD_DELETED", "USER_RECORD_CREATED"]
