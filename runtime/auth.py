"""Login, sessions and the per-request guard. Passwords are hashed with argon2; tokens are random, stored hashed.

A session token expires after ``token_idle_seconds`` without use (8 h by default) and in any case
``token_max_seconds`` after login (7 days). API keys (``runtime.api_keys``) live in the same collection and
never expire by idleness. Every token document carries a snapshot of its user (and impersonator): email,
names, developer, status, groups, usersManagement — so authenticating a request is ONE read. Whoever changes a
user calls ``sync_user`` in the same service call, which rewrites or deletes that user's token documents:
deactivation, blocking, deletion and group changes are seen on the very next request by every process.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from bson import ObjectId
from flask import request
from pymongo.errors import DuplicateKeyError

from core.errors import ApiError, BadRequest, Forbidden, NotFound, Unauthorized, ValidationFailed, field_error
from core.storage import READ_CACHE_SIZE, Store
from runtime.login_guard import LoginGuard

USERS = "sys.users"
GROUPS = "sys.groups"
TOKENS = "sys.tokens"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))  # verified for unknown emails: same time, same answer
_TOUCH_AFTER = dt.timedelta(seconds=60)  # at most: a session's expiry moves on after a quarter of the idle time
INVALID_CREDENTIALS = "Invalid credentials: the email or the password is not correct"
STATUS_MESSAGES = {
    "INACTIVE": "This user is inactive: a developer or a users manager must reactivate it",
    "BLOCKED": "This user is blocked after too many failed logins: a developer or a users manager must unblock it",
}
_SNAPSHOT_KEYS = ("email", "firstName", "lastName", "fullName", "developer", "status", "groups")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# the digests of the tokens recently sent: a token comes back on every request of its session
_request_digest = functools.lru_cache(maxsize=1024)(digest)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password: Any, minimum: int, field: str = "password") -> None:
    if not isinstance(password, str) or not password:
        raise ValidationFailed([field_error(field, "required", "This field is required")])
    if len(password) < minimum:
        raise ValidationFailed([field_error(field, "invalid", f"The password must have at least {minimum} characters")])



def text_errors(values: Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The field errors of values that must be non-empty strings: ``required`` when missing or empty, ``invalid``
    when of another type."""
    errors = []
    for name, value in values:
        if value is None or value == "":
            errors.append(field_error(name, "required", "This field is required"))
        elif not isinstance(value, str):
            errors.append(field_error(name, "invalid", "Must be a string"))
    return errors

