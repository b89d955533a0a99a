"""Content types are checked on every upload path; a download never fails or hangs on a stored one."""

from __future__ import annotations

import base64
import io

import pytest
from flask import Flask

from tests.conftest import Api, create
from tests.files.test_files_api import DOCUMENTS, stored, upload

BAD = ["text/plain\r\nX-Inj: 1", "text/☃", "text", "/plain", "text/plain; x", "te xt/plain", "a" * 300 + "/b",
       "text/plain\x00"]
GOOD = ["text/plain", "application/vnd.ms-excel", "image/svg+xml", "text/plain; charset=utf-8",
        'multipart/mixed; boundary="a b"']


@pytest.fixture
def docs(api: Api) -> Api:
    assert api.put("/metadata/entities/documents", json=DOCUMENTS).status_code == 200
    return api


def inline(content_type: str) -> dict[str, str]:
    return {"name": "a.txt", "contentType": content_type, "content": base64.b64encode(b"hi").decode()}


@pytest.mark.parametrize("content_type", BAD)
def test_invalid_content_types_are_400_on_inline_uploads(app: Flask, docs: Api, content_type: str):
    response = docs.post("/data/documents", json={"title": "Doc", "attachment": inline(content_type)})
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["errors"][0]
    assert error["field"] == "attachment" and "Invalid content type" in error["message"]
    assert stored(app, "files.files").count_documents({}) == 0


@pytest.mark.parametrize("content_type", ["text/☃", "text", "te xt/plain"])
def test_invalid_content_types_are_400_on_multipart_uploads(app: Flask, api: Api, content_type: str):
    part = (io.BytesIO(b"hi"), "a.txt", content_type)
    response = api.post("/files", data={"file": part}, content_type="multipart/form-data")
    assert response.status_code == 400, response.get_json()
    assert "Invalid content type" in response.get_json()["message"]
    assert stored(app, "files.files").count_documents({}) == 0


@pytest.mark.parametrize("content_type", GOOD)
def test_valid_content_types_are_kept(docs: Api, content_type: str):
    record = create(docs, "documents", {"title": "Doc", "attachment": inline(content_type)})
    response = docs.get(f"/data/documents/{record['id']}/files/{record['attachment']['id']}")
    assert response.status_code == 200 and response.data == b"hi"
    assert response.headers["X-File-Content-Type"] == content_type


@pytest.mark.parametrize("content_type", BAD)
def test_a_stored_bad_content_type_downloads_as_bytes(app: Flask, api: Api, content_type: str):
    file_id = upload(api, b"payload")
    from bson import ObjectId
    stored(app, "files.files").update_one({"_id": ObjectId(file_id)}, {"$set": {"metadata.contentType": content_type}})
    response = api.get(f"/files/{file_id}")
    assert response.status_code == 200 and response.data == b"payload"
    assert response.headers["X-File-Content-Type"] == "application/octet-stream"
