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
