"""The OpenAPI document as a non-developer may use it: only the entities, fields, actions and operations on records
their groups allow (read-only fields marked so), and no developer-only, users-management-only or closed APIs
(logs, metadata, schedules, webhook deliveries, group and user changes, and the ``api`` flags'
data/files/jobs)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from flask import g, has_request_context

from entities.metadata import Entity, Field
from entities.permissions.service import Caller, Permissions
from runtime.openapi.visibility import User
from runtime.users.service import can_manage_users

DEVELOPERS, USERS_MANAGERS, ANYONE = "developers", "usersManagers", "anyone"
# Who may call the generic routes under a path (and method; None: every method), the first match deciding.
_ROLES: tuple[tuple[str, str | None, str], ...] = (
    ("/metadata", None, DEVELOPERS), ("/status/logs", None, DEVELOPERS), ("/schedules", None, DEVELOPERS),
    ("/status/webhooks", None, DEVELOPERS), ("/groups", "get", USERS_MANAGERS), ("/groups", None, DEVELOPERS),
    ("/users", "get", ANYONE), ("/users", None, USERS_MANAGERS))
# Which ``api`` flag opens which generic paths (and methods; None: every method).
_FLAGS: tuple[tuple[str, str | None, str], ...] = (
    ("/data", None, "data"), ("/status/jobs", None, "jobs"), ("/status/job/", None, "jobs"),  # and its alias
    ("/files", "post", "uploadFiles"),
    ("/files", None, "files"))


class PermissionsFilter:
    def __init__(self, permissions: Permissions, prefix: str):
        self.permissions = permissions
        self.prefix = prefix

    def _caller(self, user: User) -> Caller | None:
        """The caller's permissions (None: a developer, or no user), read once per request."""
        if not user or user.get("developer"):
            return None
        if has_request_context():
            cached = g.get("_openapi_caller")
            if cached is not None and cached.user.get("_id") == user.get("_id"):
                return cached
        caller = self.permissions.caller(user)
        if has_request_context():
            g._openapi_caller = caller
        return caller

    def cache_key(self, user: User) -> Hashable:
        caller = self._caller(user)
        if caller is None:
            return "everything" if user else "anonymous"
        # policies that decide visibility (never vs not never) do not depend on who the user is
        return ("groups", tuple((str(d["_id"]), d.get("version")) for d in caller.groups or []))

    def entity(self, user: User, entity: Entity) -> bool:
        caller = self._caller(user)
        return caller is None or (caller.api("data") and not caller.entity(entity).access.never)

    def field(self, user: User, entity: Entity, field: Field) -> bool:
        caller = self._caller(user)
        return caller is None or caller.entity(entity).field_level(field.path or field.name) != "none"

    def action(self, user: User, entity: Entity, action_name: str) -> bool:
        caller = self._caller(user)
        return caller is None or not caller.entity(entity).action(action_name).never

    def entity_operation(self, user: User, entity: Entity, operation: str) -> bool:
        caller = self._caller(user)
        if caller is None:
            return True
        policy = caller.entity(entity)
        if operation in ("import", "export"):
            return policy.can_import if operation == "import" else policy.can_export
        return not getattr(policy, operation).never  # create, edit, delete, history

    def read_only(self, user: User, entity: Entity, field: Field) -> bool:
        caller = self._caller(user)
        return caller is not None and caller.entity(entity).field_level(field.path or field.name) == "readOnly"

    def operation(self, user: User, path: str, method: str) -> bool:
        caller = self._caller(user)
        if caller is None:
            return True
        local = path[len(self.prefix):] if path.startswith(self.prefix) else path
        role = next((who for start, only_method, who in _ROLES if _under(local, start)
                     and only_method in (None, method)), ANYONE)
        if role == DEVELOPERS or (role == USERS_MANAGERS and not can_manage_users(caller.user)):
            return False
        for start, only_method, flag in _FLAGS:
            if local.startswith(start) and (only_method is None or only_method == method):
                return caller.api(flag)
        return True


def _under(path: str, start: str) -> bool:
    return path == start or path.startswith(start + "/")


def install(app: Any, services: Any, prefix: str) -> None:
    from runtime.openapi import set_document_filter
    set_document_filter(app, PermissionsFilter(services.permissions, prefix))
