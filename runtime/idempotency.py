"""``Idempotency-Key``: a client may retry a write and be sure it happens once.

POST, PUT and DELETE under ``/data`` (records, actions, imports) and ``/files`` accept the header
(1–255 characters). Before the route runs, the key is claimed for (user, key) by inserting
``sys.idempotency`` document with ``_id = sha256(user, key)``; the unique ``_id`` makes the claim atomic
across threads and processes. After the route, the response (status, body, type) is stored on the claim
for 24 hours (a TTL on ``expiresAt``).

A request whose key is already claimed:

* same method, path, query and body, response stored → that response again, ``Idempotent-Replayed: true``,
  and nothing else runs;
* a different request → 422 ``idempotencyKeyReused``;
* the first one still running → 409 ``requestInProgress``;
* the first one's process died (its lease, ``IDEMPOTENCY_LEASE_SECONDS`` of the process that claimed, is over
  and no response was stored), or it ended in a 5xx → the retry takes the claim over and runs. A create
  always uses the id stored on the claim (``core.http.preset_record_id``), so when the first attempt had saved the
  record the retry answers with that record instead of creating a second one. Other writes rerun: updates
  with ``version`` and deletes are safe to repeat; an action handler must be (as for a resumed job).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from bson import ObjectId
from flask import Flask, Response, g, request
from pymongo.errors import DuplicateKeyError

from core.errors import ApiError, BadRequest
from core.services import Services

log = logging.getLogger("runtime.idempotency")

COLLECTION = "sys.idempotency"
HEADER = "Idempotency-Key"
_ENVIRON_KEY = "HTTP_" + HEADER.upper().replace("-", "_")  # where WSGI puts the header
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 255
KEEP = dt.timedelta(hours=24)
METHODS = ("POST", "PUT", "DELETE")
CREATE_ENDPOINT = "records.create_record"


def scopes(prefix: str) -> tuple[str, ...]:
    """The path prefixes whose POST, PUT and DELETE requests take the header."""
    return f"{prefix}/data/", f"{prefix}/files"


def honours(method: str, path: str, prefix: str) -> bool:
    """Whether an authenticated request of ``method`` to ``path`` takes an ``Idempotency-Key`` (the OpenAPI
    document declares it on these operations)."""
    return method.upper() in METHODS and path.startswith(scopes(prefix))


class RequestInProgress(ApiError):
    def __init__(self) -> None:
        super().__init__(409, "A request with this Idempotency-Key is still running; retry once it has finished",
                         code="requestInProgress")


class KeyReused(ApiError):
    def __init__(self) -> None:
        super().__init__(422, "This Idempotency-Key was already used for a different request (method, path, query "
                              "or body); send a new key for a new request", code="idempotencyKeyReused")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _hold(claim: dict[str, Any]) -> None:
    """This request owns the claim; a create gives its record the claim's id (``core.http.preset_record_id``)."""
    g.idempotency_claim = claim
    g.preset_record_id = claim["presetId"]


