"""Actions: every route × type × sync/async, preconditions, parameters, failures, jobs."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_EMAIL, Api, as_listed, company, create, login, make_app
from tests.conftest import wait_for_job as wait_for
from tests.entities import action_handlers

TEST_ACTIONS = [
    {"name": "explode", "type": "oneRecord", "customResponse": True,
     "handler": "tests.entities.action_handlers:explode_on_b"},
    {"name": "touch", "type": "oneRecord", "handler": "tests.entities.action_handlers:touch_slowly"},
    {"name": "sumSlowly", "type": "manyRecords", "handler": "tests.entities.action_handlers:sum_slowly"},
    {"name": "failMany", "type": "manyRecords", "handler": "tests.entities.action_handlers:fail_many"},
    {"name": "notJson", "type": "oneRecord", "customResponse": True,
     "handler": "tests.entities.action_handlers:not_json"},
    {"name": "notJsonMany", "type": "manyRecords", "handler": "tests.entities.action_handlers:not_json"},
    {"name": "echo", "type": "global", "handler": "tests.entities.action_handlers:params_echo",
     "parameters": [{"name": "count", "type": "integer", "typeRules": {"min": 1}},
                    {"name": "when", "type": "date", "required": True},
                    {"name": "company", "type": "relationship", "typeRules": {"entity": "companies"}}]},
]


@pytest.fixture
def app():
    app = make_app(app_modules=("examples.crm", "tests.entities.action_handlers"))
    api = login(app)
    definition = api.get("/metadata/entities/companies").get_json()
    definition = {k: v for k, v in definition.items() if k not in ("id", "version")}
    definition["actions"] = definition["actions"] + TEST_ACTIONS
    assert api.put("/metadata/entities/companies", json=definition).status_code == 200
    action_handlers.GATE.clear()
    action_handlers.REACHED.clear()
    yield app
    action_handlers.GATE.set()



def test_one_record_declarative_update_with_precondition(api: Api):
    record = create(api, "companies", company(state="inactive"))
    body = api.put(f"/data/companies/{record['id']}/activate").get_json()
    assert body["state"] == "active" and body["version"] == 1 and body["id"] == record["id"]
    again = api.put(f"/data/companies/{record['id']}/activate")
    assert again.status_code == 400 and "precondition" in again.get_json()["message"]


def _performed(api: Api, record_id: str) -> list[str]:
    """The actions run on a record, newest first, from its history."""
    items = api.get(f"/data/companies/{record_id}/history").get_json()["items"]
    return [i["contextPath"].rsplit(".", 1)[-1] for i in items if i["eventType"] == "USER_ACTION_PERFORMED"]


def test_one_record_handler_with_parameters_returns_the_record(api: Api):
    record = create(api, "companies", company())
    response = api.put(f"/data/companies/{record['id']}/logSomething", json={"param1": "a", "param2": "b"})
    assert response.status_code == 200
    body = response.get_json()
    assert body == record  # logSomething only logs: nothing changed, so no new version
    assert _performed(api, record["id"]) == ["logSomething"]
    bad = api.put(f"/data/companies/{record['id']}/logSomething", json={"param1": 5})
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "param1"


def test_custom_response(api: Api):
    record = create(api, "companies", company())
    response = api.put(f"/data/companies/{record['id']}/customResponse")
    assert response.get_json() == "This is a custom response"
    a, b = record, create(api, "companies", company(name="Other"))
    both = api.put(f"/data/companies/{a['id']},{b['id']}/customResponse").get_json()
    assert both == {a["id"]: {"status": "ok", "response": "This is a custom response"},
                    b["id"]: {"status": "ok", "response": "This is a custom response"}}


def test_one_record_action_over_ids_and_query_returns_a_map(api: Api):
    a = create(api, "companies", company(name="A", state="inactive"))
    b = create(api, "companies", company(name="B", state="inactive"))
    by_ids = api.put(f"/data/companies/{a['id']},{b['id']}/logSomething", json={"param1": "x"}).get_json()
    assert set(by_ids) == {a["id"], b["id"]}
    assert by_ids[a["id"]] == {"status": "ok", "response": as_listed(a)}
    assert by_ids[b["id"]] == {"status": "ok", "response": as_listed(b)}
    assert _performed(api, a["id"]) == _performed(api, b["id"]) == ["logSomething"]
    by_query = api.put(f"/data/companies/activate?id={a['id']},{b['id']}").get_json()
    assert {k: v["response"]["state"] for k, v in by_query.items()} == {a["id"]: "active", b["id"]: "active"}


def test_a_repeated_id_runs_a_one_record_action_once(api: Api):
    record = create(api, "companies", company(name="A", numberOfEmployees=1))
    response = api.put(f"/data/companies/{record['id']},{record['id']}/touch")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == [record["id"]] and body[record["id"]]["status"] == "ok"
    assert body[record["id"]]["response"]["numberOfEmployees"] == 2
    stored = api.get(f"/data/companies/{record['id']}").get_json()
    assert stored["numberOfEmployees"] == 2 and stored["version"] == 1


def test_many_records_action_runs_once_with_a_custom_response(api: Api):
    a = create(api, "companies", company(name="A", numberOfEmployees=95))
    b = create(api, "companies", company(name="B", numberOfEmployees=534))
    assert api.put(f"/data/companies/{a['id']}/countEmployees").get_json() == {"numberOfEmployees": 95}
    assert api.put(f"/data/companies/{a['id']},{b['id']}/countEmployees").get_json() == {"numberOfEmployees": 629}
    assert api.put(f"/data/companies/countEmployees?id={a['id']},{b['id']}").get_json() == {"numberOfEmployees": 629}
    assert api.put("/data/companies/countEmployees?name=B").get_json() == {"numberOfEmployees": 534}
    marked = api.put("/data/companies/markAsCustomers?name=A").get_json()
    assert marked == {"recordsUpdated": 1}
    assert api.get(f"/data/companies/{a['id']}").get_json()["isCustomer"] is True
    assert api.get(f"/data/companies/{b['id']}").get_json()["isCustomer"] is False


def test_a_many_records_action_on_one_record_id_that_names_none_is_a_404_before_anything_runs(api: Api):
    """The route of one record answers 404 for a record that does not exist, whatever the action's kind."""
    a = create(api, "companies", company(name="A", numberOfEmployees=95))
    missing = "6b10755b703acf12266ac000"
    for path in (f"/data/companies/{missing}/countEmployees", f"/data/companies/{missing}/markAsCustomers",
                 f"/data/companies/{missing}/countEmployees?_async=true"):
        response = api.put(path)
        assert response.status_code == 404 and response.get_json()["code"] == "notFound", path
    assert api.get("/status/jobs").get_json()["total"] == 0  # no job was queued
    # several ids: the action runs over those that exist, as over a query
    assert api.put(f"/data/companies/{a['id']},{missing}/countEmployees").get_json() == {"numberOfEmployees": 95}


