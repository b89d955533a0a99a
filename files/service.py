"""Files: upload, download, share, record files and the sweep of files no record references.

The files package owns the GridFS bucket ``files`` (``files.files`` + ``files.chunks``, see ``storage.py``),
``sys.fileShares`` (public links) and ``sys.fileSweeps`` (when the last sweep ran).

A file uploaded through ``POST /files`` is *temporary* (``metadata.temporary``) until the sweep sees a record
that references it; temporary files older than ``FILES_UNREFERENCED_HOURS`` that no record references are
deleted. The sweep runs after an upload, at most once per ``FILES_SWEEP_INTERVAL_SECONDS`` across all
processes (claimed in ``sys.fileSweeps``), so no scheduler is needed. Files other packages store directly
(e.g. export files) carry no ``temporary`` flag and are never swept.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import logging
import mimetypes
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from core.config import Config
from core.errors import ApiError, BadRequest, Forbidden, NotFound
from core.ids import parse_object_id
from core.storage import Store
from files.storage import FileStore, FileTooLarge

if TYPE_CHECKING:
    from core.services import Services

log = logging.getLogger("files")

SHARES = "sys.fileShares"
SWEEPS = "sys.fileSweeps"
SWEEP_BATCH = 500
_SHARE_ID_BYTES = 12  # 24 hex chars, the shape of the platform's ids, but random: a share link cannot be guessed


class FileReferences(Protocol):
    """Which records reference which files: the records side (``entities``) provides it at start-up."""

    def record_references(self, entity_name: str, raw_record_id: str, file_id: ObjectId | None) -> bool:
        """True when the record has the file in one of its file fields; NotFound when there is no such
        record (or entity)."""
        ...

    def referenced(self, file_ids: list[ObjectId]) -> set[ObjectId]:
        """Those of ``file_ids`` that some record references."""
        ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class FileSettings:
    unreferenced_hours: int = 12           # the platform removes unreferenced uploads after 12 hours
    sweep_interval_seconds: int = 3600
    share_default_ttl_ms: int = 3_600_000  # a shared link is valid for an hour unless ``ttl`` says otherwise
    share_max_ttl_ms: int = 365 * 24 * 3_600_000

    @classmethod
    def from_config(cls, config: Config) -> FileSettings:
        return cls(unreferenced_hours=config.files_unreferenced_hours,
                   sweep_interval_seconds=config.files_sweep_interval_seconds,
                   share_default_ttl_ms=config.files_share_default_ttl_ms,
                   share_max_ttl_ms=config.files_share_max_ttl_ms)


@dataclass
class Download:
    """What a download route sends: the file document and its bytes, chunk by chunk."""

    doc: dict[str, Any]
    chunks: Iterator[bytes]

    @property
    def filename(self) -> str:
        return str(self.doc.get("filename") or "file")

    @property
    def content_type(self) -> str:
        """The stored type; one that is not a valid media type (stored before they were checked) reads as bytes."""
        stored = (self.doc.get("metadata") or {}).get("contentType")
        return stored if is_content_type(stored) else "application/octet-stream"

    @property
    def length(self) -> int:
        return int(self.doc.get("length") or 0)


class FileService:
    def __init__(self, services: Services, settings: FileSettings):
        self.services = services
        self.settings = settings
        self.store = FileStore(services.store)
        self.shares = services.store.collection(SHARES)
        self.sweeps = services.store.collection(SWEEPS)
        self.references: FileReferences | None = None  # set by the records side at start-up

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes()
        self.store.files.create_index([("metadata.temporary", 1), ("uploadDate", 1)], name="temporary_uploads")
        self.services.store.ensure_ttl(SHARES, "expiresAt", "expiry")

    # --- upload / download -----------------------------------------------------------------------

    def upload(self, stream: BinaryIO, filename: str | None, content_type: str | None,
               user: dict[str, Any]) -> dict[str, Any]:
        """Store an upload as a temporary file (deleted unless a record references it in time)."""
        name = clean_filename(filename)
        if content_type is not None and not is_content_type(content_type):
            raise BadRequest(f"Invalid content type {content_type!r}: {CONTENT_TYPE_RULE}")
        try:
            doc = self.store.put(stream, name, guess_content_type(name, content_type),
                                 {"temporary": True, "ownerId": str(user["_id"])},
                                 max_bytes=self.services.config.max_content_length)
        except FileTooLarge as exc:
            raise ApiError(413, str(exc)) from None
        try:
            self.maybe_sweep()
        except Exception:  # the upload is stored; a failed sweep only delays the cleanup to the next one
            log.exception("sweep of unreferenced files failed")
        return doc

    def download(self, raw_id: str, user: dict[str, Any]) -> Download:
        """``GET /files/{id}``: developers, or the user who stored the file."""
        doc = self._owned(raw_id, user)
        return Download(doc, self.store.read(doc["_id"]))

    def record_file(self, entity_name: str, raw_record_id: str, raw_file_id: str) -> Download:
        """A file one of the record's file fields (nested ones included) points at."""
        assert self.references is not None, "no FileReferences were installed"
        if not self.references.record_references(entity_name, raw_record_id, parse_object_id(raw_file_id)):
            raise NotFound(f"File '{raw_file_id}' does not belong to record '{raw_record_id}'")
        doc = self._file(raw_file_id)
        return Download(doc, self.store.read(doc["_id"]))

    def _owned(self, raw_id: str, user: dict[str, Any]) -> dict[str, Any]:
        doc = self._file(raw_id)
        owner = (doc.get("metadata") or {}).get("ownerId")
        if not user.get("developer") and owner != str(user["_id"]):
            raise Forbidden("Only developers can reach files that are not yours")
        return doc

    def _file(self, raw_id: str) -> dict[str, Any]:
        file_id = parse_object_id(raw_id)
        doc = self.store.get(file_id) if file_id is not None else None
        if doc is None:
            raise NotFound(f"File '{raw_id}' does not exist")
        return doc

    # --- sharing ---------------------------------------------------------------------------------

    def share(self, raw_id: str, ttl_ms: int | None, user: dict[str, Any]) -> dict[str, Any]:
        """A public link to the file, valid ``ttl_ms`` milliseconds (an hour by default)."""
        doc = self._owned(raw_id, user)  # same rights as a download
        ttl = self.settings.share_default_ttl_ms if ttl_ms is None else ttl_ms
        if ttl < 1 or ttl > self.settings.share_max_ttl_ms:
            raise BadRequest(f"Parameter ttl must be between 1 and {self.settings.share_max_ttl_ms} milliseconds")
        now = _now()
        share = {"_id": secrets.token_hex(_SHARE_ID_BYTES), "fileId": doc["_id"], "createdAt": now,
                 "createdBy": str(user["_id"]), "expiresAt": now + dt.timedelta(milliseconds=ttl)}
        self.shares.insert_one(share)
        return share

    def shared(self, raw_share_id: str) -> Download:
        """A shared file, without any permission check: the link is the permission."""
        share = self.shares.find_one({"_id": raw_share_id}) if isinstance(raw_share_id, str) else None
        doc = self.store.get(share["fileId"]) if share is not None and share["expiresAt"] > _now() else None
        if doc is None:
            raise NotFound(f"Shared file '{raw_share_id}' does not exist or has expired")
        return Download(doc, self.store.read(doc["_id"]))

    # --- cleanup ---------------------------------------------------------------------------------

    def maybe_sweep(self) -> int:
        """Sweep unless another request (any process) did within the sweep interval."""
        now = _now()
        try:
            self.sweeps.insert_one({"_id": "unreferenced", "lastRun": now})
        except DuplicateKeyError:
            due = now - dt.timedelta(seconds=self.settings.sweep_interval_seconds)
            if self.sweeps.find_one_and_update({"_id": "unreferenced", "lastRun": {"$lte": due}},
                                               {"$set": {"lastRun": now}}) is None:
                return 0
        return self.sweep_unreferenced(dt.timedelta(hours=self.settings.unreferenced_hours))

    def sweep_unreferenced(self, older_than: dt.timedelta) -> int:
        """Delete temporary files uploaded before ``now - older_than`` that no record references.

        Referenced ones lose the temporary flag (they are checked once). Works in batches of ids, one
        ``distinct`` per file field and batch, so memory does not grow with the number of files.
        Returns how many files were deleted.
        """
        cutoff = _now() - older_than
        assert self.references is not None, "no FileReferences were installed"
        deleted = 0
        after: ObjectId | None = None
        while True:
            query: dict[str, Any] = {"metadata.temporary": True, "uploadDate": {"$lt": cutoff}}
            if after is not None:
                query["_id"] = {"$gt": after}
            ids = [d["_id"] for d in self.store.files.find(query, {"_id": 1}).sort("_id", 1).limit(SWEEP_BATCH)]
            if not ids:
                return deleted
            after = ids[-1]
            referenced = self.references.referenced(ids)
            kept = [i for i in ids if i in referenced]
            if kept:
                self.store.files.update_many({"_id": {"$in": kept}}, {"$unset": {"metadata.temporary": ""}})
            for file_id in ids:
                if file_id not in referenced and self.store.delete(file_id):
                    deleted += 1


