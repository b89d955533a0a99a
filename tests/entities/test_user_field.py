"""The ``user`` field type: written by id or email, read as {id, label}, filtered by id or label, and
``typeRules.setOn`` filling it with the caller."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_EMAIL, Api, create, wait_for_job

TASKS = {"name": "tasks", "label": "Tasks", "fields": [
    {"name": "title", "type": "text"},
    {"name": "assignee", "type": "user"},
    {"name": "owner", "type": "user", "typeRules": {"setOn": "create"}},
    {"name": "editor", "type": "user", "typeRules": {"setOn": "write"}},
]}


@pytest.fixture
def tasks(api: Api) -> Api:
    response = api.post("/metadata/entities", json=TASKS)
    assert response.status_code == 200, response.get_json()
    return api


def ids(api: Api, query: str) -> list[str]:
    response = api.get(f"/data/tasks?{query}")
    assert response.status_code == 200, response.get_json()
    return [r["title"] for r in response.get_json()["items"]]


def test_written_by_email_or_id_read_as_id_and_label(tasks: Api, user_api: Api):
    user = tasks.get("/users/user@example.com").get_json()
    by_email = tasks.post("/data/tasks", json={"title": "a", "assignee": "USER@example.com"}).get_json()
    assert by_email["assignee"] == {"id": user["id"], "label": "Regular User"}
    by_id = tasks.post("/data/tasks", json={"title": "b", "assignee": {"id": user["id"]}}).get_json()
    assert by_id["assignee"] == by_email["assignee"]
    assert tasks.get(f"/data/tasks/{by_id['id']}").get_json()["assignee"] == by_email["assignee"]


def test_bad_user_references_are_field_errors(tasks: Api):
    for value in ("ghost@example.com", "6b0404aca7408a15fb0c93ee", "not-a-user", 5):
        response = tasks.post("/data/tasks", json={"title": "x", "assignee": value})
        assert response.status_code == 400, value
        assert response.get_json()["errors"][0]["field"] == "assignee"
    assert tasks.get("/data/tasks").get_json()["total"] == 0


def test_filters_by_id_and_label(tasks: Api, user_api: Api):
    user = tasks.get("/users/user@example.com").get_json()
    tasks.post("/data/tasks", json={"title": "mine", "assignee": user["id"]})
    tasks.post("/data/tasks", json={"title": "admin's", "assignee": ADMIN_EMAIL})
    assert ids(tasks, f"assignee={user['id']}") == ["mine"]
    assert ids(tasks, f"assignee.id={user['id']}") == ["mine"]
    assert ids(tasks, "assignee.label=Regular%20User") == ["mine"]
    assert ids(tasks, "assignee.label=like(regular)") == ["mine"]
    assert tasks.get("/data/tasks?assignee=nope").status_code == 400
    assert tasks.get("/data/tasks?assignee.email=x").status_code == 400


def test_set_on_create_and_write_fill_the_caller(tasks: Api, user_api: Api):
    created = user_api.post("/data/tasks", json={"title": "t"})
    assert created.status_code == 200, created.get_json()
    record = created.get_json()
    me = user_api.get("/auth/me").get_json()
    assert record["owner"] == {"id": me["id"], "label": "Regular User"}
    assert record["editor"] == record["owner"]
    updated = tasks.put(f"/data/tasks/{record['id']}", json={"title": "t2"}).get_json()
    assert updated["owner"] == record["owner"]  # set on create only
    assert updated["editor"]["label"] == "Admin"  # set on every write
    admin_id = tasks.get("/auth/me").get_json()["id"]
    assert ids(tasks, f"owner={me['id']}") == ["t2"] and ids(tasks, f"editor={admin_id}") == ["t2"]


def test_set_on_fields_reject_client_values(tasks: Api):
    for field in ("owner", "editor"):
        response = tasks.post("/data/tasks", json={"title": "t", field: ADMIN_EMAIL})
        assert response.status_code == 400
        assert response.get_json()["errors"][0]["field"] == field
        assert response.get_json()["errors"][0]["code"] == "readOnly"
    record = tasks.post("/data/tasks", json={"title": "t"}).get_json()
    refused = tasks.put(f"/data/tasks/{record['id']}", json={"owner": "user@example.com"})
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["code"] == "readOnly"


def test_set_on_fields_sent_back_as_read_are_accepted(tasks: Api, user_api: Api):
    """A record sent back as read (or naming the same user by id) keeps its owner; another user is refused."""
    record = user_api.post("/data/tasks", json={"title": "t"}).get_json()
    read = tasks.get(f"/data/tasks/{record['id']}").get_json()
    again = tasks.put(f"/data/tasks/{record['id']}", json={**read, "title": "t2"})
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["owner"] == record["owner"] and again.get_json()["editor"]["label"] == "Admin"
    same = tasks.put(f"/data/tasks/{record['id']}", json={"owner": record["owner"]["id"]})
    assert same.status_code == 200 and same.get_json()["owner"] == record["owner"]
    refused = tasks.put(f"/data/tasks/{record['id']}", json={"owner": again.get_json()["editor"]})
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["code"] == "readOnly"


def test_set_on_is_checked_in_metadata(api: Api):
    for fields in ([{"name": "t", "type": "text", "typeRules": {"setOn": "create"}}],
                   [{"name": "u", "type": "user", "typeRules": {"setOn": "sometimes"}}]):
        response = api.post("/metadata/entities", json={"name": "bad", "fields": fields})
        assert response.status_code == 400, fields
        assert response.get_json()["errors"][0]["field"].endswith("setOn")


def test_a_deleted_user_keeps_its_label_on_records(tasks: Api, user_api: Api):
    record = tasks.post("/data/tasks", json={"title": "t", "assignee": "user@example.com"}).get_json()
    assert tasks.delete("/users/user@example.com").status_code == 200
    updated = tasks.put(f"/data/tasks/{record['id']}", json={"title": "t2"})
    assert updated.status_code == 200 and updated.get_json()["assignee"]["label"] == "Regular User"


def cascade_jobs(api: Api) -> list[dict]:
    return api.get("/status/jobs?type=CASCADE_UPDATE").get_json()["items"]


@pytest.fixture
def more_tasks(api: Api) -> Api:
    """Tasks with history, a multi-valued user field and a user field in a nested group."""
    fields = [*TASKS["fields"], {"name": "watchers", "type": "user", "multiplicity": "many"},
              {"name": "steps", "type": "nestedFields", "multiplicity": "many",
               "nestedFields": [{"name": "doer", "type": "user"}]}]
    assert api.post("/metadata/entities", json={**TASKS, "history": True, "fields": fields}).status_code == 200
    return api


def test_a_renamed_user_shows_the_new_name_in_every_user_field(more_tasks: Api, user_api: Api):
    """As a relationship's label follows its record: one CASCADE_UPDATE job per user field holding the user."""
    api = more_tasks
    record = create(user_api, "tasks", {"title": "t", "assignee": "user@example.com", "steps": [
        {"doer": "user@example.com"}], "watchers": [ADMIN_EMAIL, "user@example.com"]})
    other = create(api, "tasks", {"title": "other", "assignee": ADMIN_EMAIL})
    assert api.put("/users/user@example.com", json={"lastName": "Renamed"}).status_code == 200
    jobs = cascade_jobs(api)
    assert len(jobs) == 5  # assignee, owner, editor, watchers, steps.doer; none for a field not holding the user
    for job in jobs:
        assert wait_for_job(api, job["id"])["status"] == "FINISHED"
    renamed = {"id": record["owner"]["id"], "label": "Regular Renamed"}
    after = api.get(f"/data/tasks/{record['id']}").get_json()
    assert after["assignee"] == after["owner"] == after["editor"] == after["steps"][0]["doer"] == renamed
    assert after["watchers"] == [record["watchers"][0], renamed]
    assert ids(api, "owner.label=Regular%20Renamed") == ids(api, "assignee.label=Regular%20Renamed") == ["t"]
    assert ids(api, "owner.label=Regular%20User") == []
    history = api.get(f"/data/tasks/{record['id']}/history").get_json()["items"]
    assert "SYSTEM_CASCADE_UPDATE" in [h["eventType"] for h in history]
    assert api.get(f"/data/tasks/{other['id']}").get_json()["version"] == 0
    assert api.put("/users/user@example.com", json={"firstName": "Regular"}).status_code == 200
    assert len(cascade_jobs(api)) == 5  # the full name did not change: no job