def test_global_action_route(api: Api):
    body = api.put("/data/companies/createSample", json={"name": "Sample"}).get_json()
    assert body["name"] == "Sample" and body["state"] == "pending"
    assert api.get("/data/companies?name=Sample").get_json()["total"] == 1
    record = create(api, "companies", company())
    assert api.put(f"/data/companies/{record['id']}/createSample", json={"name": "x"}).status_code == 400


def test_parameters_are_validated_like_fields(api: Api):
    missing = api.put("/data/companies/echo", json={"count": 0})
    assert missing.status_code == 400
    errors = {e["field"]: e["code"] for e in missing.get_json()["errors"]}
    assert errors == {"count": "invalid", "when": "required"}  # every problem in one 400, as a record write
    several = api.put("/data/companies/echo", json={"count": "abc", "company": "No such company"})
    assert {e["field"]: e["code"] for e in several.get_json()["errors"]} == {
        "count": "invalid", "company": "invalid", "when": "required"}
    unknown = api.put("/data/companies/echo", json={"when": "2024-01-01", "bogus": 1})
    assert unknown.status_code == 400 and unknown.get_json()["errors"][0]["field"] == "bogus"
    acme = create(api, "companies", company(name="Acme"))
    ok = api.put("/data/companies/echo", json={"when": "2024-01-01", "count": 2, "company": "Acme"}).get_json()
    assert ok["params"] == {"count": 2, "when": "2024-01-01", "company": {"id": acme["id"], "label": "Acme"}}
    assert ok["user"] == ADMIN_EMAIL
    assert api.put("/data/companies/echo", data="{bad").status_code == 400


