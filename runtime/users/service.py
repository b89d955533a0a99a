"""Users and groups: the rules behind ``/users`` and ``/groups``.

Store layout: ``sys.users`` {_id, email (lowercase), passwordHash, firstName, lastName, fullName, developer,
status, groups: [{id, primary, external}], localization: {timezoneMode[, timezone]}, identityProviders: [{id,
externalId}], externalIds: ["<provider id>:<external id>"] (only when there are some: a sparse unique index keeps
an external id to one user per provider), version}; ``sys.groups`` {_id, name, label, usersManagement,
permissions, version}. Fields a user was stored without read as their defaults (``DEFAULT_LOCALIZATION``,
``external: false``, the built-in identity provider). Every change is a compare-and-set on ``version``
followed, in the same call, by ``AuthService.sync_user`` so the user's tokens carry the change on the next
request.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import available_timezones

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from core.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, ValidationFailed, field_error
from core.http import invalid_param, page
from core.ids import parse_object_id
from entities.records.user_refs import user_label
from entities.registry import Registry
from runtime.auth import AuthService, check_password, hash_password
from runtime.users.identity_providers import (
    DEFAULT_ENTRIES,
    IdentityProvider,
    IdentityProviders,
    external_id_problem,
    external_key,
)
from runtime.users.permissions_doc import validate_permissions

STATUSES = ("ACTIVE", "INACTIVE", "BLOCKED")
EMAIL_RE = re.compile(r"^[^@\s,;()<>\"]+@[^@\s,;()<>\"]+\.[^@\s,;()<>\"]+$")  # no list or operator syntax
GROUP_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_RETRIES = 20
MAX_FILTER_TEXT = 500
TIMEZONE_MODES = ("AUTO", "MANUAL")
DEFAULT_LOCALIZATION = {"timezoneMode": "AUTO"}  # what a user stored without localization reads as


def can_manage_users(user: dict[str, Any]) -> bool:
    return bool(user.get("developer") or user.get("usersManagement"))


def require_users_manager(user: dict[str, Any]) -> None:
    if not can_manage_users(user):
        raise Forbidden("Only developers and users with users management can do this")


def _duplicate(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([field_error(field, "duplicate", message)])


def _regex(text: str) -> dict[str, Any]:
    return {"$regex": re.escape(text), "$options": "i"}


def _filter_text(text: str | None, name: str) -> str | None:
    """``text``, the value of query parameter ``name`` (a text to find): at most ``MAX_FILTER_TEXT`` characters,
    as ``_globalSearch`` (a longer one would make a pattern the store refuses)."""
    if text and len(text) > MAX_FILTER_TEXT:
        raise invalid_param(name, f"must be at most {MAX_FILTER_TEXT} characters")
    return text or None


@functools.cache
def _timezones() -> frozenset[str]:
    """The IANA names zoneinfo knows (a set: ``ZoneInfo(name)`` would touch the disk for any text it is given)."""
    return frozenset(available_timezones())


def localization(raw: Any, field: str = "localization") -> dict[str, Any]:
    """``{timezoneMode: AUTO}`` or ``{timezoneMode: MANUAL, timezone: <IANA name>}``; None is the default."""
    if raw is None:
        return dict(DEFAULT_LOCALIZATION)
    if not isinstance(raw, dict):
        raise ValidationFailed([field_error(field, "invalid", "localization is {timezoneMode: AUTO|MANUAL, timezone}")])
    mode, timezone = raw.get("timezoneMode"), raw.get("timezone")
    if mode not in TIMEZONE_MODES:
        raise ValidationFailed([field_error(f"{field}.timezoneMode", "required" if mode is None else "invalid",
                                            "timezoneMode is AUTO or MANUAL", rejected=mode)])
    if mode == "AUTO":
        if timezone is not None:
            raise ValidationFailed([field_error(f"{field}.timezone", "invalid", "A timezone is given only in "
                                                "MANUAL mode", rejected=timezone)])
        return {"timezoneMode": "AUTO"}
    if timezone is None or timezone == "":
        raise ValidationFailed([field_error(f"{field}.timezone", "required", "MANUAL mode needs a timezone")])
    if not isinstance(timezone, str) or timezone not in _timezones():
        raise ValidationFailed([field_error(f"{field}.timezone", "invalid", "timezone is an IANA name such as "
                                            "'Europe/Berlin'", rejected=timezone)])
    return {"timezoneMode": "MANUAL", "timezone": timezone}


def _paged(col: Any, query: dict[str, Any], size: int, offset: str | None) -> tuple[int, list[dict[str, Any]]]:
    """One page sorted by id: ``offset`` is the last id of the previous page or a number of items to skip."""
    total = col.count_documents(query)
    cursor_query = dict(query)
    skip = 0
    if offset:
        oid = parse_object_id(offset)
        if oid is not None:
            cursor_query = {"$and": [query, {"_id": {"$gt": oid}}]} if query else {"_id": {"$gt": oid}}
        elif offset.isdigit():
            skip = int(offset)
        else:
            raise invalid_param("offset", "offset is the last id of a page or a number", offset)
    docs = list(col.find(cursor_query, {"passwordHash": 0}).sort("_id", 1).skip(skip).limit(size))
    return total, docs


class GroupsService:
    def __init__(self, auth: AuthService, registry: Registry, relabel: Relabel | None = None):
        self.auth = auth
        self.groups = auth.groups
        self.users = auth.users
        self.registry = registry
        self.relabel = relabel

    @staticmethod
    def render(doc: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(doc["_id"]), "name": doc["name"], "label": doc.get("label") or doc["name"],
                "usersManagement": bool(doc.get("usersManagement")), "permissions": doc.get("permissions") or {},
                "version": doc.get("version", 0)}

    def list(self, size: int, offset: str | None, name: str | None = None) -> dict[str, Any]:
        name = _filter_text(name, "name")
        query = {"$or": [{"name": _regex(name)}, {"label": _regex(name)}]} if name else {}
        total, docs = _paged(self.groups, query, size, offset)
        return page(total, docs, self.render)

    def find(self, id_or_name: str) -> dict[str, Any]:
        oid = parse_object_id(id_or_name)
        if oid is None and not GROUP_NAME_RE.match(id_or_name):
            raise BadRequest(f"'{id_or_name}' is neither a group id nor a group name (letters, digits and "
                             "underscores)")
        doc = self.groups.find_one({"_id": oid}) if oid is not None else None
        doc = doc or self.groups.find_one({"name": id_or_name})
        if doc is None:
            raise NotFound(f"Group '{id_or_name}' does not exist")
        return doc

    def _validated(self, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        if "name" in body or current is None:
            name = body.get("name")
            if not isinstance(name, str) or not GROUP_NAME_RE.match(name):
                errors.append(field_error("name", "required" if not name else "invalid",
                                          "A group name is letters, digits and underscores", rejected=name))
            else:
                other = self.groups.find_one({"name": name}, {"_id": 1})
                if other is not None and (current is None or other["_id"] != current["_id"]):
                    errors.append(field_error("name", "duplicate", f"A group named {name} already exists",
                                              rejected=name))
                values["name"] = name
        if "label" in body:
            values["label"] = body["label"] or values.get("name") or (current or {}).get("name")
        elif current is None:
            values["label"] = values.get("name")
        if "usersManagement" in body or current is None:
            values["usersManagement"] = bool(body.get("usersManagement", False))
        if "permissions" in body or current is None:
            permissions = body.get("permissions") or {}
            errors += validate_permissions(permissions, self.registry)
            values["permissions"] = permissions
        if errors:
            raise ValidationFailed(errors)
        return values

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        doc = {"_id": ObjectId(), **self._validated(body, None), "version": 0}
        try:
            self.groups.insert_one(doc)
        except DuplicateKeyError:
            raise _duplicate("name", "A group with this name already exists") from None
        return doc

    def update(self, id_or_name: str, body: dict[str, Any], caller: dict[str, Any] | None = None) -> dict[str, Any]:
        """``caller``: who changes it (the user of the jobs that refresh the label of ``group`` fields)."""
        current = self.find(id_or_name)
        expected = body.get("version")
        for _ in range(MAX_RETRIES):  # without ``version``: applied to the group as it is then, as a user change
            if expected is not None and expected != current.get("version", 0):
                raise Conflict("The group was modified by someone else", currentVersion=current.get("version", 0))
            values = self._validated(body, current)
            try:
                result = self.groups.update_one({"_id": current["_id"], "version": current.get("version", 0)},
                                                {"$set": values, "$inc": {"version": 1}})
            except DuplicateKeyError:
                raise _duplicate("name", "A group with this name already exists") from None
            if result.matched_count == 1:
                break
            current = self.find(str(current["_id"]))  # a 404 when it was deleted meanwhile
        else:
            raise ApiError(503, "The group is too busy to update right now; try again")
        if bool(values.get("usersManagement", current.get("usersManagement"))) != bool(current.get("usersManagement")):
            for user in self.users.find({"groups.id": current["_id"]}, {"_id": 1}):
                self.auth.sync_user(user["_id"])
        updated = self.find(str(current["_id"]))
        label = self.render(updated)["label"]
        if self.relabel is not None and label != self.render(current)["label"]:
            self.relabel(updated["_id"], label, caller or {})
        return updated

    def delete(self, id_or_name: str) -> dict[str, Any]:
        doc = self.find(id_or_name)
        if self.users.find_one({"groups": {"$elemMatch": {"id": doc["_id"], "primary": True}}}, {"_id": 1}):
            raise BadRequest(f"Group '{doc['name']}' is the primary group of some users; change their primary "
                             "group first")
        self.groups.delete_one({"_id": doc["_id"]})
        for user in list(self.users.find({"groups.id": doc["_id"]}, {"_id": 1})):
            self.users.update_one({"_id": user["_id"]}, {"$pull": {"groups": {"id": doc["_id"]}},
                                                         "$inc": {"version": 1}})
            self.auth.sync_user(user["_id"])
        return doc

    def apply(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Create the group or bring it in line with ``body`` (by name): created, updated or unchanged."""
        name = body.get("name")
        existing = self.groups.find_one({"name": name}) if isinstance(name, str) else None
        if existing is None:
            return self.create(body), "created"
        wanted = {k: body[k] for k in ("label", "usersManagement", "permissions") if k in body}
        if all(existing.get(k) == v for k, v in wanted.items()):
            return existing, "unchanged"
        return self.update(str(existing["_id"]), wanted), "updated"


