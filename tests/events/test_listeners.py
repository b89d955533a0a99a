"""Data listeners: every event kind on every write path fires exactly the expected listeners; triggerEvents=false
suppresses them; background handlers run as EXECUTE_LISTENER jobs with retries; a failing in-request handler never
undoes the write; job listeners; definition errors."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from core.storage import drop_embedded
from tests.conftest import Api, create, login, make_app, wait_for_job
from tests.events import handlers

H = "tests.events.handlers"
INLINE = [
    {"name": "onCreated", "events": ["created"], "handler": f"{H}:remember", "background": False},
    {"name": "onChanged", "events": ["changed"], "handler": f"{H}:remember", "background": False},
    {"name": "onDeleted", "events": ["deleted"], "handler": f"{H}:remember", "background": False},
    {"name": "onClose", "events": ["actionPerformed"], "actions": ["close"], "handler": f"{H}:remember",
     "background": False},
    {"name": "onAnyAction", "events": ["actionPerformed"], "handler": f"{H}:remember", "background": False},
    {"name": "onWon", "events": ["conditionMet"], "condition": {"stage": "won"}, "handler": f"{H}:remember",
     "background": False},
]


def deals(listeners: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "deals", "label": "Deals", "recordLabel": "#{name}",
            "fields": [{"name": "name", "type": "text", "unique": True},
                       {"name": "stage", "type": "choice", "typeRules": {"possibleValues": ["open", "won", "lost"]}},
                       {"name": "amount", "type": "integer"}],
            "actions": [{"name": "close", "type": "oneRecord", "update": {"stage": "won"}},
                        {"name": "reopen", "type": "oneRecord", "update": {"stage": "open"}},
                        {"name": "winAll", "type": "manyRecords", "update": {"stage": "won"}}],
            "listeners": listeners}


@pytest.fixture
def app() -> Iterator[Flask]:
    app = make_app(app_modules=("examples.crm", H))
    handlers.clear()
    yield app
    app.extensions["runtime"].jobs.dispatcher.wait_idle(30)
    drop_embedded(app.config["RUNTIME"].mongodb_db)


def define(api: Api, listeners: list[dict[str, Any]]) -> None:
    response = api.post("/metadata/entities", json=deals(listeners))
    assert response.status_code == 200, response.get_json()


def calls() -> list[tuple[str, str, str | None, str | None]]:
    out = list(handlers.CALLS)
    handlers.CALLS.clear()
    return out


def idle(app: Flask) -> None:
    assert app.extensions["runtime"].jobs.dispatcher.wait_idle(30)


def import_csv(api: Api, text: str, **options: str) -> dict[str, Any]:
    response = api.post("/data/deals/import", query_string=options,
                        data={"file": (io.BytesIO(text.encode()), "deals.csv")}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    return wait_for_job(api, response.get_json()["jobId"])


def test_every_write_path_fires_exactly_the_expected_listeners(app: Flask, api: Api):
    define(api, INLINE)
    a = create(api, "deals", {"name": "a", "stage": "open", "amount": 1})
    assert calls() == [("onCreated", "created", "a", None)]
    won = create(api, "deals", {"name": "w", "stage": "won"})
    assert calls() == [("onCreated", "created", "w", None), ("onWon", "conditionMet", "w", None)]

    assert api.put(f"/data/deals/{a['id']}", json={"amount": 2}).status_code == 200
    assert calls() == [("onChanged", "changed", "a", "a")]
    assert api.put(f"/data/deals/{a['id']}", json={"stage": "won"}).status_code == 200
    assert calls() == [("onChanged", "changed", "a", "a"), ("onWon", "conditionMet", "a", "a")]
    assert api.put(f"/data/deals/{a['id']}", json={"amount": 3}).status_code == 200
    assert calls() == [("onChanged", "changed", "a", "a")]  # still won: no new transition

    assert api.put(f"/data/deals/{a['id']}/reopen").status_code == 200
    assert calls() == [("onChanged", "changed", "a", "a"), ("onAnyAction", "actionPerformed", "a", "a")]
    assert api.put(f"/data/deals/{a['id']}/close").status_code == 200
    assert calls() == [("onChanged", "changed", "a", "a"), ("onWon", "conditionMet", "a", "a"),
                       ("onClose", "actionPerformed", "a", "a"), ("onAnyAction", "actionPerformed", "a", "a")]

    create(api, "deals", {"name": "b", "stage": "open"})
    calls()
    assert api.put("/data/deals/winAll?name=b").status_code == 200  # manyRecords: each record, then the action
    assert calls() == [("onChanged", "changed", "b", "b"), ("onWon", "conditionMet", "b", "b"),
                       ("onAnyAction", "actionPerformed", None, None)]

    assert api.delete(f"/data/deals/{won['id']}").status_code == 200
    assert calls() == [("onDeleted", "deleted", "w", "w")]
    assert api.delete("/data/deals?name=b").status_code == 200
    assert calls() == [("onDeleted", "deleted", "b", "b")]

    job = api.put(f"/data/deals/{a['id']}/reopen?_async=true").get_json()  # an action in an EXECUTE_ACTION job
    assert wait_for_job(api, job["jobId"])["status"] == "FINISHED"
    assert calls() == [("onChanged", "changed", "a", "a"), ("onAnyAction", "actionPerformed", "a", "a")]
    assert api.get(f"/data/deals/{a['id']}").get_json()["stage"] == "open"


def test_an_action_event_has_the_record_before_the_action_as_old_record(app: Flask, api: Api):
    """§4.4: ``oldRecord`` is present for ACTION_PERFORMED; it is the record as the action found it."""
    define(api, [{"name": "stages", "events": ["actionPerformed", "changed"], "handler": f"{H}:remember_stages",
                  "background": False}])
    handlers.STAGES.clear()
    deal = create(api, "deals", {"name": "a", "stage": "open"})
    assert api.put(f"/data/deals/{deal['id']}/close").status_code == 200
    assert handlers.STAGES == [("changed", "won", "open"), ("actionPerformed", "won", "open")]
    handlers.STAGES.clear()
    assert api.put(f"/data/deals/{deal['id']}/close").status_code == 200  # nothing to change: both are "won"
    assert handlers.STAGES == [("changed", "won", "won"), ("actionPerformed", "won", "won")]


def test_an_import_without_type_rules_leaves_them_on_for_the_listeners_it_fires(app: Flask, api: Api):
    define(api, [{"name": "copier", "events": ["created"], "handler": f"{H}:copy_name", "background": False}])
    copies = {"name": "copies", "fields": [{"name": "name", "type": "text", "typeRules": {"maxLength": 3}}]}
    assert api.post("/metadata/entities", json=copies).status_code == 200
    job = import_csv(api, "name\nlonger\nab\n", performValidations="false")
    assert job["results"]["rowsImported"] == 2
    assert sorted(calls()) == [("copier", "created", "ab", "created"),
                               ("copier", "created", "longer", "ValidationFailed")]
    assert [r["name"] for r in api.get("/data/copies").get_json()["items"]] == ["ab"]


def test_imports_and_async_deletes_fire_and_trigger_events_false_suppresses(app: Flask, api: Api):
    define(api, INLINE)
    job = import_csv(api, "name,stage\nx,open\ny,won\n")
    assert job["results"]["rowsImported"] == 2
    assert calls() == [("onCreated", "created", "x", None), ("onCreated", "created", "y", None),
                       ("onWon", "conditionMet", "y", None)]
    job = import_csv(api, "name,stage\nx,won\nz,open\n")  # x updated (unique name), z created
    assert sorted(calls()) == [("onChanged", "changed", "x", "x"), ("onCreated", "created", "z", None),
                               ("onWon", "conditionMet", "x", "x")]
    import_csv(api, "name,stage\nq,won\nz,won\n", triggerEvents="false")
    assert calls() == []

    ids = {r["name"]: r["id"] for r in api.get("/data/deals").get_json()["items"]}
    async_ids = api.delete(f"/data/deals/{ids['x']},{ids['y']}?_async=true").get_json()
    wait_for_job(api, async_ids["jobId"])
    assert sorted(calls()) == [("onDeleted", "deleted", "x", "x"), ("onDeleted", "deleted", "y", "y")]
    by_query = api.delete("/data/deals?name=z&_async=true").get_json()
    wait_for_job(api, by_query["jobId"])
    assert calls() == [("onDeleted", "deleted", "z", "z")]
    quiet = api.delete("/data/deals?name=q&_async=true&_triggerEvents=false").get_json()
    assert wait_for_job(api, quiet["jobId"])["recordsProcessed"] == 1
    quiet_sync = api.delete("/data/deals?_triggerEvents=false")
    assert quiet_sync.status_code == 200 and len(quiet_sync.get_json()) == 0
    assert calls() == []
    assert api.get("/data/deals").get_json()["total"] == 0


def test_trigger_events_false_on_a_synchronous_delete_over_a_query(app: Flask, api: Api):
    define(api, INLINE)
    create(api, "deals", {"name": "a"})
    create(api, "deals", {"name": "b"})
    calls()
    response = api.delete("/data/deals?_triggerEvents=false")
    assert response.status_code == 200 and len(response.get_json()) == 2
    assert calls() == []
    assert api.delete("/data/deals?_triggerEvents=maybe").status_code == 400


def test_background_handlers_run_as_execute_listener_jobs_retried_until_they_succeed(app: Flask, api: Api):
    define(api, [{"name": "slowWin", "events": ["created"], "handler": f"{H}:flaky"}])  # background by default
    record = create(api, "deals", {"name": "bg"})
    assert calls() == []  # not in the request
    listing = api.get("/status/jobs?type=EXECUTE_LISTENER").get_json()
    assert listing["total"] == 1
    assert api.get("/status/jobs?type=LISTENER").get_json()["items"] == listing["items"]  # the name
    job = wait_for_job(api, listing["items"][0]["id"])
    assert job["status"] == "FINISHED" and not job["hasErrors"], job
    assert job["data"]["listenerName"] == "slowWin" and job["results"] == {"response": "done"}
    assert calls() == [("slowWin", "created", "bg", None)]
    logs = [i["message"] for i in api.get(f"/status/jobs/{job['id']}/logs").get_json()["items"]]
    assert sum("failed: flaky failure" in m for m in logs) == 2
    assert api.get(f"/data/deals/{record['id']}").status_code == 200


def test_a_delete_gives_listeners_the_deleted_record(app: Flask, api: Api):
    """``record`` is the deleted record (only an action on many records has none), in the request, in a
    background job and for the sample app's handler, which reads ``record['name']``."""
    define(api, [{"name": "inline", "events": ["deleted"], "handler": "examples.crm:deal_won", "background": False},
                 {"name": "later", "events": ["deleted"], "handler": f"{H}:flaky"}])
    gone = create(api, "deals", {"name": "gone", "amount": 7})
    assert api.delete(f"/data/deals/{gone['id']}").status_code == 200
    logs = api.get("/status/logs?message=deal%20gone").get_json()["items"]
    assert [log["message"] for log in logs] == ["deleted: deal gone is won (7)"]
    assert api.get("/status/logs?level=ERROR").get_json()["total"] == 0
    job = wait_for_job(api, api.get("/status/jobs?type=EXECUTE_LISTENER").get_json()["items"][0]["id"])
    assert job["status"] == "FINISHED" and not job["hasErrors"], job
    assert job["data"]["record"]["id"] == gone["id"] and job["data"]["record"]["amount"] == 7
    assert calls() == [("later", "deleted", "gone", "gone")]  # oldRecord too, as before