def test_failing_handler_does_not_stop_the_others(api: Api):
    a = create(api, "companies", company(name="A"))
    b = create(api, "companies", company(name="B"))
    c = create(api, "companies", company(name="C"))
    body = api.put(f"/data/companies/{a['id']},{b['id']},{c['id']}/explode").get_json()
    assert body[a["id"]] == {"status": "ok", "response": "ok:A"}
    assert body[c["id"]] == {"status": "ok", "response": "ok:C"}
    assert body[b["id"]]["status"] == "error" and "cannot handle B" in body[b["id"]]["errorMessage"]
    assert "Traceback" not in body[b["id"]]["errorMessage"]
    single = api.put(f"/data/companies/{b['id']}/explode")
    assert single.status_code == 400 and "cannot handle B" in single.get_json()["message"]


def test_a_response_that_is_not_json_is_a_400_and_nothing_is_recorded(api: Api):
    record = create(api, "companies", company())
    for path in (f"/data/companies/{record['id']}/notJson", "/data/companies/notJsonMany?name=Test%201"):
        response = api.put(path)
        assert response.status_code == 400, response.get_json()
        body = response.get_json()
        assert body["code"] == "actionFailed" and "cannot be converted to JSON" in body["message"], body
    other = create(api, "companies", company(name="Other"))
    both = api.put(f"/data/companies/{record['id']},{other['id']}/notJson").get_json()
    assert {v["status"] for v in both.values()} == {"error"} and "JSON" in both[record["id"]]["errorMessage"]
    assert _performed(api, record["id"]) == _performed(api, other["id"]) == []


def test_handler_writes_to_another_entity_with_history(api: Api):
    record = create(api, "companies", company(numberOfEmployees=1))
    contact = api.put(f"/data/companies/{record['id']}/addContact", json={"firstName": "Ada", "lastName": "L"})
    assert contact.status_code == 200
    body = contact.get_json()
    assert body["label"] == "Ada L" and body["company"]["id"] == record["id"]
    assert api.get(f"/data/companies/{record['id']}").get_json()["numberOfEmployees"] == 2
    entry = api.get(f"/data/contacts/{body['id']}/history").get_json()["items"][0]
    assert entry["eventType"] == "SCRIPT_RECORD_CREATED"
    assert entry["contextPath"] == "entities.companies.actions.addContact"


def test_history_records_the_action_and_the_change(api: Api):
    record = create(api, "companies", company(state="inactive"))
    api.put(f"/data/companies/{record['id']}/activate")
    items = api.get(f"/data/companies/{record['id']}/history").get_json()["items"]
    assert [i["eventType"] for i in items] == ["USER_ACTION_PERFORMED", "USER_RECORD_CHANGED", "USER_RECORD_CREATED"]
    assert items[0]["contextPath"] == "entities.companies.actions.activate"
    assert items[1]["newRecord"]["state"]["json"] == "active"


def test_unknown_action_entity_or_record(api: Api):
    record = create(api, "companies", company())
    assert api.put(f"/data/companies/{record['id']}/nope").status_code == 404
    assert api.put("/data/companies/nope").status_code == 404
    assert api.put("/data/ghosts/nope").status_code == 404
    assert api.put("/data/companies/5f0000000000000000000000/logSomething").status_code == 404


def test_handlers_outside_app_modules_are_refused(api: Api):
    definition = {"name": "evil", "fields": [{"name": "t", "type": "text"}],
                  "actions": [{"name": "run", "handler": "os:system"}]}
    response = api.put("/metadata/entities/evil", json=definition)
    assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == "actions[0].handler"
    for bad in ({"name": "x", "handler": "examples.crm:nothing"}, {"name": "x", "type": "weird", "update": {"t": 1}},
                {"name": "x"}, {"name": "x", "update": {"missing": 1}}):
        definition["actions"] = [bad]
        assert api.put("/metadata/entities/evil", json=definition).status_code == 400, bad


