"""``/auth``: login, logout, token refresh, who am I, change password."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, g, jsonify, request

from core.api import Blueprint, errors
from core.errors import ApiError
from core.identity import client_ip
from core.services import services
from runtime.auth import public_user, token_from_request
from runtime.schemas import Authenticated, ChangePasswordBody, CurrentUser, LoginBody, Logout, Session, Success

blp = Blueprint("auth", __name__, description="Login, logout and the current user")


def _session(token: str, user: dict[str, Any], admin: dict[str, Any] | None, ip: str | None) -> dict[str, Any]:
    return {"app": current_app.config["RUNTIME"].app_name, "adminUserEmail": admin["email"] if admin else None,
            "ip": ip, "userEmail": user["email"], "userName": user.get("fullName"), "userId": str(user["_id"]),
            "token": token}


@blp.route("/auth/login", methods=["POST"])
@blp.arguments(LoginBody, location="json_or_form")
@blp.response(200, Session)
@blp.doc(security=[])
@errors(blp, 400, 401, 403, 404, 429, 503)
def login(body: dict[str, Any]):
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
@blp.response(200, Logout)
@errors(blp, 400, 401)
def logout():
    """End this session; the token sent stops working. An API key is refused (400): delete it instead."""
    if request.method == "HEAD":  # headers only: a HEAD (a link checker, a probe) ends nothing
        return jsonify({})
    services().auth.logout(token_from_request() or "")
    return jsonify({"logout": True})


@blp.route("/auth/refresh-token", methods=["GET", "POST"])
@blp.response(200, Session)
@errors(blp, 400, 401)
def refresh_token():
    """A fresh token for this session (same body as login); the token sent stops working."""
    if request.method == "HEAD":  # a HEAD answer has no body to carry a new token: the session stays as it is
        return jsonify({})
    ip = client_ip()
    token = services().auth.refresh(g.token, ip)
    return jsonify(_session(token, g.user, g.get("admin_user"), ip))


@blp.route("/auth/change-password", methods=["POST", "PUT"])
@blp.arguments(ChangePasswordBody, location="json_or_form")
@blp.response(200, Success)
@errors(blp, 400, 401, 403)
def change_password(body: dict[str, Any]):
    services().auth.change_password(g.user, g.get("admin_user"), g.token,
                                    body.get("oldPassword", body.get("old_password")), body.get("password"),
                                    body.get("password2", body.get("password_2")))
    return jsonify({"success": True})


@blp.route("/auth/me", methods=["GET"])
@blp.response(200, CurrentUser)
@errors(blp, 401)
def me():
    """The user JSON of ``GET /users/{id}``, and who impersonates it."""
    out = services().users.current(g.user)
    admin = g.get("admin_user")
    out["adminUserEmail"] = admin["email"] if admin else None
    return jsonify(out)


@blp.route("/auth/authenticated", methods=["GET"])
@blp.response(200, Authenticated)
@errors(blp, 401)
def authenticated():
    """200 with the user while the token is valid; the guard answers 401 otherwise."""
    admin = g.get("admin_user")
    return jsonify({"authenticated": True, "user": public_user(g.user),
                    "adminUserEmail": admin["email"] if admin else None})


@blp.route("/users/current", methods=["GET"])
@blp.response(200, CurrentUser)
@errors(blp, 401)
def current_user():
    return me()


PUBLIC_ENDPOINTS = {"auth.login", "health.health", "health.ready", "docs.page", "docs.asset"}
