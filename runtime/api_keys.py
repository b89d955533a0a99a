"""API keys: ``POST|GET /auth/api-keys``, ``DELETE /auth/api-keys/{id}``.

A key acts as the user who created it and never expires by idleness (only at ``expiresAt`` when given). It is
a token document of kind ``apiKey`` in the tokens collection (stored as a hash, shown once), so the guard
authenticates it with the same single read as a session, and user changes reach it through ``sync_user``.
Keys travel as ``Authorization: Token|Bearer <key>``, ``X-API-KEY: <key>`` or ``?api_key=<key>``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from bson import ObjectId
from flask import Flask, g
from marshmallow import EXCLUDE, Schema, fields, validate

from core.api import Blueprint, errors
from core.errors import BadRequest, Forbidden, NotFound, ValidationFailed, field_error
from core.ids import parse_object_id
from core.periods import MAX_MILLIS
from core.services import Services, services
from runtime.auth import AuthService, digest

KEY_PREFIX = "rk_"
MAX_KEYS_PER_USER = 100
_EPOCH = dt.datetime(1970, 1, 1)  # naive UTC, as the stored dates


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _millis(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.replace(tzinfo=dt.UTC).timestamp() * 1000)


class ApiKeys:
    def __init__(self, auth: AuthService):
        self.auth = auth
        self.tokens = auth.tokens

    def create(self, user: dict[str, Any], name: str, expires_at: int | None) -> dict[str, Any]:
        now = _now()
        expires = None
        if expires_at is not None:
            if expires_at <= _millis(now):  # compared as millis: any past instant, even before year 1, is refused
                raise ValidationFailed([field_error("expiresAt", "invalid", "expiresAt must be in the future",
                                                    rejected=expires_at)])
            expires = _EPOCH + dt.timedelta(milliseconds=expires_at)
        if self.tokens.count_documents({"userId": user["_id"], "kind": "apiKey"}) >= MAX_KEYS_PER_USER:
            raise ValidationFailed([field_error("name", "invalid", f"A user has at most {MAX_KEYS_PER_USER} API keys")])
        stored = self.auth.users.find_one({"_id": user["_id"]}, {"passwordHash": 0})
        if stored is None:
            raise NotFound("The user of this session no longer exists")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        doc = {"_id": digest(key), "kind": "apiKey", "keyId": ObjectId(), "name": name, "userId": user["_id"],
               "adminUserId": None, "user": self.auth.snapshot(stored), "admin": None, "createdAt": now}
        if expires is not None:
            doc["expiresAt"] = expires
        self.tokens.insert_one(doc)
        return {**self.render(doc), "key": key}

    @staticmethod
    def render(doc: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(doc["keyId"]), "name": doc.get("name"), "createdAt": _millis(doc.get("createdAt")),
                "expiresAt": _millis(doc.get("expiresAt"))}

    def list(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        docs = self.tokens.find({"userId": user["_id"], "kind": "apiKey"}).sort("createdAt", 1)
        return [self.render(d) for d in docs]

    def delete(self, user: dict[str, Any], key_id: str) -> dict[str, Any]:
        oid = parse_object_id(key_id)
        if oid is None:
            raise BadRequest(f"'{key_id}' is not an API key id (24 hexadecimal digits)")
        doc = self.tokens.find_one_and_delete({"keyId": oid, "userId": user["_id"], "kind": "apiKey"})
        if doc is None:
            raise NotFound(f"API key '{key_id}' does not exist")
        return self.render(doc)


class KeyBody(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    expiresAt = fields.Integer(strict=True, allow_none=True, validate=validate.Range(
        max=MAX_MILLIS, error="Must be an instant up to 9999-12-31 (epoch millis up to {max})"))


class KeyInfo(Schema):
    id = fields.String()
    name = fields.String()
    createdAt = fields.Integer()
    expiresAt = fields.Integer(allow_none=True)


class KeyOut(KeyInfo):
    key = fields.String()


blp = Blueprint("api_keys", __name__, description="API keys of the current user")


def _keys() -> ApiKeys:
    return services().api_keys


@blp.route("/auth/api-keys", methods=["POST"])
@blp.arguments(KeyBody, location="body")
@blp.response(200, KeyOut)
@errors(blp, 400, 401, 403, 404)
def create_key(body: dict[str, Any]):
    if g.get("admin_user") is not None:
        raise Forbidden("An impersonating session cannot create API keys for the impersonated user")
    return _keys().create(g.user, body["name"], body.get("expiresAt"))


@blp.route("/auth/api-keys", methods=["GET"])
@blp.response(200, KeyInfo(many=True))
def list_keys():
    return _keys().list(g.user)


@blp.route("/auth/api-keys/<key_id>", methods=["DELETE"])
@blp.response(200, KeyInfo)
@errors(blp, 400, 401, 404)
def delete_key(key_id: str):
    return _keys().delete(g.user, key_id)


def install(app: Flask, api: Any, svc: Services) -> None:
    svc.api_keys = ApiKeys(svc.auth)
    api.register_blueprint(blp, url_prefix=svc.config.api_prefix)