def test_listener_jobs_stored_as_LISTENER_by_an_earlier_version_read_filter_and_run_as_EXECUTE_LISTENER(
        app: Flask, api: Api):
    define(api, [{"name": "bg", "events": ["created"], "handler": f"{H}:remember"}])
    create(api, "deals", {"name": "new"})
    svc = app.extensions["runtime"]
    data = {"entityName": "deals", "listenerName": "bg", "handler": f"{H}:remember", "oldRecord": None,
            "record": {"name": "old"}, "event": {"type": "DATA", "dataEvent": "RECORD_CREATED", "event": "created",
                                                 "entity": "deals", "listener": "bg", "action": None}}
    former = svc.jobs.submit("LISTENER", "Listener bg of deals (created)", data,
                             svc.auth.find_user("admin@example.com"), stoppable=False)
    idle(app)
    listing = api.get("/status/jobs?type=EXECUTE_LISTENER").get_json()
    assert listing["total"] == 2 and str(former["_id"]) in [j["id"] for j in listing["items"]]
    assert [(j["type"], j["status"], j["hasErrors"]) for j in listing["items"]] == [
        ("EXECUTE_LISTENER", "FINISHED", False)] * 2
    assert api.get(f"/status/jobs/{former['_id']}").get_json()["type"] == "EXECUTE_LISTENER"
    aliased = api.get("/status/jobs?type=LISTENER").get_json()  # the former name is an alias in the filter
    assert aliased["total"] == 2 and {j["type"] for j in aliased["items"]} == {"EXECUTE_LISTENER"}
    assert api.get("/status/jobs?type=IMPORT_RECORDS,EXECUTE_LISTENER").get_json()["total"] == 2
    assert sorted(calls()) == [("bg", "created", "new", None), ("bg", "created", "old", None)]