# Called with (user or group id, new label, caller) when a user's full name or a group's label changes: refreshes
# the label of the ``user`` or ``group`` fields that hold them (``entities.refactoring.cascade``, wired by the
# plugin).
Relabel = Callable[[ObjectId, str | None, dict[str, Any]], None]


class UsersService:
    def __init__(self, auth: AuthService, groups: GroupsService, providers: IdentityProviders | None = None,
                 relabel: Relabel | None = None):
        self.auth = auth
        self.users = auth.users
        self.groups = groups
        self.providers = providers or IdentityProviders()
        self.relabel = relabel

    # --- reading ---------------------------------------------------------------------------------

    def render(self, doc: dict[str, Any], names: dict[ObjectId, dict[str, Any]] | None = None) -> dict[str, Any]:
        names = names if names is not None else self._groups_of([doc])
        groups = [{"id": str(g["id"]), "name": (names.get(g["id"]) or {}).get("name"),
                   "primary": bool(g.get("primary")), "external": bool(g.get("external"))}
                  for g in doc.get("groups") or []]
        developer = bool(doc.get("developer"))
        manager = not developer and any((names.get(g["id"]) or {}).get("usersManagement")
                                        for g in doc.get("groups") or [])
        return {"id": str(doc["_id"]), "email": doc["email"], "firstName": doc.get("firstName"),
                "lastName": doc.get("lastName"), "fullName": doc.get("fullName"), "status": doc.get("status"),
                "groups": groups, "permissions": {"developer": developer, "usersManagement": manager},
                "localization": dict(doc.get("localization") or DEFAULT_LOCALIZATION),
                "identityProviders": self.providers.render(doc.get("identityProviders")),
                "version": doc.get("version", 0)}

    def _groups_of(self, docs: Iterable[dict[str, Any]]) -> dict[ObjectId, dict[str, Any]]:
        ids = {g["id"] for d in docs for g in d.get("groups") or []}
        if not ids:
            return {}
        return {g["_id"]: g for g in self.groups.groups.find({"_id": {"$in": list(ids)}},
                                                             {"name": 1, "usersManagement": 1})}

    def render_many(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = self._groups_of(docs)
        return [self.render(d, names) for d in docs]

    def list(self, args: dict[str, Any], size: int, offset: str | None) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for key in ("firstName", "lastName", "fullName", "email"):
            text = _filter_text(args.get(key), key)
            if text:
                query[key] = _regex(text)
        if args.get("developer") is not None:
            query["developer"] = True if args["developer"] else {"$ne": True}
        if args.get("status"):
            statuses = [s.strip().upper() for s in args["status"].split(",") if s.strip()]
            bad = [s for s in statuses if s not in STATUSES]
            if bad:
                raise invalid_param("status", f"status is a comma list of {', '.join(STATUSES)}",
                                 ",".join(bad))
            query["status"] = {"$in": statuses}
        groups = _filter_text(args.get("groups"), "groups")
        if groups:
            terms = [t.strip() for t in groups.split(",") if t.strip()]
            ors = [c for t in terms for c in ({"label": _regex(t)}, {"name": _regex(t)})]
            ids = [g["_id"] for g in self.groups.groups.find({"$or": ors}, {"_id": 1})] if ors else []
            query["groups.id"] = {"$in": ids}
        total, docs = _paged(self.users, query, size, offset)
        names = self._groups_of(docs)
        return page(total, docs, lambda d: self.render(d, names))

    def find(self, ref: str, identity_provider: str | None = None) -> dict[str, Any]:
        """The user ``ref`` names: an id or an email; with ``identity_provider`` (its id or name), only an external
        id at that provider. Whoever finds a user gets the same checks whatever named it."""
        ref = ref.strip()
        if identity_provider:
            provider = self._provider(identity_provider, "identityProvider", query=True)
            doc = self.users.find_one({"externalIds": external_key(provider.id, ref)}, {"passwordHash": 0})
            if doc is None:
                raise NotFound(f"No user has external id '{ref}' at identity provider '{provider.name}'")
            return doc
        oid = parse_object_id(ref)
        if oid is not None:
            doc = self.users.find_one({"_id": oid}, {"passwordHash": 0})
        elif "@" in ref:
            doc = self.users.find_one({"email": ref.lower()}, {"passwordHash": 0})
        else:
            raise BadRequest(f"'{ref}' is neither a user id nor an email (an external id needs "
                             "?identityProvider=<id|name>)")
        if doc is None:
            raise NotFound(f"User '{ref}' does not exist")
        return doc

    def timezone(self, ref: str) -> str | None:
        """The IANA timezone user ``ref`` (an id or an email) reads date-times in: theirs in MANUAL mode, None
        (UTC) in AUTO mode. NotFound when no user has that id or email."""
        chosen = self.find(ref).get("localization") or DEFAULT_LOCALIZATION
        return chosen.get("timezone") if chosen.get("timezoneMode") == "MANUAL" else None

    def current(self, caller: dict[str, Any]) -> dict[str, Any]:
        """The caller's user JSON (``/auth/me``), read from the store: the token's snapshot of its user holds only
        what the request guard needs."""
        doc = self.users.find_one({"_id": caller["_id"]}, {"passwordHash": 0})
        if doc is None:
            raise NotFound("The user of this token no longer exists")
        return self.render(doc)

    def find_all(self, ids: str, identity_provider: str | None = None) -> list[dict[str, Any]]:
        refs = [r for r in (p.strip() for p in ids.split(",")) if r]
        if not refs:
            raise BadRequest("Give at least one user id or email")
        return [self.find(r, identity_provider) for r in refs]

    # --- writing ---------------------------------------------------------------------------------

    def _resolve_groups(self, raw: Any, caller: dict[str, Any], field: str = "groups") -> list[dict[str, Any]]:
        """``[id | name | {id | name, primary, external}]`` → ``[{id, primary, external}]`` with exactly one
        primary."""
        if not isinstance(raw, list):
            raise ValidationFailed([field_error(field, "invalid", "groups is a list of group ids or names")])
        out: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for i, item in enumerate(raw):
            ref = item.get("id") or item.get("name") if isinstance(item, dict) else item
            primary = bool(item.get("primary")) if isinstance(item, dict) else False
            external = item.get("external", False) if isinstance(item, dict) else False
            if not isinstance(external, bool):
                errors.append(field_error(f"{field}[{i}].external", "invalid", "external is true or false",
                                          rejected=external))
                continue
            try:
                group = self.groups.find(str(ref)) if isinstance(ref, str) and ref else None
            except NotFound:
                group = None
            if group is None:
                errors.append(field_error(f"{field}[{i}]", "invalid", f"Group '{ref}' does not exist", rejected=ref))
                continue
            self._check_may_assign(caller, group)
            if all(g["id"] != group["_id"] for g in out):
                out.append({"id": group["_id"], "primary": primary, "external": external})
        if sum(g["primary"] for g in out) > 1:
            errors.append(field_error(field, "invalid", "A user has exactly one primary group"))
        if errors:
            raise ValidationFailed(errors)
        if out and not any(g["primary"] for g in out):
            out[0]["primary"] = True
        return out

    def _provider(self, ref: Any, field: str, query: bool = False) -> IdentityProvider:
        provider = self.providers.find(ref) if isinstance(ref, str) and ref else None
        if provider is None:
            message = f"Identity provider '{ref}' does not exist" if ref else "Give the identity provider's id or name"
            code = "required" if not ref else "invalid"
            if query:
                raise invalid_param(field, message, ref, code)
            raise ValidationFailed([field_error(field, code, message, rejected=ref)])
        return provider

    def _identity(self, item: Any, prefix: str = "") -> dict[str, Any]:
        """``{id | name, externalId}`` → the stored ``{id, externalId}`` (``id`` wins over ``name``)."""
        at = f"{prefix}." if prefix else ""
        if not isinstance(item, dict):
            raise ValidationFailed([field_error(prefix or "body", "invalid", "An identity provider is "
                                                "{id | name, externalId}")])
        key = "name" if not item.get("id") and item.get("name") else "id"
        provider = self._provider(item.get(key), f"{at}{key}")
        external = item.get("externalId")
        if provider.builtin:
            if external is not None:
                raise ValidationFailed([field_error(f"{at}externalId", "invalid", f"The built-in identity provider "
                                                    f"'{provider.name}' has no external id", rejected=external)])
            return {"id": provider.id, "externalId": None}
        problem = external_id_problem(external)
        if problem:
            raise ValidationFailed([field_error(f"{at}externalId", "required" if external is None else "invalid",
                                                problem, rejected=external)])
        return {"id": provider.id, "externalId": external.strip()}

    def _resolve_identity_providers(self, raw: Any, user_id: ObjectId | None) -> list[dict[str, Any]]:
        """The ``identityProviders`` of a body: at least one, one entry per provider, external ids of no one else."""
        field = "identityProviders"
        if not isinstance(raw, list) or not raw:
            raise ValidationFailed([field_error(field, "invalid", "identityProviders is a non-empty list of "
                                                "{id | name, externalId}")])
        out: list[dict[str, Any]] = []
        for i, item in enumerate(raw):
            entry = self._identity(item, f"{field}[{i}]")
            if any(e["id"] == entry["id"] for e in out):
                raise ValidationFailed([field_error(f"{field}[{i}]", "duplicate", "A user has one entry per "
                                                    "identity provider", rejected=entry["id"])])
            self._check_external_id_free(entry, user_id, f"{field}[{i}].externalId")
            out.append(entry)
        return out

    def _check_external_id_free(self, entry: dict[str, Any], user_id: ObjectId | None, field: str) -> None:
        if entry["externalId"] is None:
            return
        other = self.users.find_one({"externalIds": external_key(entry["id"], entry["externalId"])}, {"_id": 1})
        if other is not None and other["_id"] != user_id:
            raise ValidationFailed([field_error(field, "duplicate", f"Another user has external id "
                                                f"'{entry['externalId']}' at identity provider '{entry['id']}'",
                                                rejected=entry["externalId"])])

    @staticmethod
    def _identity_changes(entries: list[dict[str, Any]]) -> dict[str, Any]:
        """The stored fields of a user's identity providers: the entries and their unique keys."""
        return {"identityProviders": entries,
                "externalIds": [external_key(e["id"], e["externalId"]) for e in entries if e["externalId"]]}

    @staticmethod
    def _check_may_assign(caller: dict[str, Any], group: dict[str, Any]) -> None:
        if group.get("usersManagement") and not caller.get("developer"):
            raise Forbidden(f"Only developers can give or take group '{group['name']}' (it grants users management)")

    @staticmethod
    def _check_target(user: dict[str, Any]) -> None:
        if user.get("developer"):
            raise Forbidden("Developers cannot be changed or deleted through the API")

    def _email(self, raw: Any, exclude: ObjectId | None = None) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise ValidationFailed([field_error("email", "required", "This field is required")])
        email = raw.strip().lower()
        if not EMAIL_RE.match(email) or len(email) > 254:
            raise ValidationFailed([field_error("email", "invalid", "Not a valid email address", rejected=raw)])
        other = self.users.find_one({"email": email}, {"_id": 1})
        if other is not None and other["_id"] != exclude:
            raise ValidationFailed([field_error("email", "duplicate", f"A user with email {email} already exists",
                                                rejected=raw)])
        return email

    @staticmethod
    def _name(body: dict[str, Any], key: str, current: dict[str, Any] | None) -> str:
        value = body.get(key, (current or {}).get(key, ""))
        if value is None:
            return ""
        if not isinstance(value, str) or len(value) > 200:
            raise ValidationFailed([field_error(key, "invalid", f"{key} is a text of at most 200 characters")])
        return value.strip()

    def create(self, body: dict[str, Any], caller: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """A new ACTIVE user (version 0); the password is generated when ``options.generatePassword``."""
        email = self._email(body.get("email"))
        first, last = self._name(body, "firstName", None), self._name(body, "lastName", None)
        generated = None
        if (body.get("options") or {}).get("generatePassword"):
            generated = password = secrets.token_urlsafe(12)
        else:
            password = body.get("password")
            check_password(password, self.auth.password_min_length)
        groups = self._resolve_groups(body.get("groups") or [], caller)
        raw_providers = body.get("identityProviders")
        providers = (self._resolve_identity_providers(raw_providers, None) if raw_providers is not None
                     else [dict(e) for e in DEFAULT_ENTRIES])
        extra = {"localization": localization(body.get("localization")), **self._identity_changes(providers)}
        if not extra["externalIds"]:
            del extra["externalIds"]  # absent, not empty: the sparse unique index must not see it
        doc = self.auth.create_user(email, password, first, last, developer=False, groups=groups, extra=extra)
        doc.pop("passwordHash", None)
        return doc, generated

    def update(self, ref: str, body: dict[str, Any], caller: dict[str, Any], impersonating: bool,
               identity_provider: str | None = None) -> dict[str, Any]:
        """Change a user. With ``version`` in the body a concurrent change is a 409; without it the change is
        applied to the user as they are then (read again and retried), and a user deleted meanwhile is a 404."""
        current = self.find(ref, identity_provider)
        for _ in range(MAX_RETRIES):
            self._check_target(current)
            changes = self._changes(current, body, caller, impersonating)
            try:
                updated = self._write(current, changes, body.get("version"), end_sessions="passwordHash" in changes)
            except Conflict:
                if body.get("version") is not None:
                    raise
                current = self.find(str(current["_id"]))  # a 404 when it was deleted meanwhile
                continue
            if self.relabel is not None and user_label(updated) != user_label(current):
                self.relabel(updated["_id"], user_label(updated), caller)
            return updated
        raise ApiError(503, "The user is too busy to update right now; try again")

    def _changes(self, current: dict[str, Any], body: dict[str, Any], caller: dict[str, Any],
                 impersonating: bool) -> dict[str, Any]:
        """The ``$set`` of an update body for the user as stored now (a full name depends on the other name)."""
        changes: dict[str, Any] = {}
        if "email" in body:
            changes["email"] = self._email(body["email"], exclude=current["_id"])
        for key in ("firstName", "lastName"):
            if key in body:
                changes[key] = self._name(body, key, current)
        if changes.keys() & {"firstName", "lastName", "email"}:
            first = changes.get("firstName", current.get("firstName") or "")
            last = changes.get("lastName", current.get("lastName") or "")
            changes["fullName"] = f"{first} {last}".strip() or changes.get("email", current["email"])
        if "groups" in body:
            new = self._resolve_groups(body.get("groups") or [], caller)
            old_ids = {g["id"] for g in current.get("groups") or []}
            for gid in old_ids - {g["id"] for g in new}:  # taking a group away needs the same right as giving it
                self._check_may_assign(caller, self.groups.find(str(gid)))
            changes["groups"] = new
        if "localization" in body:
            changes["localization"] = localization(body["localization"])
        if "identityProviders" in body:  # replaces them all, as groups does
            changes.update(self._identity_changes(self._resolve_identity_providers(body["identityProviders"],
                                                                                   current["_id"])))
        if body.get("password") is not None:
            if impersonating:
                raise Forbidden("An impersonating session cannot change a password")
            check_password(body["password"], self.auth.password_min_length)
            changes["passwordHash"] = hash_password(body["password"])
        return changes

    def _write(self, current: dict[str, Any], changes: dict[str, Any], expected: Any = None,
               end_sessions: bool = False) -> dict[str, Any]:
        version = current.get("version", 0)
        if expected is not None and expected != version:
            raise Conflict("The user was modified by someone else", currentVersion=version)
        update: dict[str, Any] = {"$set": dict(changes), "$inc": {"version": 1}}
        if changes.get("externalIds") == []:  # absent, not empty: the sparse unique index must not see it
            del update["$set"]["externalIds"]
            update["$unset"] = {"externalIds": ""}
        try:
            result = self.users.update_one({"_id": current["_id"], "version": version}, update)
        except DuplicateKeyError as exc:  # a concurrent write took the email or an external id after our check
            pattern = (exc.details or {}).get("keyPattern") or {}
            if "externalIds" in pattern or (not pattern and "email" not in changes):
                raise _duplicate("identityProviders", "Another user has one of these external ids") from None
            raise _duplicate("email", "A user with this email already exists") from None
        if result.matched_count != 1:
            latest = self.users.find_one({"_id": current["_id"]}, {"version": 1})
            raise Conflict("The user was modified by someone else",
                           currentVersion=latest.get("version") if latest else None)
        if end_sessions:
            self.auth.tokens.delete_many({"userId": current["_id"], "kind": {"$ne": "apiKey"}})
        self.auth.sync_user(current["_id"])
        return self.find(str(current["_id"]))

    def _update_each(self, docs: list[dict[str, Any]], change: Any) -> list[dict[str, Any]]:
        """Apply ``change(current) -> $set changes`` to each user, re-reading on a concurrent change."""
        for doc in docs:
            self._check_target(doc)
        out = []
        for doc in docs:
            for _ in range(MAX_RETRIES):
                changes = change(doc)
                if changes is None:
                    out.append(doc)
                    break
                try:
                    out.append(self._write(doc, changes))
                    break
                except Conflict:
                    doc = self.find(str(doc["_id"]))
            else:
                raise ApiError(503, "The user is too busy to update right now; try again")
        return out

    def delete(self, ref: str, identity_provider: str | None = None) -> dict[str, Any]:
        doc = self.find(ref, identity_provider)
        self._check_target(doc)
        self.users.delete_one({"_id": doc["_id"]})
        self.auth.sync_user(doc["_id"])  # every token of the user (and its impersonations) goes
        return doc

    def set_status(self, ids: str, action: str, identity_provider: str | None = None) -> list[dict[str, Any]]:
        docs = self.find_all(ids, identity_provider)

        def change(doc: dict[str, Any]) -> dict[str, Any] | None:
            status = doc.get("status")
            if action == "deactivate":
                return {"status": "INACTIVE"} if status != "INACTIVE" else None
            if action == "reactivate":
                return {"status": "ACTIVE"} if status != "ACTIVE" else None
            return {"status": "ACTIVE"} if status == "BLOCKED" else None  # unblock

        out = self._update_each(docs, change)
        if action in ("unblock", "reactivate"):
            for doc in out:
                self.auth.guard.reset(doc["email"])
        return out

    def add_group(self, ids: str, body: dict[str, Any], caller: dict[str, Any],
                  identity_provider: str | None = None) -> list[dict[str, Any]]:
        """Add the group (or update the user's membership of it: ``primary`` when true, ``external`` when
        given); a call that changes nothing leaves the user (and its version) as it is."""
        ref = body.get("id") or body.get("name")
        if not isinstance(ref, str) or not ref:
            raise ValidationFailed([field_error("id", "required", "Give the group's id or name")])
        group = self.groups.find(ref)
        self._check_may_assign(caller, group)
        primary = bool(body.get("primary"))
        external = body.get("external")  # None: not given, the membership keeps what it has
        docs = self.find_all(ids, identity_provider)

        def change(doc: dict[str, Any]) -> dict[str, Any] | None:
            groups = [dict(g) for g in doc.get("groups") or []]
            mine = next((g for g in groups if g["id"] == group["_id"]), None)
            if mine is None:
                mine = {"id": group["_id"], "primary": False, "external": bool(external)}
                groups.append(mine)
            else:
                flips = external is not None and bool(mine.get("external")) != external
                if not flips and not (primary and not mine.get("primary")):
                    return None
                if external is not None:
                    mine["external"] = external
            if primary or len(groups) == 1:
                for g in groups:
                    g["primary"] = g is mine
            return {"groups": groups}

        return self._update_each(docs, change)

    def remove_group(self, ids: str, group_ref: str, caller: dict[str, Any],
                     identity_provider: str | None = None) -> list[dict[str, Any]]:
        group = self.groups.find(group_ref)
        self._check_may_assign(caller, group)
        docs = self.find_all(ids, identity_provider)

        def change(doc: dict[str, Any]) -> dict[str, Any] | None:
            groups = [dict(g) for g in doc.get("groups") or [] if g["id"] != group["_id"]]
            if len(groups) == len(doc.get("groups") or []):
                return None
            if groups and not any(g.get("primary") for g in groups):
                groups[0]["primary"] = True
            return {"groups": groups}

        return self._update_each(docs, change)

    def add_identity_provider(self, ref: str, body: dict[str, Any], identity_provider: str | None = None
                              ) -> dict[str, Any]:
        """Give the user an identity at a provider (``{id | name, externalId}``), or change its external id there."""
        current = self.find(ref, identity_provider)
        self._check_target(current)
        entry = self._identity(body)
        self._check_external_id_free(entry, current["_id"], "externalId")

        def change(doc: dict[str, Any]) -> dict[str, Any] | None:
            entries = [dict(e) for e in doc.get("identityProviders") or DEFAULT_ENTRIES]
            mine = next((e for e in entries if e["id"] == entry["id"]), None)
            if mine == entry:
                return None
            if mine is None:
                entries.append(entry)
            else:
                mine["externalId"] = entry["externalId"]
            return self._identity_changes(entries)

        return self._update_each([current], change)[0]

    def remove_identity_provider(self, ref: str, provider_ref: str, identity_provider: str | None = None
                                 ) -> dict[str, Any]:
        """Take a provider (id or name; a provider no longer configured by its id) from the user, who keeps at
        least one."""
        current = self.find(ref, identity_provider)
        self._check_target(current)
        provider = self.providers.find(provider_ref)
        provider_id = provider.id if provider is not None else provider_ref
        if provider is None and all(e["id"] != provider_id for e in current.get("identityProviders") or ()):
            raise NotFound(f"Identity provider '{provider_ref}' does not exist")

        def change(doc: dict[str, Any]) -> dict[str, Any] | None:
            entries = [dict(e) for e in doc.get("identityProviders") or DEFAULT_ENTRIES]
            kept = [e for e in entries if e["id"] != provider_id]
            if len(kept) == len(entries):
                return None
            if not kept:
                raise BadRequest("A user keeps at least one identity provider: add another one first")
            return self._identity_changes(kept)

        return self._update_each([current], change)[0]
