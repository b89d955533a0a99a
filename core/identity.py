"""Who is calling: the user the auth guard put on ``flask.g``, and the write context built from it."""

from __future__ import annotations

from typing import Any

from flask import g, request

from core.context import WriteContext
from core.errors import Forbidden


def client_ip() -> str | None:
    """The client address. ``X-Forwarded-For`` counts only behind ``TRUSTED_PROXIES`` proxies, where werkzeug's
    ProxyFix (installed by the app factory) has already put the real address here."""
    return request.remote_addr or None


def current_user() -> dict[str, Any]:
    return g.user


def require_developer(message: str = "Only developers can do this") -> None:
    if not g.user.get("developer"):
        raise Forbidden(message)


def write_context(context_path: str | None = None) -> WriteContext:
    ctx = g._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup for the three reads
    user, admin = ctx.user, ctx.get("admin_user")
    return WriteContext(user_email=user["email"], user_id=str(user["_id"]), user_name=user.get("fullName"),
                        developer=bool(user.get("developer")),
                        impersonator_email=admin["email"] if admin else None, ip=client_ip(),
                        context_path=context_path, caller=ctx.get("caller"))