def test_listener_jobs_created_inside_a_job_are_its_children(app: Flask, api: Api):
    """The audit's repro: an import fires a background listener per row; those jobs, and the jobs their own
    writes fire, hang under the import (parentJob, rootJob, childrenJobsCount/Processed)."""
    audit = {"name": "auditEntries", "fields": [{"name": "name", "type": "text"}],
             "listeners": [{"name": "audited", "events": ["created"], "handler": f"{H}:remember"}]}
    assert api.post("/metadata/entities", json=audit).status_code == 200
    define(api, [{"name": "audit", "events": ["created"], "handler": f"{H}:write_back"}])
    direct = create(api, "deals", {"name": "direct"})  # from a request: a root listener job
    idle(app)
    first = api.get("/status/jobs?type=EXECUTE_LISTENER&_size=10").get_json()["items"]
    roots = [j for j in first if j["data"]["record"]["name"] == direct["name"]]
    assert len(first) == 2 and roots and roots[0]["parentJob"] is None and roots[0]["rootJob"] is None
    audit_job = roots[0]
    child = next(j for j in first if j["id"] != audit_job["id"])  # the job the audit's write fired
    ref = {"id": audit_job["id"], "label": audit_job["label"]}
    assert child["parentJob"] == ref and child["rootJob"] == ref
    assert api.get(f"/status/jobs/{audit_job['id']}").get_json()["childrenJobsCount"] == 1

    imported = import_csv(api, "name\nr1\nr2\nr3\n")
    idle(app)
    assert imported["parentJob"] is None and imported["rootJob"] is None
    top = {"id": imported["id"], "label": imported["label"]}
    listing = api.get("/status/jobs?type=EXECUTE_LISTENER&_size=50").get_json()["items"]
    children = [j for j in listing if j["parentJob"] == top]
    assert sorted(j["data"]["record"]["name"] for j in children) == ["r1", "r2", "r3"]
    assert all(j["rootJob"] == top and j["status"] == "FINISHED" for j in children)
    for job in children:  # each audit job's write fired one more listener job: a grandchild of the import
        grandchildren = [j for j in listing if (j["parentJob"] or {}).get("id") == job["id"]]
        assert len(grandchildren) == 1 and grandchildren[0]["rootJob"] == top
        assert grandchildren[0]["data"]["record"]["name"] == f"created {job['data']['record']['name']}"
        counts = api.get(f"/status/jobs/{job['id']}").get_json()
        assert (counts["childrenJobsCount"], counts["childrenJobsProcessed"]) == (1, 1)
    parent = api.get(f"/status/jobs/{imported['id']}").get_json()
    assert (parent["childrenJobsCount"], parent["childrenJobsProcessed"]) == (3, 3)
    assert api.get("/status/jobs?type=EXECUTE_LISTENER").get_json()["total"] == 8


