"""Files under group permissions: a file field takes only the caller's own uploads (or files a record they may
access already holds), so a guessed upload id can neither be attached nor downloaded."""

from __future__ import annotations

import base64
import io

import pytest
from flask import Flask

from tests.conftest import Api
from tests.entities.test_permissions import add_group, user_in

DOCUMENTS = {
    "name": "documents", "recordLabel": "#{title}",
    "fields": [
        {"name": "title", "type": "text"},
        {"name": "attachment", "type": "file"},
        {"name": "sections", "type": "nestedFields", "multiplicity": "many",
         "nestedFields": [{"name": "heading", "type": "text"}, {"name": "scan", "type": "file"}]},
    ],
}
OPEN = {"api": {"data": True, "files": True, "uploadFiles": True, "jobs": True},
        "entities": {"documents": {"access": {"when": {"title": "shared"}}, "create": "always",
                                   "edit": "always", "delete": "always"}}}


def upload(user: Api, content: bytes) -> str:
    response = user.post("/files", data={"file": (io.BytesIO(content), "secret.txt", "text/plain")},
                         content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["fileId"]


@pytest.fixture
def users(app: Flask, api: Api) -> tuple[Api, Api]:
    assert api.put("/metadata/entities/documents", json=DOCUMENTS).status_code == 200
    gid = add_group(app, OPEN)
    return user_in(app, "alice@example.com", gid), user_in(app, "bob@example.com", gid)


def test_a_user_cannot_attach_or_download_another_users_upload(users: tuple[Api, Api], api: Api):
    alice, bob = users
    secret = upload(alice, b"alice's payslip")
    for body in ({"title": "shared", "attachment": secret},
                 {"title": "shared", "attachment": {"id": secret, "name": "x.txt"}},
                 {"title": "shared", "sections": [{"heading": "h", "scan": secret}]}):
        refused = bob.post("/data/documents", json=body)
        assert refused.status_code == 400, refused.get_json()
        error = refused.get_json()["errors"][0]
        assert error["field"] in ("attachment", "sections[0].scan") and error["code"] == "invalid"
    own = bob.post("/data/documents", json={"title": "shared"}).get_json()
    assert bob.put(f"/data/documents/{own['id']}", json={"attachment": secret}).status_code == 400
    assert api.get("/data/documents").get_json()["total"] == 1  # nothing half-written
    assert api.get(f"/data/documents/{own['id']}").get_json()["attachment"] is None
    assert bob.get(f"/files/{secret}").status_code == 403
    assert bob.get(f"/data/documents/{own['id']}/files/{secret}").status_code == 404
    assert bob.put(f"/files/{secret}/share").status_code == 403
    assert alice.get(f"/files/{secret}").data == b"alice's payslip"


def test_own_uploads_and_files_of_accessible_records_can_be_attached(users: tuple[Api, Api], api: Api):
    alice, bob = users
    mine = upload(bob, b"bob's")
    made = bob.post("/data/documents", json={"title": "shared", "attachment": mine})
    assert made.status_code == 200, made.get_json()
    inline = bob.post("/data/documents", json={"title": "private", "attachment": {
        "name": "i.txt", "contentType": "text/plain", "content": base64.b64encode(b"inline").decode()}})
    assert inline.status_code == 200, inline.get_json()
    private_file = inline.get_json()["attachment"]["id"]
    # alice may access the shared record, so she may reuse its file (and download it through the record)
    copy = alice.post("/data/documents", json={"title": "shared", "attachment": mine})
    assert copy.status_code == 200, copy.get_json()
    assert alice.get(f"/data/documents/{copy.get_json()['id']}/files/{mine}").data == b"bob's"
    # the private record is outside her access: its inline-uploaded file (owned by bob) is not hers to take
    assert alice.post("/data/documents", json={"title": "shared", "attachment": private_file}).status_code == 400
    # a developer attaches anything
    assert api.post("/data/documents", json={"title": "dev", "attachment": private_file}).status_code == 200
    # keeping a file already on the record is fine for whoever may edit it
    kept = alice.put(f"/data/documents/{made.get_json()['id']}", json={"title": "shared", "attachment": mine})
    assert kept.status_code == 200, kept.get_json()


def _inline(text: bytes) -> dict[str, str]:
    return {"name": "i.txt", "contentType": "text/plain", "content": base64.b64encode(text).decode()}


def test_a_user_who_may_not_upload_cannot_store_a_file_inline_either(app: Flask, api: Api):
    """``api.uploadFiles: false`` closes every way to store a file: ``POST /files``, a file field's inline
    content (create, update, in a nested group) and an action's file parameter; nothing is stored."""
    attach = {"name": "attach", "type": "oneRecord", "parameters": [{"name": "file", "type": "file"}],
              "update": {"attachment": {"param": "file"}}}
    assert api.put("/metadata/entities/documents", json={**DOCUMENTS, "actions": [attach]}).status_code == 200
    rules = {**OPEN, "api": {**OPEN["api"], "uploadFiles": False},
             "entities": {"documents": {**OPEN["entities"]["documents"], "actions": {"attach": "always"}}}}
    user = user_in(app, "noupload@example.com", add_group(app, rules))
    stored = app.extensions["runtime"].store.collection("files.files")
    before = stored.count_documents({})
    direct = user.post("/files", data={"file": (io.BytesIO(b"x"), "x.txt", "text/plain")},
                       content_type="multipart/form-data")
    assert direct.status_code == 403
    record = user.post("/data/documents", json={"title": "shared"}).get_json()
    for method, path, body in (
            ("post", "/data/documents", {"title": "shared", "attachment": _inline(b"create")}),
            ("post", "/data/documents", {"title": "shared", "sections": [{"heading": "h", "scan": _inline(b"n")}]}),
            ("put", f"/data/documents/{record['id']}", {"attachment": _inline(b"update")}),
            ("put", f"/data/documents/{record['id']}/attach", {"file": _inline(b"action")})):
        refused = getattr(user, method)(path, json=body)
        assert refused.status_code == 403, (path, refused.get_json())
        assert refused.get_json() == direct.get_json()
    assert stored.count_documents({}) == before  # no file left behind
    assert api.get("/data/documents").get_json()["total"] == 1
    assert api.get(f"/data/documents/{record['id']}").get_json()["attachment"] is None
    allowed = user_in(app, "uploader@example.com", add_group(app, {**rules, "api": OPEN["api"]}))
    made = allowed.put(f"/data/documents/{record['id']}/attach", json={"file": _inline(b"action")})
    assert made.status_code == 200, made.get_json()


def test_a_file_held_only_in_a_hidden_field_is_forbidden_and_one_not_held_is_not_found(app: Flask, api: Api):
    assert api.put("/metadata/entities/documents", json=DOCUMENTS).status_code == 200
    rules = {**OPEN, "entities": {"documents": {**OPEN["entities"]["documents"], "fields": {"attachment": "none"}}}}
    user = user_in(app, "reader@example.com", add_group(app, rules))
    record = api.post("/data/documents", json={"title": "shared", "attachment": _inline(b"secret"),
                                               "sections": [{"heading": "h", "scan": _inline(b"scan")}]}).get_json()
    secret, scan = record["attachment"]["id"], record["sections"][0]["scan"]["id"]
    other = api.post("/data/documents", json={"title": "shared", "attachment": _inline(b"other")}).get_json()
    hidden = user.get(f"/data/documents/{record['id']}/files/{secret}")
    assert hidden.status_code == 403, hidden.get_json()
    assert hidden.get_json()["message"] == "Provided token does not have permissions to access specified file"
    assert user.get(f"/data/documents/{record['id']}/files/{scan}").data == b"scan"
    assert user.get(f"/data/documents/{record['id']}/files/{other['attachment']['id']}").status_code == 404
    assert api.get(f"/data/documents/{record['id']}/files/{secret}").data == b"secret"


def test_a_file_held_in_a_hidden_field_cannot_be_moved_to_a_visible_one(app: Flask, api: Api):
    assert api.put("/metadata/entities/documents", json=DOCUMENTS).status_code == 200
    rules = {**OPEN, "entities": {"documents": {**OPEN["entities"]["documents"], "fields": {"attachment": "none"}}}}
    user = user_in(app, "mover@example.com", add_group(app, rules))
    record = api.post("/data/documents", json={"title": "shared", "attachment": _inline(b"secret"),
                                               "sections": [{"heading": "h", "scan": _inline(b"scan")}]}).get_json()
    secret, scan = record["attachment"]["id"], record["sections"][0]["scan"]["id"]
    moved = user.put(f"/data/documents/{record['id']}", json={"sections": [{"heading": "h", "scan": secret}]})
    assert moved.status_code == 400, moved.get_json()
    assert [(e["field"], e["code"]) for e in moved.get_json()["errors"]] == [("sections[0].scan", "invalid")]
    assert user.get(f"/data/documents/{record['id']}/files/{secret}").status_code == 403
    stored = api.get(f"/data/documents/{record['id']}").get_json()
    assert stored["attachment"]["id"] == secret and stored["sections"][0]["scan"]["id"] == scan
    # the hidden file stays where it is through the user's other writes, and a visible one may move
    kept = user.put(f"/data/documents/{record['id']}", json={"title": "shared", "sections": [
        {"heading": "h2", "scan": scan}, {"heading": "h3", "scan": scan}]})
    assert kept.status_code == 200, kept.get_json()
    assert api.get(f"/data/documents/{record['id']}").get_json()["attachment"]["id"] == secret


def test_an_action_file_parameter_takes_only_a_file_the_caller_may_use(app: Flask, api: Api):
    box = {**DOCUMENTS, "actions": [{"name": "attach", "type": "oneRecord",
                                     "parameters": [{"name": "f", "type": "file", "required": True}],
                                     "update": {"attachment": {"param": "f"}}}]}
    assert api.put("/metadata/entities/documents", json=box).status_code == 200
    rules = {**OPEN, "entities": {"documents": {**OPEN["entities"]["documents"], "actions": {"attach": "always"}}}}
    gid = add_group(app, rules)
    alice, bob = user_in(app, "a1@example.com", gid), user_in(app, "b1@example.com", gid)
    private = bob.post("/data/documents", json={"title": "private", "attachment": _inline(b"bob only")})
    assert private.status_code == 200, private.get_json()
    foreign = private.get_json()["attachment"]["id"]
    mine = alice.post("/data/documents", json={"title": "shared"}).get_json()
    refused = alice.put(f"/data/documents/{mine['id']}/attach", json={"f": foreign})
    assert refused.status_code == 400, refused.get_json()
    assert [(e["field"], e["code"]) for e in refused.get_json()["errors"]] == [("f", "invalid")]
    assert api.get(f"/data/documents/{mine['id']}").get_json()["attachment"] is None
    assert alice.get(f"/data/documents/{mine['id']}/files/{foreign}").status_code == 404
    own = upload(alice, b"alice's")
    ran = alice.put(f"/data/documents/{mine['id']}/attach", json={"f": own})
    assert ran.status_code == 200, ran.get_json()
    assert alice.get(f"/data/documents/{mine['id']}/files/{own}").data == b"alice's"