class AuthService:
    def __init__(self, store: Store, idle_seconds: int, max_seconds: int = 7 * 24 * 3600,
                 password_min_length: int = 8, guard: LoginGuard | None = None):
        self.store = store
        self.users = store.collection(USERS)
        self.groups = store.collection(GROUPS)
        self.tokens = store.collection(TOKENS)
        self.idle = dt.timedelta(seconds=idle_seconds)
        # how long a used session waits before its idle expiry is pushed forward again (one write per interval)
        self.touch_after = min(_TOUCH_AFTER, self.idle / 4)
        self.max_age = dt.timedelta(seconds=max_seconds)
        self.password_min_length = password_min_length
        self.guard = guard or LoginGuard(store)
        # embedded store: token id → (the session document checked, until when that check holds, its answer)
        self._checked: dict[str, tuple[dict[str, Any], float, tuple[dict[str, Any], dict[str, Any] | None]]] = {}

    def ensure_indexes(self) -> None:
        self.users.create_index("email", unique=True)
        # "<provider id>:<external id>" of a user's identity providers (runtime.users): one user each
        self.users.create_index("externalIds", unique=True, sparse=True)
        self.users.create_index("groups.id")
        self.groups.create_index("name", unique=True)
        self.tokens.create_index("userId")
        self.tokens.create_index("adminUserId")
        self.store.ensure_ttl(TOKENS, "expiresAt", "expiry")
        self.guard.ensure_indexes()

    # --- users -----------------------------------------------------------------------------------

    def create_user(self, email: str, password: str, first_name: str = "", last_name: str = "",
                    developer: bool = False, groups: list[dict[str, Any]] | None = None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new ACTIVE user; ``extra``: more stored fields, validated by the caller (``runtime.users``)."""
        doc = {"_id": ObjectId(), "email": email.strip().lower(), "passwordHash": _hasher.hash(password),
               "firstName": first_name, "lastName": last_name,
               "fullName": f"{first_name} {last_name}".strip() or email.strip().lower(), "developer": developer,
               "status": "ACTIVE", "groups": groups or [], **(extra or {}), "version": 0}
        try:
            self.users.insert_one(doc)
        except DuplicateKeyError as exc:
            if "externalIds" in ((exc.details or {}).get("keyPattern") or {}):
                raise ValidationFailed([field_error("identityProviders", "duplicate",
                                                    "Another user has one of these external ids")]) from None
            raise ValidationFailed([field_error("email", "duplicate", f"A user with email {email} already exists",
                                                rejected=email)]) from None
        return doc

    def find_user(self, email: str) -> dict[str, Any] | None:
        return self.users.find_one({"email": email.strip().lower()})

    def ensure_admin(self, email: str | None, password: str | None) -> tuple[str, str | None]:
        """The first developer user: created when missing, left as it is otherwise (its password included).

        Returns (email, the password it was created with; None when it already existed)."""
        email = (email or "admin@example.com").strip().lower()
        if self.find_user(email) is not None:  # never reset: a changed password must survive every deploy
            return email, None
        password = password or secrets.token_urlsafe(12)
        self.create_user(email, password, "Admin", "", developer=True)
        return email, password

    def set_password(self, user_id: ObjectId, password: str, keep_token: str | None = None) -> None:
        """Store a new password and end the user's sessions (but ``keep_token``); API keys stay."""
        self.users.update_one({"_id": user_id}, {"$set": {"passwordHash": _hasher.hash(password)},
                                                 "$inc": {"version": 1}})
        query: dict[str, Any] = {"userId": user_id, "kind": {"$ne": "apiKey"}}
        if keep_token:
            query["_id"] = {"$ne": digest(keep_token)}
        self.tokens.delete_many(query)

    @staticmethod
    def _verify(user: dict[str, Any] | None, password: str) -> bool:
        try:
            return _hasher.verify(user["passwordHash"] if user else _DUMMY_HASH, password) and user is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def users_management(self, user: dict[str, Any]) -> bool:
        ids = [g["id"] for g in user.get("groups") or []]
        query = {"_id": {"$in": ids}, "usersManagement": True}
        return bool(ids) and self.groups.find_one(query, {"_id": 1}) is not None

    def snapshot(self, user: dict[str, Any]) -> dict[str, Any]:
        """What a token carries about its user: enough for the guard and the permission checks."""
        snap = {k: user.get(k) for k in _SNAPSHOT_KEYS}
        snap["_id"] = user["_id"]
        snap["developer"] = bool(user.get("developer"))
        snap["groups"] = list(user.get("groups") or [])
        snap["usersManagement"] = self.users_management(user)
        snap["version"] = user.get("version", 0)
        return snap

    def sync_user(self, user_id: ObjectId) -> None:
        """Bring every token of ``user_id`` (as user or as impersonator) in line with the stored user.

        Deleted: every token goes. Not active: sessions go, API keys keep a snapshot that says why they fail.
        Active: the snapshots are rewritten, and the sessions in which they impersonate someone end once they may
        no longer impersonate (no users management), as do those in which a non-developer impersonates them once
        they are a developer."""
        user = self.users.find_one({"_id": user_id}, {"passwordHash": 0})
        if user is None:
            self.tokens.delete_many({"$or": [{"userId": user_id}, {"adminUserId": user_id}]})
            return
        snap = self.snapshot(user)
        if user.get("status") != "ACTIVE":
            self.tokens.delete_many({"$or": [{"userId": user_id}, {"adminUserId": user_id}],
                                     "kind": {"$ne": "apiKey"}})
        newer = {"$not": {"$gt": snap["version"]}}  # a sync that read the user before a later change loses
        self.tokens.update_many({"userId": user_id, "user.version": newer}, {"$set": {"user": snap}})
        if snap["developer"]:  # a user manager may not impersonate a developer: their sessions as one end
            self.tokens.delete_many({"userId": user_id, "adminUserId": {"$ne": None}, "admin.developer": False})
        if not snap["developer"] and not snap["usersManagement"]:  # may no longer impersonate: those sessions end
            self.tokens.delete_many({"adminUserId": user_id})
        else:
            self.tokens.update_many({"adminUserId": user_id, "admin.version": newer}, {"$set": {"admin": snap}})

    # --- sessions --------------------------------------------------------------------------------

    def login(self, email: Any, password: Any, impersonate: Any, ip: str | None,
              developers_only: bool = False) -> tuple[str, dict, dict | None]:
        """A new session token. ``developers_only`` (maintenance mode): other users get 503."""
        errors = text_errors((("email", email), ("password", password)))
        if impersonate is not None and not isinstance(impersonate, str):
            errors.append(field_error("emailImpersonatedUser", "invalid", "Must be a string"))
        if errors:
            raise ValidationFailed(errors, "email and password are required")
        self.guard.check(email, ip)
        user = self.find_user(email)
        if not self._verify(user, password):
            failures = self.guard.failed(email, ip)
            if user is not None and failures >= self.guard.block_after and user.get("status") == "ACTIVE":
                self.users.update_one({"_id": user["_id"]}, {"$set": {"status": "BLOCKED"}, "$inc": {"version": 1}})
                self.sync_user(user["_id"])
            raise Unauthorized(INVALID_CREDENTIALS)
        assert user is not None
        if user.get("status") != "ACTIVE":  # right password, but the user may not log in: 401 saying why
            raise Unauthorized(STATUS_MESSAGES.get(user.get("status"), "This user cannot log in"))
        self.guard.reset(email)
        if developers_only and not user.get("developer"):
            raise ServiceUnavailable()
        admin = None
        if impersonate:
            admin, user = user, self._impersonation_target(user, impersonate)
        token = self.issue(user, admin, ip)
        return token, user, admin

    def _impersonation_target(self, admin: dict[str, Any], email: Any) -> dict[str, Any]:
        if not admin.get("developer") and not self.users_management(admin):
            raise Forbidden("You are not allowed to impersonate users")
        target = self.find_user(str(email))
        if target is None:
            raise NotFound(f"User {email} does not exist")
        if target.get("developer") and not admin.get("developer"):
            raise Forbidden("Only developers can impersonate a developer")
        if target.get("status") != "ACTIVE":
            raise Forbidden(f"User {email} cannot be impersonated: " + STATUS_MESSAGES.get(target.get("status"), ""))
        return target

    def issue(self, user: dict[str, Any], admin: dict[str, Any] | None, ip: str | None,
              max_expires: dt.datetime | None = None) -> str:
        token = secrets.token_urlsafe(32)
        now = _now()
        max_expires = max_expires or now + self.max_age
        doc = {"_id": digest(token), "kind": "session", "userId": user["_id"],
               "adminUserId": admin["_id"] if admin else None, "user": self.snapshot(user),
               "admin": self.snapshot(admin) if admin else None, "ip": ip, "createdAt": now, "touchedAt": now,
               "expiresAt": min(now + self.idle, max_expires), "maxExpiresAt": max_expires}
        self.tokens.insert_one(doc)
        self._recheck(doc, user, admin)
        return token

    def _recheck(self, doc: dict[str, Any], user: dict[str, Any], admin: dict[str, Any] | None) -> None:
        """A user changed between our read and the token insert: resync (the change's own sync missed this token)."""
        for who in (user, admin):
            if who is None:
                continue
            current = self.users.find_one({"_id": who["_id"]}, {"version": 1})
            if current is None or current.get("version", 0) != who.get("version", 0):
                self.sync_user(who["_id"])

    def logout(self, token: str) -> None:
        """End the session of ``token``. An API key is no session: it is refused (400) rather than answered
        as logged out while it keeps working."""
        if self.tokens.delete_one({"_id": digest(token), "kind": {"$ne": "apiKey"}}).deleted_count == 0:
            self._refuse_api_key(token, "An API key is not a session to log out of")

    def refresh(self, token: str, ip: str | None) -> str:
        """A new token for the same session (same user, same impersonator, same absolute end)."""
        session = self.tokens.find_one_and_delete({"_id": digest(token), "kind": {"$ne": "apiKey"}})
        if session is None:
            self._refuse_api_key(token, "An API key is not refreshed")
        if session is None or session["expiresAt"] <= _now():
            raise Unauthorized("The token is not valid or has expired; log in again")
        user = self.users.find_one({"_id": session["userId"]})
        admin = self.users.find_one({"_id": session["adminUserId"]}) if session.get("adminUserId") else None
        if user is None or user.get("status") != "ACTIVE":
            raise Unauthorized("The user of this token no longer exists or is inactive")
        return self.issue(user, admin, ip, session.get("maxExpiresAt"))

    def _refuse_api_key(self, token: str, what: str) -> None:
        if self.tokens.find_one({"_id": digest(token), "kind": "apiKey"}, {"_id": 1}) is not None:
            raise BadRequest(f"{what}: it works until it expires or is deleted (DELETE /auth/api-keys/{{id}})")

    def change_password(self, user: dict[str, Any], admin: dict[str, Any] | None, token: str, old: Any,
                        new: Any, confirmation: Any) -> None:
        """Check the current password, set the new one and end every other session of the user."""
        errors = text_errors((("oldPassword", old), ("password", new), ("password2", confirmation)))
        if errors:
            raise ValidationFailed(errors)
        if admin is not None:
            raise Forbidden("An impersonating session cannot change the password of the impersonated user")
        stored = self.users.find_one({"_id": user["_id"]})
        if stored is None or not self._verify(stored, old):
            raise ValidationFailed([field_error("oldPassword", "invalid", "The current password is not correct")])
        check_password(new, self.password_min_length)
        if new != confirmation:
            raise ValidationFailed([field_error("password2", "invalid", "The passwords do not match")])
        self.set_password(user["_id"], new, keep_token=token)

    def authenticate(self, token: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The token's user and impersonator, from the token document alone (one read)."""
        found = self.authenticate_with(token)
        return found.user, found.admin

    def authenticate_with(self, token: str, lookups: Sequence[dict[str, Any]] = ()) -> Authenticated:
        """The token's user and impersonator, from the token document alone, in one round trip that also runs
        ``lookups`` (``$lookup`` stages on the token document: what the rest of the request will need, such
        as the metadata stamp and the user's groups) on a real server.

        On the embedded store the token is read through ``Store.read_cached`` and ``lookups`` are not run
        (``joined`` is None): reads there cost no round trip, and the owners of those reads cache them the
        same way."""
        session, joined = self._session(_request_digest(token), lookups)
        user, admin = self._check(session)
        return Authenticated(dict(user), dict(admin) if admin is not None else None, joined)

    def _session(self, token_id: str, lookups: Sequence[dict[str, Any]]
                 ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if self.store.embedded or not lookups:
            return self.store.read_cached(TOKENS, token_id, lambda: self.tokens.find_one({"_id": token_id})), None
        found = list(self.tokens.aggregate([{"$match": {"_id": token_id}}, {"$limit": 1}, *lookups]))
        if not found:
            return None, None
        session = found[0]
        joined = {stage["$lookup"]["as"]: session.pop(stage["$lookup"]["as"], []) for stage in lookups}
        return session, joined

    def _check(self, session: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if session is not None:  # the same document (no write since) already checked, and not due again yet
            checked = self._checked.get(session["_id"])
            if checked is not None and checked[0] is session and time.time() < checked[1]:
                return checked[2]
        now = _now()
        if session is None or (session.get("expiresAt") is not None and session["expiresAt"] <= now):
            raise Unauthorized("The token is not valid or has expired; log in again")
        user, admin = session.get("user"), session.get("admin")
        if user is None:
            raise Unauthorized("The token is not valid or has expired; log in again")
        for who in (user, admin):
            if who is not None and who.get("status") != "ACTIVE":
                raise Unauthorized(STATUS_MESSAGES.get(who.get("status"), "This user cannot use the API"))
        if admin is not None and not admin.get("developer") and not admin.get("usersManagement"):
            raise Unauthorized("The impersonating user may no longer impersonate users; log in again")
        if session.get("kind") != "apiKey" and now - session.get("touchedAt", now) > self.touch_after:
            expires = min(now + self.idle, session.get("maxExpiresAt") or now + self.idle)
            self.tokens.update_one({"_id": session["_id"]}, {"$set": {"touchedAt": now, "expiresAt": expires}})
        elif self.store.embedded:  # read_cached hands out this document until the tokens are written
            self._remember(session, now, (user, admin))
        return user, admin

    def _remember(self, session: dict[str, Any], now: dt.datetime,
                  answer: tuple[dict[str, Any], dict[str, Any] | None]) -> None:
        """Keep a check's answer for the same session document until it expires or is due to be touched (at
        most a minute); a write of the tokens (a touch, a logout, a change of its user) makes a new document."""
        left = dt.timedelta(minutes=1)
        if session.get("kind") != "apiKey":
            left = min(left, self.touch_after - (now - session.get("touchedAt", now)))
        if session.get("expiresAt") is not None:
            left = min(left, session["expiresAt"] - now)
        if len(self._checked) >= READ_CACHE_SIZE:
            self._checked.clear()
        self._checked[session["_id"]] = (session, time.time() + left.total_seconds(), answer)


@dataclass(frozen=True)
class Authenticated:
    """A request's caller: the token's user and impersonator (copies of the token's snapshots, the caller's to
    change), and what the ``lookups`` of ``Auth.authenticate_with`` brought, by their ``as`` name."""

    user: dict[str, Any]
    admin: dict[str, Any] | None
    joined: dict[str, list[dict[str, Any]]] | None


class ServiceUnavailable(ApiError):
    def __init__(self) -> None:
        super().__init__(503, "The application is under maintenance; only developers can use it now")


TOKEN_SCHEMES = ("bearer", "token")
# the cookie a GET of a file may carry the token in (see Plugins.cookie_endpoints); no other request reads it
TOKEN_COOKIE = "token"
OTHER_SCHEMES = ("basic", "digest")  # these names alone are not a bare token either


def token_from_request(req: Any = None) -> str | None:
    req = req if req is not None else request
    headers = req.headers
    header = headers.get("token") or headers.get("X-API-KEY")
    if header:
        return header.strip()
    first, _, rest = headers.get("Authorization", "").strip().partition(" ")
    scheme, value = first.lower(), rest.strip()
    if value and scheme in TOKEN_SCHEMES:
        return value
    if first and not value and scheme not in TOKEN_SCHEMES + OTHER_SCHEMES:  # ``Authorization: <token>``
        return first
    return req.args.get("api_key") or None


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(user["_id"]), "email": user["email"], "firstName": user.get("firstName"),
            "lastName": user.get("lastName"), "fullName": user.get("fullName"), "status": user.get("status"),
            "permissions": {"developer": bool(user.get("developer")),
                            "usersManagement": bool(user.get("usersManagement")) and not user.get("developer")}}
