"""``/auth``: login, logout, and who am I."""

from __future__ import annotations

from flask import current_app, g, jsonify
from flask_smorest import Blueprint

from runtime.auth import client_ip, public_user, token_from_request
from runtime.http import json_object
from runtime.services import services

blp = Blueprint("auth", __name__, description="Login, logout and the current user")


@blp.route("/auth/login", methods=["POST"])
def login():
    body = json_object({})
    ip = client_ip()
    token, user, admin = services().auth.login(body.get("email"), body.get("password"),
                                               body.get("emailImpersonatedUser"), ip)
    return jsonify({"app": current_app.config["RUNTIME"].app_name, "adminUserEmail": admin["email"] if admin else None,
                    "ip": ip, "userEmail": user["email"], "userName": user.get("fullName"),
                    "userId": str(user["_id"]), "token": token})


@blp.route("/auth/logout", methods=["POST"])
def logout():
    services().auth.logout(token_from_request() or "")
    return jsonify({})


@blp.route("/auth/me", methods=["GET"])
def me():
    out = public_user(g.user)
    admin = g.get("admin_user")
    out["adminUserEmail"] = admin["email"] if admin else None
    return jsonify(out)


@blp.route("/users/current", methods=["GET"])
def current_user():
    return me()


PUBLIC_ENDPOINTS = {"auth.login", "health.health"}