def test_update_values_take_parameters_by_reference(api: Api):
    definition = {"name": "act", "fields": [{"name": "t", "type": "text"}, {"name": "n", "type": "integer"},
                                            {"name": "note", "type": "text"}],
                  "actions": [{"name": "setT", "parameters": [{"name": "p", "type": "text"},
                                                                {"name": "k", "type": "integer"}],
                               "update": {"t": "#{p}", "n": "#{ k }", "note": "p=#{p}, k=#{k}."}},
                              {"name": "byParam", "parameters": [{"name": "p", "type": "text"}],
                               "update": {"t": {"param": "p"}}}]}
    assert api.put("/metadata/entities/act", json=definition).status_code == 200
    record = create(api, "act", {"t": "x"})
    done = api.put(f"/data/act/{record['id']}/setT", json={"p": "hello", "k": 7})
    assert done.status_code == 200, done.get_json()
    assert {k: done.get_json()[k] for k in ("t", "n", "note")} == {"t": "hello", "n": 7, "note": "p=hello, k=7."}
    unset = api.put(f"/data/act/{record['id']}/setT", json={"p": "again"}).get_json()
    assert (unset["t"], unset["n"], unset["note"]) == ("again", None, "p=again, k=.")
    assert api.put(f"/data/act/{record['id']}/byParam", json={"p": "direct"}).get_json()["t"] == "direct"
    for update in ({"t": "#{zzz}"}, {"t": "before #{p} and #{other}"}, {"t": {"param": "zzz"}}):
        definition["actions"][1]["update"] = update
        refused = api.put("/metadata/entities/act", json=definition)
        assert refused.status_code == 400, update
        assert [e["field"] for e in refused.get_json()["errors"]] == ["actions[1].update.t"], refused.get_json()


def test_more_than_the_sync_limit_needs_async():
    app = make_app(sync_max_records=3)
    api = login(app)
    ids = [create(api, "companies", company(name=f"n{i}"))["id"] for i in range(4)]
    response = api.put("/data/companies/logSomething")
    assert response.status_code == 400 and "_async" in response.get_json()["message"]
    assert api.put(f"/data/companies/{','.join(ids)}/logSomething").status_code == 400
    job = api.put("/data/companies/logSomething?_async=true", json={"param1": "z"}).get_json()
    finished = wait_for(api, job["jobId"])
    assert finished["status"] == "FINISHED" and finished["recordsProcessed"] == 4
    assert all(_performed(api, i) == ["logSomething"] for i in ids)


def test_async_one_record_actions_put_a_result_map_in_the_job(api: Api):
    a = create(api, "companies", company(name="A"))
    b = create(api, "companies", company(name="B"))
    for path in (f"/data/companies/{a['id']}/explode?_async=true",
                 f"/data/companies/{a['id']},{b['id']}/explode?_async=true",
                 f"/data/companies/explode?_async=true&id={a['id']},{b['id']}"):
        response = api.put(path)
        assert response.status_code == 200
        link = response.get_json()
        assert link["jobLink"] == f"/api/status/jobs/{link['jobId']}"
        job = wait_for(api, link["jobId"])
        assert job["type"] == "EXECUTE_ACTION" and job["data"]["actionName"] == "explode"
        results = job["results"]["results"]
        assert results[a["id"]] == {"status": "ok", "response": "ok:A"}
        if b["id"] in results:
            assert results[b["id"]]["status"] == "error" and job["hasErrors"] is True


def test_async_one_record_action_over_ids_reports_missing_and_malformed_ids_as_the_sync_run_does(api: Api):
    a = create(api, "companies", company(name="A"))
    gone = "6b101fdae1bff40bb7d63000"
    path = f"/data/companies/{a['id']},{gone},not-an-id/explode"
    sync = api.put(path).get_json()
    job = wait_for(api, api.put(f"{path}?_async=true").get_json()["jobId"])
    assert job["status"] == "FINISHED" and job["hasErrors"] is True
    assert job["results"]["results"] == sync  # the ok record, and an error entry for each of the other two
    assert sync[a["id"]] == {"status": "ok", "response": "ok:A"}
    assert sync[gone]["status"] == sync["not-an-id"]["status"] == "error"
    assert job["recordsCount"] == job["recordsProcessed"] == 3  # as an async delete of the same ids counts
    errors = api.get(f"/status/jobs/{job['id']}/logs?level=ERROR").get_json()["items"]
    assert sorted(e["message"] for e in errors) == sorted(
        f"Record {rid}: {sync[rid]['errorMessage']}" for rid in (gone, "not-an-id"))