def test_a_failing_listener_never_undoes_the_write(app: Flask, api: Api):
    define(api, [{"name": "boomNow", "events": ["created"], "handler": f"{H}:explode", "background": False},
                 {"name": "boomLater", "events": ["created"], "handler": f"{H}:explode"},
                 {"name": "after", "events": ["created"], "handler": f"{H}:remember", "background": False}])
    record = create(api, "deals", {"name": "kept"})
    assert api.get(f"/data/deals/{record['id']}").get_json()["name"] == "kept"
    assert calls() == [("after", "created", "kept", None)]  # the failure did not stop the next listener
    logs = api.get("/status/logs?level=ERROR").get_json()["items"]
    assert any("boomNow" in log["message"] and "listener exploded" in log["message"] for log in logs)
    job = api.get("/status/jobs?type=EXECUTE_LISTENER").get_json()["items"][0]
    done = wait_for_job(api, job["id"], timeout=30)
    assert done["status"] == "FINISHED" and done["hasErrors"] is True


def test_listener_writes_fire_the_listeners_of_what_they_write(app: Flask, api: Api):
    audit = {"name": "auditEntries", "fields": [{"name": "name", "type": "text"}],
             "listeners": [{"name": "audited", "events": ["created"], "handler": f"{H}:remember",
                            "background": False}]}
    assert api.post("/metadata/entities", json=audit).status_code == 200
    define(api, [{"name": "audit", "events": ["created"], "handler": f"{H}:write_back", "background": False}])
    create(api, "deals", {"name": "d"})
    assert calls() == [("audited", "created", "created d", None)]
    assert api.get("/data/auditEntries").get_json()["total"] == 1