# --- what records ask of this package ----------------------------------------------------------------


def file_name(store: Store, file_id: ObjectId) -> str | None:
    doc = FileStore(store).files.find_one({"_id": file_id}, {"filename": 1})
    return doc.get("filename") if doc else None


def complete_ref(store: Store, ref: dict[str, Any], uploader: str | None = None) -> str | None:
    """Make a written file value ready to store as ``{id, name}``; returns an error message or None.

    ``ref`` is what ``FileType.load`` gave: ``{"id": ObjectId}`` (the file must exist), ``{"upload": {...}}``
    (an inline upload: stored now, as a temporary file the sweep keeps once the record references it), or an
    already stored ``{id, name}`` (kept as is). ``uploader`` (a user id) becomes an inline upload's owner.
    """
    upload = ref.pop("upload", None)
    if upload is not None:
        metadata: dict[str, Any] = {"temporary": True}
        if uploader:
            metadata["ownerId"] = uploader
        doc = FileStore(store).put(io.BytesIO(upload["content"]), upload["name"], upload["contentType"], metadata)
        ref.update(id=doc["_id"], name=doc["filename"])
        return None
    if "name" in ref:
        return None
    name = file_name(store, ref["id"])
    if name is None:
        return f"File '{ref['id']}' does not exist"
    ref["name"] = name
    return None


