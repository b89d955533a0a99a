"""``/auth``: login, logout, token refresh, who am I, change password."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request
from flask_smorest import Blueprint

from core.http import json_object, loads_safe
from core.identity import client_ip
from core.services import services
from runtime.auth import public_user, token_from_request

blp = Blueprint("auth", __name__, description="Login, logout and the current user")


def _credentials() -> dict[str, Any]:
    """A JSON object body (whatever the Content-Type: ``curl -d '{...}'`` sends it as a form), or a
    form-encoded one (``-d "email=...&password=..."``)."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            parsed = loads_safe(request.get_data(cache=True) or b"null")
        except ValueError:
            parsed = None
        return parsed if isinstance(parsed, dict) else request.form.to_dict()
    return json_object({})


def _session(token: str, user: dict[str, Any], admin: dict[str, Any] | None, ip: str | None) -> dict[str, Any]:
    return {"app": current_app.config["RUNTIME"].app_name, "adminUserEmail": admin["email"] if admin else None,
            "ip": ip, "userEmail": user["email"], "userName": user.get("fullName"), "userId": str(user["_id"]),
            "token": token}


@blp.route("/auth/login", methods=["POST"])
def login():
    body = _credentials()
    ip = client_ip()
    svc = services()
    token, user, admin = svc.auth.login(body.get("email"), body.get("password"), body.get("emailImpersonatedUser"),
                                        ip, developers_only=svc.config.maintenance_mode)
    return jsonify(_session(token, user, admin, ip))


@blp.route("/auth/logout", methods=["GET", "POST"])
def logout():
    services().auth.logout(token_from_request() or "")
    return jsonify({"logout": True})


@blp.route("/auth/refresh-token", methods=["GET", "POST"])
def refresh_token():
    """A fresh token for this session (same body as login); the token sent stops working."""
    ip = client_ip()
    token = services().auth.refresh(g.token, ip)
    return jsonify(_session(token, g.user, g.get("admin_user"), ip))


@blp.route("/auth/change-password", methods=["POST", "PUT"])
def change_password():
    body = _credentials()
    services().auth.change_password(g.user, g.get("admin_user"), g.token,
                                    body.get("oldPassword", body.get("old_password")), body.get("password"),
                                    body.get("password2", body.get("password_2")))
    return jsonify({"success": True})


@blp.route("/auth/me", methods=["GET"])
def me():
    out = public_user(g.user)
    admin = g.get("admin_user")
    out["adminUserEmail"] = admin["email"] if admin else None
    return jsonify(out)


@blp.route("/auth/authenticated", methods=["GET"])
def authenticated():
    """200 with the user while the token is valid; the guard answers 401 otherwise."""
    admin = g.get("admin_user")
    return jsonify({"authenticated": True, "user": public_user(g.user),
                    "adminUserEmail": admin["email"] if admin else None})


@blp.route("/users/current", methods=["GET"])
def current_user():
    return me()


PUBLIC_ENDPOINTS = {"auth.login", "health.health"}