def test_job_listeners_fire_on_started_and_finished(app: Flask, api: Api):
    define(api, [{"name": "jobs", "events": ["jobStarted", "jobFinished", "jobFailed"],
                  "jobTypes": ["IMPORT_RECORDS"], "handler": f"{H}:remember_job", "background": False}])
    job = import_csv(api, "name\nj1\n")
    idle(app)
    assert [(e["event"], e["jobType"], e["jobId"]) for e in handlers.JOB_EVENTS] == [
        ("jobStarted", "IMPORT_RECORDS", job["id"]), ("jobFinished", "IMPORT_RECORDS", job["id"])]
    handlers.JOB_EVENTS.clear()
    record = api.get("/data/deals").get_json()["items"][0]
    wait_for_job(api, api.delete(f"/data/deals/{record['id']}?_async=true").get_json()["jobId"])
    idle(app)
    assert handlers.JOB_EVENTS == []  # DELETE_RECORDS is not in jobTypes


def test_listener_definitions_are_validated(api: Api):
    bad = [
        {"name": "a", "events": ["created", "exploded"], "handler": f"{H}:remember"},
        {"name": "b", "events": ["created"], "handler": "tests.events.handlers:nothing"},
        {"name": "c", "events": ["created"], "handler": "os:system"},
        {"name": "d", "events": ["created"]},
        {"name": "e", "events": ["conditionMet"], "handler": f"{H}:remember"},
        {"name": "f", "events": ["actionPerformed"], "actions": ["nope"], "handler": f"{H}:remember"},
        {"name": "g", "events": ["created"], "webhook": {"url": "ftp://x", "secret": ""}},
        {"name": "h", "events": ["created"], "handler": f"{H}:remember", "background": "yes", "extra": 1},
        {"name": "i", "events": ["changed"], "condition": {"nofield": "1"}, "handler": f"{H}:remember"},
        {"name": "j", "events": [], "handler": f"{H}:remember"},
        {"name": "k", "events": ["jobFinished"], "jobTypes": ["IMPORT_RECORDS", "NOPE"], "handler": f"{H}:remember"},
    ]
    response = api.post("/metadata/entities", json=deals(bad))
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "validationErrors"
    fields = {(e["field"], e["code"]) for e in body["errors"]}
    assert {("listeners[0].events", "invalid"), ("listeners[1].handler", "invalid"),
            ("listeners[2].handler", "invalid"), ("listeners[3].handler", "required"),
            ("listeners[4].condition", "required"), ("listeners[5].actions", "invalid"),
            ("listeners[6].webhook.url", "invalid"), ("listeners[6].webhook.secret", "required"),
            ("listeners[7].background", "invalid"), ("listeners[7].extra", "invalid"),
            ("listeners[8].condition", "invalid"), ("listeners[9].events", "required"),
            ("listeners[10].jobTypes", "invalid")} <= fields, fields
    assert [e["additionalInfo"]["rejectedValue"] for e in body["errors"] if e["field"] == "listeners[10].jobTypes"] \
        == ["NOPE"]
    assert api.get("/metadata/entities/deals").status_code == 404  # nothing half-saved
    duplicate = api.post("/metadata/entities", json=deals([INLINE[0], INLINE[0]]))
    assert duplicate.status_code == 400 and duplicate.get_json()["errors"][0]["code"] == "duplicate"
    not_a_list = api.post("/metadata/entities", json=deals({"name": "x"}))  # type: ignore[arg-type]
    assert not_a_list.status_code == 400 and not_a_list.get_json()["errors"][0]["field"] == "listeners"


