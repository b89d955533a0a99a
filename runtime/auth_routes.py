"""``/auth``: login, logout, token refresh, who am I, change password."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import current_app, g, jsonify, request
from flask_smorest import Blueprint

from core.errors import ApiError
from core.http import json_object
from core.identity import client_ip
from core.services import services
from runtime.auth import public_user, token_from_request

blp = Blueprint("auth", __name__, description="Login, logout and the current user")


def _credentials() -> dict[str, Any]:
    """A JSON object body (whatever the Content-Type: ``curl -d '{...}'`` sends it as a form), or a
    form-encoded one (``-d "email=...&password=..."``)."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            parsed = json.loads(request.get_data(cache=True) or b"null")
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
    try:
        token, user, admin = svc.auth.login(body.get("email"), body.get("password"),
                                            body.get("emailImpersonatedUser"), ip,
                                            developers_only=svc.config.maintenance_mode)
    except ApiError as exc:
        _log_login(svc, "WARN", body, ip, None, None, exc)
        raise
    _log_login(svc, "INFO", body, ip, user, admin)
    return jsonify(_session(token, user, admin, ip))


def _log_login(svc: Any, level: str, body: dict[str, Any], ip: str | None, user: dict[str, Any] | None,
               admin: dict[str, Any] | None, error: ApiError | None = None) -> None:
    """``{"subType": "LOGIN", "message": "POST /login"}``; a refused login at WARN with the reason (never the
    password)."""
    logs = svc.app_logs
    if logs is None:
        return
    try:
        if user is not None:
            logs.log(level, "POST /login", None, user["email"], sub_type="LOGIN",
                     admin_user=admin["email"] if admin else None, ip=ip)
            return
        email = body.get("email") if isinstance(body.get("email"), str) else None
        info = {"status": error.status if error else None, "reason": error.message if error else None}
        if isinstance(body.get("emailImpersonatedUser"), str):
            info["emailImpersonatedUser"] = body["emailImpersonatedUser"][:320]
        logs.log(level, f"POST /login failed: {info['reason']}", info, (email or "unknown")[:320].strip().lower(),
                 sub_type="LOGIN", ip=ip)
    except Exception:  # a log never costs the login its answer
        logging.getLogger("runtime.applogs").exception("could not queue the login log")


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


PUBLIC_ENDPOINTS = {"auth.login", "health.health", "health.ready", "docs.page", "docs.asset"}
