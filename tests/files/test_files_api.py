"""Files through HTTP: upload, download, record files, sharing, errors, and the sweep of unreferenced uploads."""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
import random
import re
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

import pytest
from bson import ObjectId
from flask import Flask

from core.storage import drop_embedded
from files.storage import CHUNK_SIZE
from tests.conftest import Api, create, login, make_app, wait_for_job

DOCUMENTS = {
    "name": "documents", "recordLabel": "#{title}",
    "fields": [
        {"name": "title", "type": "text"},
        {"name": "attachment", "type": "file"},
        {"name": "extras", "type": "file", "multiplicity": "many"},
        {"name": "sections", "type": "nestedFields", "multiplicity": "many",
         "nestedFields": [{"name": "heading", "type": "text"}, {"name": "scan", "type": "file"}]},
    ],
}
BIG = random.Random(7).randbytes(CHUNK_SIZE * 5 + 1234)  # ~1.3 MB, crosses several chunks


@pytest.fixture
def docs(api: Api) -> Api:
    assert api.put("/metadata/entities/documents", json=DOCUMENTS).status_code == 200
    return api


def upload(api: Api, content: bytes, filename: str = "notes.txt", content_type: str | None = "text/plain",
           field: str = "file") -> str:
    part = (io.BytesIO(content), filename, content_type) if content_type else (io.BytesIO(content), filename)
    response = api.post("/files", data={field: part}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body == {"fileId": body["fileId"], "fileLink": f"/files/{body['fileId']}"}
    assert ObjectId.is_valid(body["fileId"])
    return body["fileId"]


def stored(app: Flask, collection: str) -> Any:
    return app.extensions["runtime"].store.collection(collection)


def assert_download(response: Any, content: bytes, filename: str) -> None:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/force-download"
    assert response.headers["Content-Disposition"] == f"attachment; filename={filename}"
    assert response.headers["Content-Length"] == str(len(content))
    assert response.data == content


# --- upload and download ------------------------------------------------------------------------------


def test_upload_then_download_is_byte_exact(api: Api):
    file_id = upload(api, b"this is the content of the file", "file.ext")
    response = api.get(f"/files/{file_id}")
    assert_download(response, b"this is the content of the file", "file.ext")
    assert response.headers["X-File-Content-Type"] == "text/plain"


def test_large_binary_file_is_stored_in_chunks_and_streamed_back(app: Flask, api: Api):
    file_id = upload(api, BIG, "photo.bin", "application/octet-stream")
    chunks = list(stored(app, "files.chunks").find({"files_id": ObjectId(file_id)}).sort("n", 1))
    assert len(chunks) == math.ceil(len(BIG) / CHUNK_SIZE) == 6
    assert all(len(c["data"]) == CHUNK_SIZE for c in chunks[:-1])
    doc = stored(app, "files.files").find_one({"_id": ObjectId(file_id)})
    assert doc["length"] == len(BIG) and doc["filename"] == "photo.bin"
    response = api.get(f"/files/{file_id}")
    assert response.is_streamed
    assert_download(response, BIG, "photo.bin")


def test_content_type_is_kept_or_guessed_from_the_name(api: Api):
    given = upload(api, b"%PDF-1.4", "report.pdf", "application/pdf")
    guessed = upload(api, b"<p>hi</p>", "page.html", None)
    assert api.get(f"/files/{given}").headers["X-File-Content-Type"] == "application/pdf"
    assert api.get(f"/files/{guessed}").headers["X-File-Content-Type"] == "text/html"


def test_non_ascii_and_path_like_names(api: Api):
    file_id = upload(api, b"x", "../home/me/résumé 2024.txt")
    disposition = api.get(f"/files/{file_id}").headers["Content-Disposition"]
    assert disposition == "attachment; filename=\"resume 2024.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt"


@pytest.mark.parametrize("name", [".", "..", "...", "docs/..", " .. "])
def test_a_name_made_only_of_dots_becomes_file(docs: Api, name: str):
    """As an empty name does: ``.`` and ``..`` name directories, not a file to save."""
    assert_download(docs.get(f"/files/{upload(docs, b'x', name)}"), b"x", "file")
    inline = {"name": name, "contentType": "text/plain", "content": base64.b64encode(b"y").decode()}
    record = create(docs, "documents", {"title": "Doc", "attachment": inline})
    assert record["attachment"]["name"] == "file"
    assert_download(docs.get(f"/files/{upload(docs, b'z', '..notes.txt')}"), b"z", "..notes.txt")  # kept


def test_any_single_file_part_is_accepted(api: Api):
    file_id = upload(api, b"abc", "a.txt", field="upload")
    assert api.get(f"/files/{file_id}").data == b"abc"


def test_empty_file(api: Api):
    file_id = upload(api, b"", "empty.txt")
    assert_download(api.get(f"/files/{file_id}"), b"", "empty.txt")


# --- files in records -------------------------------------------------------------------------------


def test_attach_to_record_render_and_download_record_files(docs: Api):
    one = upload(docs, b"first", "one.txt")
    two = upload(docs, BIG, "two.bin", "application/octet-stream")
    scan = upload(docs, b"scanned", "scan.png", "image/png")
    record = create(docs, "documents", {"title": "Doc", "attachment": one, "extras": [{"id": two}],
                                        "sections": [{"heading": "A", "scan": {"id": scan}}]})
    assert record["attachment"] == {"id": one, "name": "one.txt"}
    assert record["extras"] == [{"id": two, "name": "two.bin"}]
    assert record["sections"][0]["scan"] == {"id": scan, "name": "scan.png"}
    again = docs.get(f"/data/documents/{record['id']}").get_json()
    assert again["attachment"] == {"id": one, "name": "one.txt"}

    base = f"/data/documents/{record['id']}/files"
    assert_download(docs.get(f"{base}/{one}"), b"first", "one.txt")
    assert_download(docs.get(f"{base}/{two}"), BIG, "two.bin")
    assert_download(docs.get(f"{base}/{scan}"), b"scanned", "scan.png")


def test_record_file_errors_are_404(docs: Api):
    mine = upload(docs, b"mine")
    other = upload(docs, b"other")
    record = create(docs, "documents", {"title": "Doc", "attachment": mine})
    for path in (f"/data/documents/{record['id']}/files/{other}",         # not this record's file
                 f"/data/documents/{record['id']}/files/{ObjectId()}",    # no such file
                 f"/data/documents/{record['id']}/files/nope",            # malformed file id
                 f"/data/documents/{ObjectId()}/files/{mine}",           # no such record
                 f"/data/nothing/{record['id']}/files/{mine}"):           # no such entity
        response = docs.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["code"] == "notFound"


def test_unknown_file_in_a_record_is_a_validation_error(app: Flask, docs: Api):
    response = docs.post("/data/documents", json={"title": "Doc", "attachment": str(ObjectId())})
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "validationErrors"
    assert body["errors"][0]["field"] == "attachment" and "does not exist" in body["errors"][0]["message"]
    assert stored(app, "data.documents").count_documents({}) == 0


def test_inline_upload_in_a_record(docs: Api):
    content = base64.b64encode(b"inline text").decode()
    record = create(docs, "documents", {"title": "Doc", "attachment": {
        "name": "test1.txt", "contentType": "text/plain", "content": content}})
    file_id = record["attachment"]["id"]
    assert record["attachment"] == {"id": file_id, "name": "test1.txt"}
    response = docs.get(f"/data/documents/{record['id']}/files/{file_id}")
    assert_download(response, b"inline text", "test1.txt")
    assert response.headers["X-File-Content-Type"] == "text/plain"


@pytest.mark.parametrize(("value", "message"), [
    ({"name": "a.txt", "content": "aGk="}, "Content type is required when uploading a file and must be a string"),
    ({"name": "a.txt", "contentType": 5, "content": "aGk="}, "Content type is required"),
    ({"name": "a.txt", "contentType": "text/plain", "content": "not base64!"}, "Content must be base64"),
    ({"contentType": "text/plain", "content": "aGk="}, "Name is required"),
])
def test_bad_inline_uploads_are_400(app: Flask, docs: Api, value: dict[str, Any], message: str):
    response = docs.post("/data/documents", json={"title": "Doc", "attachment": value})
    assert response.status_code == 400
    error = response.get_json()["errors"][0]
    assert error["field"] == "attachment" and error["code"] == "invalid" and error["message"].startswith(message)
    assert stored(app, "files.files").count_documents({}) == 0


# --- sharing ----------------------------------------------------------------------------------------


def test_share_and_fetch_without_token(app: Flask, api: Api):
    file_id = upload(api, BIG, "file.ext", "application/octet-stream")
    response = api.put(f"/files/{file_id}/share?ttl=60000")
    assert response.status_code == 200
    body = response.get_json()
    assert re.fullmatch(r"[0-9a-f]{24}", body["sharedFileId"])
    assert body == {"sharedFileId": body["sharedFileId"], "sharedFileLink": f"/files/shared/{body['sharedFileId']}"}
    anonymous = app.test_client()
    assert_download(anonymous.get(f"/api{body['sharedFileLink']}"), BIG, "file.ext")
    # a stale token does not get in the way of a public link
    stale = anonymous.get(f"/api{body['sharedFileLink']}", headers={"token": "not-a-token"})
    assert stale.status_code == 200


def test_share_default_ttl_is_an_hour(app: Flask, api: Api):
    file_id = upload(api, b"data")
    shared_id = api.put(f"/files/{file_id}/share").get_json()["sharedFileId"]
    share = stored(app, "sys.fileShares").find_one({"_id": shared_id})
    assert abs((share["expiresAt"] - share["createdAt"]) - dt.timedelta(hours=1)) < dt.timedelta(seconds=1)
    assert app.test_client().get(f"/api/files/shared/{shared_id}").data == b"data"


def test_expired_and_unknown_shares_are_404(app: Flask, api: Api):
    file_id = upload(api, b"data")
    shared_id = api.put(f"/files/{file_id}/share?ttl=1").get_json()["sharedFileId"]
    time.sleep(0.01)
    anonymous = app.test_client()
    for link in (f"/api/files/shared/{shared_id}", f"/api/files/shared/{'0' * 24}", "/api/files/shared/x"):
        response = anonymous.get(link)
        assert response.status_code == 404, link
        assert response.get_json()["code"] == "notFound"


@pytest.mark.parametrize("ttl", ["abc", "0", "-5", "1.5"])
def test_bad_ttl_is_400(api: Api, ttl: str):
    file_id = upload(api, b"data")
    response = api.put(f"/files/{file_id}/share?ttl={ttl}")
    assert response.status_code == 400
    assert "ttl" in response.get_json()["message"]


def test_share_of_unknown_file_is_404(api: Api):
    assert api.put(f"/files/{ObjectId()}/share").status_code == 404


# --- errors and permissions -------------------------------------------------------------------------


def test_upload_without_a_file_part_is_400(app: Flask, api: Api):
    no_file = api.post("/files", data={"name": "x"}, content_type="multipart/form-data")
    assert no_file.status_code == 400 and "'file'" in no_file.get_json()["message"]
    not_multipart = api.post("/files", json={"file": "x"})
    assert not_multipart.status_code == 400 and "multipart" in not_multipart.get_json()["message"]
    assert stored(app, "files.files").count_documents({}) == 0


def test_unknown_and_malformed_ids_are_404(api: Api):
    for path in (f"/files/{ObjectId()}", "/files/not-an-id"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.get_json()["code"] == "notFound"


def test_no_token_is_401(anon: Api, api: Api):
    file_id = upload(api, b"data")
    assert anon.post("/files", data={"file": (io.BytesIO(b"x"), "a.txt")},
                     content_type="multipart/form-data").status_code == 401
    assert anon.get(f"/files/{file_id}").status_code == 401
    assert anon.put(f"/files/{file_id}/share").status_code == 401


def test_a_token_cookie_downloads_files_and_nothing_else(app: Flask, docs: Api):
    """A browser following a file link (an export's ``results.fileLink``) sends the token as a cookie: GET
    downloads of files take it; no other route or method does."""
    file_id = upload(docs, b"cookie data", "cookie.txt")
    record = create(docs, "documents", {"title": "Doc", "attachment": file_id})
    browser = app.test_client()
    browser.set_cookie("token", docs.token)
    assert_download(browser.get(f"/api/files/{file_id}"), b"cookie data", "cookie.txt")
    assert_download(browser.get(f"/api/data/documents/{record['id']}/files/{file_id}"), b"cookie data", "cookie.txt")

    job_id = docs.put("/data/companies/export").get_json()["jobId"]
    link = wait_for_job(docs, job_id)["results"]["fileLink"]
    exported = browser.get(urlparse(link).path)
    assert exported.status_code == 200 and exported.data.startswith(b"Name,")

    one = f"/api/data/documents/{record['id']}"
    for method, path in (("POST", "/api/files"), ("PUT", f"/api/files/{file_id}/share"), ("GET", one),
                         ("DELETE", one), ("HEAD", f"/api/files/{file_id}")):
        assert browser.open(path, method=method).status_code == 401, (method, path)
    browser.set_cookie("token", "not-a-token")
    assert browser.get(f"/api/files/{file_id}").status_code == 401


def test_regular_users_reach_their_own_files_only(app: Flask, api: Api, user_api: Api):
    theirs = upload(api, b"developer's")
    mine = upload(user_api, b"user's")
    assert user_api.get(f"/files/{mine}").data == b"user's"
    assert user_api.put(f"/files/{mine}/share").status_code == 200
    assert user_api.get(f"/files/{theirs}").status_code == 403
    assert user_api.put(f"/files/{theirs}/share").status_code == 403
    assert api.get(f"/files/{mine}").data == b"user's"  # developers reach every file


def test_upload_over_the_size_limit_is_413_and_nothing_is_kept():
    app = make_app(max_content_length=200_000)
    try:
        api = login(app)
        response = api.post("/files", data={"file": (io.BytesIO(BIG), "big.bin")}, content_type="multipart/form-data")
        assert response.status_code == 413
        assert response.get_json()["code"] == "payloadTooLarge"
        assert stored(app, "files.files").count_documents({}) == 0
        assert stored(app, "files.chunks").count_documents({}) == 0
    finally:
        drop_embedded(app.config["RUNTIME"].mongodb_db)


# --- the sweep of unreferenced uploads --------------------------------------------------------------


def backdate(app: Flask, file_id: str, hours: float) -> None:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=hours)
    stored(app, "files.files").update_one({"_id": ObjectId(file_id)}, {"$set": {"uploadDate": moment}})


def test_sweep_removes_old_unreferenced_uploads_only(app: Flask, docs: Api):
    orphan = upload(docs, BIG, "orphan.bin")
    attached = upload(docs, b"attached")
    nested = upload(docs, b"nested")
    recent = upload(docs, b"recent")
    create(docs, "documents", {"title": "Doc", "attachment": attached, "sections": [{"scan": nested}]})
    for file_id in (orphan, attached, nested):
        backdate(app, file_id, 13)
    files = app.extensions["runtime"].files

    assert files.sweep_unreferenced(dt.timedelta(hours=12)) == 1
    assert docs.get(f"/files/{orphan}").status_code == 404
    assert stored(app, "files.chunks").count_documents({"files_id": ObjectId(orphan)}) == 0
    for file_id in (attached, nested, recent):
        assert docs.get(f"/files/{file_id}").status_code == 200
    # a referenced file is checked once: it is no longer temporary
    assert "temporary" not in stored(app, "files.files").find_one({"_id": ObjectId(attached)})["metadata"]
    assert stored(app, "files.files").find_one({"_id": ObjectId(recent)})["metadata"]["temporary"] is True


def test_an_upload_triggers_the_sweep_at_most_once_per_interval(app: Flask, api: Api):
    files = app.extensions["runtime"].files
    first = upload(api, b"first")             # the first sweep runs here (nothing is old yet)
    backdate(app, first, 13)
    upload(api, b"second")                    # within the interval: no sweep
    assert api.get(f"/files/{first}").status_code == 200
    files.settings = replace(files.settings, sweep_interval_seconds=0)
    upload(api, b"third")                     # the interval has passed: the old orphan goes
    assert api.get(f"/files/{first}").status_code == 404