def test_listeners_of_a_changed_definition_apply_at_once(app: Flask, api: Api):
    define(api, INLINE[:1])
    create(api, "deals", {"name": "one"})
    definition = {k: v for k, v in api.get("/metadata/entities/deals").get_json().items()
                  if k not in ("id", "version")}
    definition["listeners"] = []
    assert api.put("/metadata/entities/deals", json=definition).status_code == 200
    create(api, "deals", {"name": "two"})
    assert calls() == [("onCreated", "created", "one", None)]
    time.sleep(0)  # nothing queued in the background either
    assert api.get("/status/jobs?type=EXECUTE_LISTENER").get_json()["total"] == 0
    _ = login


def test_a_cascade_update_fires_the_listeners_of_the_records_it_changes(app: Flask, api: Api):
    owners = {"name": "owners", "recordLabel": "#{name}", "fields": [{"name": "name", "type": "text"}]}
    assert api.post("/metadata/entities", json=owners).status_code == 200
    definition = deals(INLINE[:2])
    definition["fields"].append({"name": "owner", "type": "relationship", "typeRules": {"entity": "owners"}})
    assert api.post("/metadata/entities", json=definition).status_code == 200
    ann = create(api, "owners", {"name": "Ann"})
    create(api, "deals", {"name": "d", "owner": ann["id"]})
    assert calls() == [("onCreated", "created", "d", None)]
    assert api.put(f"/data/owners/{ann['id']}", json={"name": "Anna"}).status_code == 200
    cascades = api.get("/status/jobs?type=CASCADE_UPDATE").get_json()["items"]
    assert len(cascades) == 1 and wait_for_job(api, cascades[0]["id"])["status"] == "FINISHED"
    assert calls() == [("onChanged", "changed", "d", "d")]
    assert api.get("/data/deals?name=d").get_json()["items"][0]["owner"]["label"] == "Anna"