def test_written_by_full_name_when_one_user_has_it(app, tasks: Api, user_api: Api):
    user = tasks.get("/users/user@example.com").get_json()
    for value in ("Regular User", {"label": "Regular User"}):
        response = tasks.post("/data/tasks", json={"title": "n", "assignee": value})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["assignee"] == {"id": user["id"], "label": "Regular User"}
    nobody = tasks.post("/data/tasks", json={"title": "x", "assignee": "Nobody Here"})
    assert nobody.status_code == 400
    assert nobody.get_json()["errors"][0]["message"] == "No user is named 'Nobody Here'"
    app.extensions["runtime"].auth.create_user("twin@example.com", "twin-password", "Regular", "User")
    twins = tasks.post("/data/tasks", json={"title": "x", "assignee": "Regular User"})
    assert twins.status_code == 400
    error = twins.get_json()["errors"][0]
    assert error["field"] == "assignee" and "write their email" in error["message"]


def test_a_csv_export_of_user_fields_imports_back(tasks: Api, user_api: Api):
    """The export writes a user's full name; the import finds the user by it."""
    import csv
    import io
    from urllib.parse import urlparse

    user = tasks.get("/users/user@example.com").get_json()
    tasks.post("/data/tasks", json={"title": "a", "assignee": "user@example.com"})
    job = wait_for_job(tasks, tasks.put("/data/tasks/export?_fields=title,assignee").get_json()["jobId"])
    link = urlparse(job["results"]["fileLink"]).path
    text = tasks.client.get(link, headers={"token": tasks.token}).get_data(as_text=True)
    assert list(csv.reader(io.StringIO(text))) == [["Title", "Assignee"], ["a", "Regular User"]]
    assert tasks.delete("/data/tasks?title=a").status_code == 200
    response = tasks.post("/data/tasks/import", data={"file": (io.BytesIO(text.encode()), "t.csv")},
                          content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    done = wait_for_job(tasks, response.get_json()["jobId"])
    assert done["results"] == {"rowsImported": 1, "rowsWithErrors": 0}, done
    assert tasks.get("/data/tasks?title=a").get_json()["items"][0]["assignee"] == {"id": user["id"],
                                                                                   "label": "Regular User"}
