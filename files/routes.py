"""``/files``: upload, download, share, fetch shared; ``/data/{entity}/{id}/files/{fileId}``: a record's file."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

from flask import Response, g, jsonify, request

from core.api import Blueprint, errors
from core.errors import BadRequest
from core.services import services
from files.schemas import DOWNLOAD, ShareBody, Shared, ShareQuery, Upload, Uploaded
from files.service import Download, FileService

blp = Blueprint("files", __name__, description="Files: upload, download and share")

DOWNLOAD_TYPE = "application/force-download"  # what the platform answers for every download


def _files() -> FileService:
    return services().files


@blp.route("/files", methods=["POST"])
@blp.arguments(Upload, location="upload")
@blp.response(200, Uploaded)
@errors(blp, 400, 401, 403, 413)
def upload(_doc: Any):
    part = _file_part()
    doc = _files().upload(part.stream, part.filename, part.mimetype or None, g.user)
    return jsonify({"fileId": str(doc["_id"]), "fileLink": f"/files/{doc['_id']}"})


@blp.route("/files/<file_id>", methods=["GET"])
@blp.doc(responses={"200": {"description": "The file's bytes", **DOWNLOAD}})
@errors(blp, 401, 403, 404)
def download(file_id: str):
    return _send(_files().download(file_id, g.user))


@blp.route("/data/<entity_name>/<record_id>/files/<file_id>", methods=["GET"])
@blp.doc(responses={"200": {"description": "The file's bytes", **DOWNLOAD}})
@errors(blp, 401, 403, 404)
def record_file(entity_name: str, record_id: str, file_id: str):
    return _send(_files().record_file(entity_name, record_id, file_id))


@blp.route("/files/<file_id>/share", methods=["PUT"])
@blp.arguments(ShareQuery, location="query")
@blp.arguments(ShareBody, location="body", required=False)
@blp.response(200, Shared)
@errors(blp, 400, 401, 403, 404)
def share(query: dict[str, Any], body: Any, file_id: str):
    shared = _files().share(file_id, _ttl(query.get("ttl"), body), g.user)
    return jsonify({"sharedFileId": shared["_id"], "sharedFileLink": f"/files/shared/{shared['_id']}"})


@blp.route("/files/shared/<shared_id>", methods=["GET"])
@blp.doc(responses={"200": {"description": "The file's bytes", **DOWNLOAD}})
@errors(blp, 404)
def fetch_shared(shared_id: str):
    return _send(_files().shared(shared_id))


def _file_part() -> Any:
    """The ``file`` part of a multipart body, or its only file part whatever its name."""
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise BadRequest("Upload the file as multipart/form-data, in a part named 'file'")
    part = request.files.get("file")
    if part is None and len(request.files) == 1:
        part = next(iter(request.files.values()))
    if part is None:
        raise BadRequest("The multipart body has no 'file' part")
    return part


def _ttl(raw: Any, body: Any) -> int | None:
    """``ttl`` in milliseconds, from the query string or a JSON body."""
    if raw in (None, ""):
        raw = body.get("ttl") if isinstance(body, dict) else None
    if raw in (None, ""):
        return None
    try:
        if isinstance(raw, bool):
            raise ValueError
        return int(raw)
    except (TypeError, ValueError):
        raise BadRequest("Parameter ttl must be an integer (milliseconds)") from None


def _send(download: Download) -> Response:
    """Stream the file chunk by chunk; the stored content type travels in ``X-File-Content-Type``."""
    response = Response(download.chunks, mimetype=DOWNLOAD_TYPE, direct_passthrough=True)
    response.headers["Content-Length"] = str(download.length)
    response.headers.set("Content-Disposition", "attachment", **_filename_options(download.filename))
    response.headers["X-File-Content-Type"] = download.content_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _filename_options(name: str) -> dict[str, str]:
    """``filename=`` as is for ASCII names; otherwise an ASCII fallback plus RFC 5987 ``filename*``."""
    try:
        name.encode("ascii")
        return {"filename": name}
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").strip() or "file"
        return {"filename": simple, "filename*": f"UTF-8''{quote(name, safe='')}"}