def test_an_import_without_events_starts_cascades_without_events(app: Flask, api: Api):
    """``triggerEvents=false`` on an import reaches the cascade jobs its label changes start: the records they
    rewrite fire no listeners either (the links are refreshed all the same)."""
    owners = {"name": "owners", "recordLabel": "#{name}",
              "fields": [{"name": "code", "type": "text", "unique": True}, {"name": "name", "type": "text"}]}
    assert api.post("/metadata/entities", json=owners).status_code == 200
    definition = deals(INLINE[:2])
    definition["fields"].append({"name": "owner", "type": "relationship", "typeRules": {"entity": "owners"}})
    assert api.post("/metadata/entities", json=definition).status_code == 200
    ann = create(api, "owners", {"code": "A1", "name": "Ann"})
    create(api, "deals", {"name": "d", "owner": ann["id"]})
    calls()
    response = api.post("/data/owners/import", query_string={"triggerEvents": "false"},
                        data={"file": (io.BytesIO(b"code,name\nA1,Anna\n"), "o.csv")},
                        content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    assert wait_for_job(api, response.get_json()["jobId"])["results"]["rowsImported"] == 1
    idle(app)
    cascades = api.get("/status/jobs?type=CASCADE_UPDATE").get_json()["items"]
    assert len(cascades) == 1 and wait_for_job(api, cascades[0]["id"])["status"] == "FINISHED"
    assert api.get("/data/deals?name=d").get_json()["items"][0]["owner"]["label"] == "Anna"
    assert calls() == []


def test_a_condition_limits_every_data_event_of_its_listener(app: Flask, api: Api):
    """§4.4: a data listener's rule is its events and an optional condition: a record that does not match it
    (after the write; for a delete, as it was) fires none of them."""
    define(api, [{"name": "wonOnly", "events": ["created", "changed", "deleted", "actionPerformed"],
                  "condition": {"stage": "won"}, "handler": f"{H}:remember", "background": False}])
    open_deal = create(api, "deals", {"name": "o", "stage": "open"})
    won = create(api, "deals", {"name": "w", "stage": "won"})
    assert calls() == [("wonOnly", "created", "w", None)]
    api.put(f"/data/deals/{open_deal['id']}", json={"amount": 5})
    api.put(f"/data/deals/{won['id']}", json={"amount": 5})
    assert calls() == [("wonOnly", "changed", "w", "w")]
    api.put(f"/data/deals/{open_deal['id']}/close")  # an action that makes it match
    assert calls() == [("wonOnly", "changed", "o", "o"), ("wonOnly", "actionPerformed", "o", "o")]
    api.put(f"/data/deals/{won['id']}/reopen")  # no longer matches after the action
    assert calls() == []
    api.delete(f"/data/deals/{won['id']}")  # open when deleted
    api.delete(f"/data/deals/{open_deal['id']}")  # won when deleted
    assert calls() == [("wonOnly", "deleted", "o", "o")]


def test_a_user_does_not_see_the_listener_and_cascade_jobs_their_writes_start(app: Flask, api: Api):
    """Those jobs carry the whole record (hidden fields too) and name other entities: developers only."""
    from tests.entities.test_permissions import add_group, user_in

    define(api, [{"name": "later", "events": ["changed"], "handler": f"{H}:flaky"}])
    rules = {"api": {"data": True, "jobs": True, "files": True},
             "entities": {"deals": {"access": "always", "edit": "always", "export": True,
                                    "fields": {"amount": "none"}}}}
    user = user_in(app, "dealer@example.com", add_group(app, rules))
    deal = create(api, "deals", {"name": "quiet", "amount": 987654})
    assert user.put(f"/data/deals/{deal['id']}", json={"stage": "won"}).status_code == 200
    listener = api.get("/status/jobs?type=EXECUTE_LISTENER").get_json()["items"]
    assert [j["runBy"]["fullName"] for j in listener] == ["Sales Person"]  # run for the user who wrote
    assert listener[0]["data"]["record"]["amount"] == 987654
    assert user.get("/status/jobs").get_json() == {"total": 0, "offset": None, "items": []}
    assert user.get("/status/jobs?type=EXECUTE_LISTENER").get_json()["total"] == 0
    for path in ("", "/logs"):
        refused = user.get(f"/status/jobs/{listener[0]['id']}{path}")
        assert refused.status_code == 403, refused.get_json()
    assert user.put(f"/status/jobs/{listener[0]['id']}/stop").status_code == 403
    exported = user.put("/data/deals/export")  # a job the user asked for: theirs to see
    assert exported.status_code == 200
    assert [j["type"] for j in user.get("/status/jobs").get_json()["items"]] == ["EXPORT_RECORDS"]
    assert wait_for_job(user, exported.get_json()["jobId"])["status"] == "FINISHED"