def file_owners(store: Store, file_ids: list[ObjectId]) -> dict[ObjectId, str | None]:
    """Who uploaded each of ``file_ids`` (``metadata.ownerId``; None for files stored by the runtime)."""
    docs = FileStore(store).files.find({"_id": {"$in": file_ids}}, {"metadata.ownerId": 1})
    return {d["_id"]: (d.get("metadata") or {}).get("ownerId") for d in docs}


def parse_inline_upload(value: dict[str, Any]) -> dict[str, Any]:
    """``{"name", "contentType", "content": base64}`` → the decoded upload; ValueError with the reason."""
    name, content_type, content = value.get("name"), value.get("contentType"), value.get("content")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("Name is required when uploading a file and must be a string")
    if not isinstance(content_type, str) or not content_type.strip():
        raise ValueError("Content type is required when uploading a file and must be a string")
    if not is_content_type(content_type.strip()):
        raise ValueError(f"Invalid content type: {CONTENT_TYPE_RULE}")
    if not isinstance(content, str):
        raise ValueError("Content is required when uploading a file and must be a base64 string")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Content must be base64") from None
    return {"name": clean_filename(name), "contentType": content_type.strip(), "content": data}


def clean_filename(raw: str | None) -> str:
    """The last path component (some browsers send a full client path), without control characters; ``file``
    for a name left empty or made only of dots (``.``, ``..``: a path, not a file name)."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()[:255]
    return name if name.strip(".") else "file"


# RFC 6838 §4.2 names (type "/" subtype), optional RFC 2045 parameters; ASCII only, no control characters.
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(rf'{_NAME}/{_NAME}(?:[ \t]*;[ \t]*{_NAME}=(?:{_NAME}|"[ !#-\[\]-~]*"))*')
CONTENT_TYPE_RULE = "a media type such as text/plain or application/pdf (RFC 6838, ASCII), at most 255 characters"


def is_content_type(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 255 and _CONTENT_TYPE.fullmatch(value) is not None


def guess_content_type(filename: str, given: str | None) -> str:
    if given and given != "application/octet-stream":
        return given
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"