def test_async_many_records_and_global(api: Api):
    create(api, "companies", company(name="A", numberOfEmployees=5))
    job = wait_for(api, api.put("/data/companies/countEmployees?_async=true").get_json()["jobId"])
    assert job["results"] == {"results": {"status": "ok", "response": {"numberOfEmployees": 5}}}
    job = wait_for(api, api.put("/data/companies/createSample?_async=true", json={"name": "Bg"}).get_json()["jobId"])
    assert job["results"]["results"]["response"]["name"] == "Bg"


def test_a_failing_many_records_job_reports_the_error_in_its_results(api: Api):
    create(api, "companies", company(name="A"))
    sync = api.put("/data/companies/failMany?name=A")
    assert sync.status_code == 400 and sync.get_json()["code"] == "actionFailed"
    job = wait_for(api, api.put("/data/companies/failMany?_async=true&name=A").get_json()["jobId"])
    assert job["status"] == "FINISHED" and job["hasErrors"] is True
    assert job["results"] == {"results": {"status": "error", "errorMessage": sync.get_json()["message"]}}
    logs = api.get(f"/status/jobs/{job['id']}/logs?level=ERROR").get_json()["items"]
    assert [item["message"] for item in logs] == [f"The job failed: {sync.get_json()['message']}"]


def test_stop_and_resume_a_long_async_action(app, api: Api):
    svc = app.extensions["runtime"]
    col = svc.records.collection("companies")
    for i in range(500):
        create(api, "companies", {"name": f"r{i}", "numberOfEmployees": 0})
    job_id = api.put("/data/companies/touch?_async=true").get_json()["jobId"]
    assert action_handlers.REACHED.wait(timeout=30)
    stopping = api.put(f"/status/jobs/{job_id}/stop").get_json()
    assert stopping["status"] == "STOPPING"
    action_handlers.GATE.set()
    stopped = wait_for(api, job_id, ("STOPPED",))
    assert 0 < stopped["recordsProcessed"] < 500
    assert api.put(f"/status/jobs/{job_id}/resume").status_code == 200
    done = wait_for(api, job_id, ("FINISHED",))
    assert done["recordsProcessed"] == 500 and done["hasErrors"] is False
    counts = {d["numberOfEmployees"] for d in col.find({}, {"numberOfEmployees": 1})}
    assert counts == {1}  # every record touched exactly once across the stop and the resume


def test_stop_and_resume_a_many_records_handler(app, api: Api):
    for i in range(500):
        create(api, "companies", {"name": f"r{i}"})
    job_id = api.put("/data/companies/sumSlowly?_async=true").get_json()["jobId"]
    assert action_handlers.REACHED.wait(timeout=30)
    api.put(f"/status/jobs/{job_id}/stop")
    action_handlers.GATE.set()
    stopped = wait_for(api, job_id, ("STOPPED",))
    assert stopped["recordsProcessed"] > 0
    api.put(f"/status/jobs/{job_id}/resume")
    done = wait_for(api, job_id, ("FINISHED",))
    assert done["recordsProcessed"] == 500
    assert 0 < done["results"]["results"]["response"]["counted"] < 500  # the resumed run counts what was left
    logs = api.get(f"/status/jobs/{job_id}/logs").get_json()["items"]
    assert any("counted" in item["message"] for item in logs)


def test_set_based_update_on_an_entity_without_history_keeps_versions_and_labels(api: Api):
    definition = {"name": "tasks", "history": False,
                  "fields": [{"name": "title", "type": "text"}, {"name": "done", "type": "boolean"},
                             {"name": "modified", "type": "modifiedDate"}],
                  "actions": [{"name": "finish", "type": "manyRecords", "update": {"done": True}}]}
    assert api.put("/metadata/entities/tasks", json=definition).status_code == 200
    first = create(api, "tasks", {"title": "write", "done": False})
    second = create(api, "tasks", {"title": "read", "done": False})

    assert api.put("/data/tasks/finish?title=write").status_code == 200
    after = api.get(f"/data/tasks/{first['id']}").get_json()
    assert after["done"] is True and after["version"] == first["version"] + 1 and after["label"] == "write"
    assert after["modified"] >= first["modified"]
    assert api.get(f"/data/tasks/{second['id']}").get_json()["done"] is False
    stale = api.put(f"/data/tasks/{first['id']}", json={"title": "x", "version": first["version"]})
    assert stale.status_code == 409