class Idempotency:
    def __init__(self, svc: Services, prefix: str, lease_seconds: int):
        self.svc = svc
        self.col = svc.store.collection(COLLECTION)
        self.scopes = scopes(prefix)
        self.lease = dt.timedelta(seconds=lease_seconds)

    def ensure_indexes(self) -> None:
        self.svc.store.ensure_ttl(COLLECTION, "expiresAt", "expiry")

    def applies(self) -> bool:
        return request.method in METHODS and request.path.startswith(self.scopes) and g.get("user") is not None

    # --- before the route ----------------------------------------------------------------------------

    def before(self) -> Response | None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        if _ENVIRON_KEY not in req.environ:  # most requests carry no key: skip the header parsing
            return None
        key = req.headers.get(HEADER)
        if key is None or not self.applies():
            return None
        if not key or len(key) > MAX_KEY:
            raise BadRequest(f"The {HEADER} header must have 1 to {MAX_KEY} characters", errors=[
                {"field": HEADER, "code": "invalid", "message": f"must have 1 to {MAX_KEY} characters"}])
        user_id = str(g.user["_id"])
        claim_id = hashlib.sha256(f"{user_id}\n{key}".encode()).hexdigest()
        fingerprint = _fingerprint()
        now = _now()
        claim = {"_id": claim_id, "userId": user_id, "fingerprint": fingerprint, "state": "running",
                 "claimedAt": now, "leaseUntil": now + self.lease, "presetId": ObjectId(), "expiresAt": now + KEEP}
        for _ in range(3):
            try:
                self.col.insert_one(claim)
                _hold(claim)
                return None
            except DuplicateKeyError:
                pass
            existing = self.col.find_one({"_id": claim_id})
            if existing is None:
                continue  # expired and removed meanwhile: claim it afresh
            if existing.get("expiresAt") and existing["expiresAt"] <= now:
                self.col.delete_one({"_id": claim_id, "expiresAt": existing["expiresAt"]})
                continue
            if existing["fingerprint"] != fingerprint:
                raise KeyReused()
            if existing["state"] == "done":
                return self._replay(existing)
            return self._take_over(existing, now)
        raise RequestInProgress()

    def _replay(self, stored: dict[str, Any]) -> Response:
        g.idempotent_replay = True
        response = Response(stored["body"], status=stored["status"], content_type=stored.get("contentType"))
        response.headers[REPLAYED] = "true"
        return response

    def _take_over(self, existing: dict[str, Any], now: dt.datetime) -> Response | None:
        """Run again for a claim whose first attempt died or failed; 409 while it may still be running."""
        if existing["state"] != "failed" and existing["leaseUntil"] > now:
            raise RequestInProgress()
        taken = self.col.find_one_and_update(
            {"_id": existing["_id"], "state": existing["state"], "claimedAt": existing["claimedAt"]},
            {"$set": {"state": "running", "claimedAt": now, "leaseUntil": now + self.lease}}, return_document=True)
        if taken is None:
            raise RequestInProgress()  # another retry took it first
        _hold(taken)
        if request.endpoint == CREATE_ENDPOINT:
            return self._created_already(taken)
        return None

    def _created_already(self, claim: dict[str, Any]) -> Response | None:
        """The first attempt of a create may have saved its record before its process died: answer with it."""
        from flask import jsonify

        from entities.history.recorder import OUTBOX_FIELD
        from entities.records.render import render

        name = (request.view_args or {}).get("entity_name", "")
        try:
            entity = self.svc.registry.get(name)
        except ApiError:
            return None
        doc = self.svc.records.collection(entity).find_one({"_id": claim["presetId"]}, {OUTBOX_FIELD: 0})
        return jsonify(render(entity, doc)) if doc is not None else None

    # --- after the route -----------------------------------------------------------------------------

    def after(self, response: Response) -> Response:
        claim = g.pop("idempotency_claim", None)
        if claim is None:
            return response
        try:
            if response.status_code >= 500 or response.is_streamed or response.direct_passthrough:
                self.col.update_one({"_id": claim["_id"]}, {"$set": {"state": "failed"}})
            else:
                self.col.update_one({"_id": claim["_id"]}, {"$set": {
                    "state": "done", "status": response.status_code, "body": response.get_data(),
                    "contentType": response.content_type, "expiresAt": _now() + KEEP}})
        except Exception:  # the response stands; a retry then finds the claim running and waits out the lease
            log.exception("could not store the response of an idempotent request")
        return response


def _fingerprint() -> str:
    """Method, path, query and body. A multipart body is read as its fields and files (their names and
    contents), since a client picks a new boundary on each retry. A part whose name werkzeug cannot read
    (``name="x\\"``) has the name None: it sorts first."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}?{request.query_string.decode('utf-8', 'replace')}\n".encode())
    if request.mimetype == "multipart/form-data":
        for name, value in sorted(request.form.items(multi=True), key=lambda item: (_sortable(item[0]), item[1])):
            digest.update(f"field {name}={value}\n".encode())
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: _sortable(item[0])):
            digest.update(f"file {name} {upload.filename} {upload.mimetype}\n".encode())
            stream = upload.stream
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
            stream.seek(0)
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _sortable(name: str | None) -> tuple[bool, str]:
    return name is not None, name or ""


def install(app: Flask, svc: Services) -> Idempotency:
    """Register the hooks; call after the auth guard (the key belongs to the user the guard found)."""
    keys = Idempotency(svc, svc.config.api_prefix, svc.config.idempotency_lease_seconds)
    svc.plugins.index_hooks.append(keys.ensure_indexes)
    app.before_request(keys.before)
    app.after_request(keys.after)
    return keys
