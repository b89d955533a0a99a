"""``GET /health`` (liveness: the process answers) and ``GET /health/ready`` (readiness: the store answers a
ping and, when ``REDIS_URL`` is set, so does Redis; otherwise 503 naming what failed). Neither needs a token."""

from __future__ import annotations

from typing import Any

import pymongo
from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from core.services import Services, services

blp = Blueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


class ReadySchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"example": {"store": "ok", "redis": "ok"}})


class NotReadySchema(ReadySchema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.List(fields.Dict(), required=True)


@blp.route("/health", methods=["GET"])
@blp.response(200, HealthSchema)
def health():
    """Liveness: answers while the process can serve requests; touches nothing else."""
    return {"status": "ok"}


@blp.route("/health/ready", methods=["GET"])
@blp.response(200, ReadySchema)
@blp.alt_response(503, schema=NotReadySchema, description="A dependency did not answer")
def ready():
    """Readiness: the store answers a ping, and Redis too when it is configured."""
    checks = check_dependencies(services())
    failed = [name for name, state in checks.items() if state not in ("ok", "not configured")]
    if not failed:
        return {"status": "ok", "checks": checks}
    body: dict[str, Any] = {
        "code": "serviceUnavailable", "message": f"Not ready: {', '.join(failed)} did not answer",
        "errors": [{"field": name, "fieldLabel": name, "code": "unavailable", "message": checks[name],
                    "additionalInfo": None} for name in failed],
        "status": "unavailable", "checks": checks}
    return jsonify(body), 503


def check_dependencies(svc: Services) -> dict[str, str]:
    timeout = svc.config.ready_timeout_seconds
    checks = {"store": _ping_store(svc, timeout)}
    checks["redis"] = _ping_redis(svc.config.redis_url, timeout) if svc.config.redis_url else "not configured"
    return checks


def _ping_store(svc: Services, timeout: float) -> str:
    try:
        with pymongo.timeout(timeout):
            svc.store.db.command("ping")
        return "ok"
    except Exception as exc:  # any failure means "not ready"; the message says which
        return f"error: {type(exc).__name__}: {str(exc)[:200]}"


def _ping_redis(url: str, timeout: float) -> str:
    from redis import Redis

    try:
        client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {str(exc)[:200]}"
