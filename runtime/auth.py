"""Users, login and tokens. Passwords are hashed with argon2; tokens are random and stored hashed.

A token expires after ``token_idle_seconds`` without use (8 h by default); a TTL index removes it.
Every API route needs a token (``token`` header, ``Authorization: Bearer|token <t>``, ``X-API-KEY`` or
``api_key``) except login and health.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from bson import ObjectId
from flask import request
from pymongo.errors import DuplicateKeyError

from core.errors import ApiError, Forbidden, Unauthorized, ValidationFailed, field_error
from core.storage import Store

USERS = "sys.users"
TOKENS = "sys.tokens"
_hasher = PasswordHasher()
_TOUCH_AFTER = dt.timedelta(seconds=60)
MIN_PASSWORD_LENGTH = 8


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    def __init__(self, store: Store, idle_seconds: int):
        self.store = store
        self.users = store.collection(USERS)
        self.tokens = store.collection(TOKENS)
        self.idle = dt.timedelta(seconds=idle_seconds)

    def ensure_indexes(self) -> None:
        self.users.create_index("email", unique=True)
        self.store.ensure_ttl(TOKENS, "expiresAt", "expiry")

    # --- users -----------------------------------------------------------------------------------

    def create_user(self, email: str, password: str, first_name: str = "", last_name: str = "",
                    developer: bool = False) -> dict[str, Any]:
        doc = {"_id": ObjectId(), "email": email.strip().lower(), "passwordHash": _hasher.hash(password),
               "firstName": first_name, "lastName": last_name,
               "fullName": f"{first_name} {last_name}".strip() or email, "developer": developer,
               "status": "ACTIVE"}
        try:
            self.users.insert_one(doc)
        except DuplicateKeyError:
            raise ApiError(400, f"A user with email {email} already exists") from None
        return doc

    def find_user(self, email: str) -> dict[str, Any] | None:
        return self.users.find_one({"email": email.strip().lower()})

    def ensure_admin(self, email: str | None, password: str | None) -> tuple[str, str | None]:
        """The first developer user: created when missing. Returns (email, password if generated or given)."""
        email = (email or "admin@example.com").strip().lower()
        existing = self.find_user(email)
        if existing is not None:
            if password and not self._verify(existing, password):
                self.users.update_one({"_id": existing["_id"]}, {"$set": {"passwordHash": _hasher.hash(password)}})
            return email, password
        password = password or secrets.token_urlsafe(12)
        self.create_user(email, password, "Admin", "", developer=True)
        return email, password

    @staticmethod
    def _verify(user: dict[str, Any], password: str) -> bool:
        try:
            return _hasher.verify(user["passwordHash"], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # --- sessions --------------------------------------------------------------------------------

    def login(self, email: Any, password: Any, impersonate: Any, ip: str | None,
              developers_only: bool = False) -> tuple[str, dict, dict | None]:
        """A new session token. ``developers_only`` (maintenance mode): other users get 503."""
        if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
            raise ApiError(400, "email and password are required", errors=[
                {"field": f, "code": "required", "message": "This field is required"}
                for f, v in (("email", email), ("password", password)) if not isinstance(v, str) or not v])
        user = self.find_user(email)
        if user is None or not self._verify(user, password):
            raise Unauthorized("Invalid credentials")
        if user.get("status") != "ACTIVE":
            raise Forbidden("This user is not active")
        if developers_only and not user.get("developer"):
            raise ServiceUnavailable()
        admin = None
        if impersonate:
            if not user.get("developer"):
                raise Forbidden("You are not allowed to impersonate users")
            target = self.find_user(str(impersonate))
            if target is None:
                raise ApiError(404, f"User {impersonate} does not exist")
            admin, user = user, target
        return self._issue(user["_id"], admin["_id"] if admin else None, ip), user, admin

    def _issue(self, user_id: Any, admin_id: Any, ip: str | None) -> str:
        token = secrets.token_urlsafe(32)
        now = _now()
        self.tokens.insert_one({"_id": _digest(token), "userId": user_id, "adminUserId": admin_id, "ip": ip,
                                "createdAt": now, "touchedAt": now, "expiresAt": now + self.idle})
        return token

    def logout(self, token: str) -> None:
        self.tokens.delete_one({"_id": _digest(token)})

    def refresh(self, token: str, ip: str | None) -> str:
        """A new token for the same session (same user, same impersonator); the old one stops working."""
        session = self.tokens.find_one_and_delete({"_id": _digest(token)})
        if session is None or session["expiresAt"] <= _now():
            raise Unauthorized("The token is not valid or has expired; log in again")
        return self._issue(session["userId"], session.get("adminUserId"), ip)

    def change_password(self, user: dict[str, Any], admin: dict[str, Any] | None, token: str, old: Any,
                        new: Any, confirmation: Any) -> None:
        """Check the current password, set the new one and end every other session of the user."""
        errors = [field_error(name, "required", "This field is required")
                  for name, value in (("oldPassword", old), ("password", new), ("password2", confirmation))
                  if not isinstance(value, str) or not value]
        if errors:
            raise ValidationFailed(errors)
        if admin is not None:
            raise Forbidden("An impersonating session cannot change the password of the impersonated user")
        if not self._verify(user, old):
            raise ValidationFailed([field_error("oldPassword", "invalid", "The current password is not correct")])
        if len(new) < MIN_PASSWORD_LENGTH:
            raise ValidationFailed([field_error("password", "invalid",
                                                f"The password must have at least {MIN_PASSWORD_LENGTH} characters")])
        if new != confirmation:
            raise ValidationFailed([field_error("password2", "invalid", "The passwords do not match")])
        self.users.update_one({"_id": user["_id"]}, {"$set": {"passwordHash": _hasher.hash(new)}})
        self.tokens.delete_many({"userId": user["_id"], "_id": {"$ne": _digest(token)}})

    def authenticate(self, token: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        now = _now()
        session = self.tokens.find_one({"_id": _digest(token)})
        if session is None or session["expiresAt"] <= now:
            raise Unauthorized("The token is not valid or has expired; log in again")
        if now - session.get("touchedAt", now) > _TOUCH_AFTER:
            self.tokens.update_one({"_id": session["_id"]}, {"$set": {"touchedAt": now, "expiresAt": now + self.idle}})
        user = self.users.find_one({"_id": session["userId"]})
        if user is None or user.get("status") != "ACTIVE":
            raise Unauthorized("The user of this token no longer exists or is inactive")
        admin = self.users.find_one({"_id": session["adminUserId"]}) if session.get("adminUserId") else None
        return user, admin


class ServiceUnavailable(ApiError):
    def __init__(self) -> None:
        super().__init__(503, "The application is under maintenance; only developers can use it now")


def token_from_request() -> str | None:
    header = request.headers.get("token") or request.headers.get("X-API-KEY")
    if header:
        return header.strip()
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return request.args.get("api_key") or None


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(user["_id"]), "email": user["email"], "firstName": user.get("firstName"),
            "lastName": user.get("lastName"), "fullName": user.get("fullName"), "status": user.get("status"),
            "permissions": {"developer": bool(user.get("developer"))}}
