"""Where permissions meet requests and writes: the lifecycle's authorizer, query filters, hidden fields.

Reads AND the caller's rule into the database query (lists, totals, paging, aggregate, export, history,
delete and actions over a query see only permitted records); single-record routes answer 403 for a record
outside the rules; responses drop ``none`` fields; writes drop ``readOnly`` and ``none`` values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from flask import g, has_request_context, request
from werkzeug.datastructures import MultiDict

from core.context import WriteContext
from core.errors import Forbidden, ValidationFailed, field_error
from entities.metadata import Entity, Field
from entities.permissions.policy import UNRESTRICTED, EntityPolicy, Rule
from entities.permissions.service import Caller
from entities.query.named import complex_paths, object_paths
from entities.query.search import global_search
from entities.records.events import KeepValues

MESSAGES = {
    "access": "Provided token does not have permissions to access this record",
    "query": "Provided token does not have permissions to access this entity or some of the fields you are "
             "querying by",
    "create": "Provided token does not have permissions to create records on this entity",
    "edit": "Provided token does not have permissions to edit records on this entity or you don't have "
            "permissions to edit this particular record",
    "delete": "Provided token does not have permissions to delete this record",
    "deleteMany": "Provided token does not have permissions to delete records on this entity",
    "aggregate": "You are trying to aggregate data you don't have permissions to read. This applies at the "
                 "entity level, record level and field level",
    "action": "You don't have permissions to execute the action or you don't have permissions for the record",
    "actionMany": "You don't have permissions to execute the action",
    "import": "You don't have permissions to import records on this entity",
    "export": "You don't have permissions to export records on this entity",
    "history": "You don't have permissions to see history of records for the entity",
    "file": "Provided token does not have permissions to access specified file",
}


def forbidden(what: str) -> Forbidden:
    return Forbidden(MESSAGES[what])


def request_caller() -> Caller | None:
    """The caller of the current request (None outside a request or for a developer)."""
    if not has_request_context():
        return None
    caller = g.get("caller")
    return caller if caller is not None and caller.restricted else None


def policy(entity: Entity, caller: Caller | None = None) -> EntityPolicy:
    caller = caller or request_caller()
    return caller.entity(entity) if caller is not None else UNRESTRICTED


def read_filter(rule: Rule, what: str) -> dict[str, Any]:
    """The filter to AND into a query for ``rule``; 403 when the rule is never."""
    mongo = rule.mongo()
    if mongo is None:
        raise forbidden(what)
    return mongo


def check_paths(p: EntityPolicy, paths: Iterable[str], what: str = "query") -> None:
    """403 when a query names a hidden field (filter, sort, projection, group, ...)."""
    if p.unrestricted:
        return
    for path in paths:
        if p.field_level(path) == "none":
            raise forbidden(what)


def strip_hidden(p: EntityPolicy, rendered: dict[str, Any]) -> dict[str, Any]:
    """A rendered record (or history values) without the caller's hidden fields, nested ones included."""
    if p.unrestricted:
        return rendered
    for path in p.hidden():
        drop_path(rendered, path.split("."))
    return rendered


def drop_path(value: Any, parts: list[str]) -> None:
    """Remove the value at ``parts`` (a dot path, split) from a rendered document, in every element of a list
    on the way."""
    if isinstance(value, list):
        for item in value:
            drop_path(item, parts)
        return
    if not isinstance(value, dict):
        return
    if len(parts) == 1:
        value.pop(parts[0], None)
    elif parts[0] in value:
        drop_path(value[parts[0]], parts[1:])


_NOT_FIELDS = ("id", "version", "label", "entity")  # body keys that are not fields (``version``: for 409s)


def writable_body(p: EntityPolicy, body: Any) -> Any:
    """A create or update body without values for ``readOnly`` and ``none`` fields (silently dropped)."""
    if p.unrestricted or not isinstance(body, dict):
        return body
    if p.default_field != "readWrite":  # no group can create or edit: only fields named readWrite are writable
        body = {k: v for k, v in body.items() if k in _NOT_FIELDS or p.field_level(k) == "readWrite"}
    not_writable = p.not_writable()
    if not_writable:
        body = dict(body)
        for path in not_writable:
            drop_path(body, path.split("."))
    return body


def kept_values(p: EntityPolicy, entity: Entity) -> KeepValues | None:
    """For an update by a restricted caller: a body that clears a nested group (``null``) or leaves out some of
    its items (a list, ``[]`` included) must not erase the inner values they may not see or write. Such stored
    values are kept: a single group keeps an object with only them, a left-out item holding any stays with only
    them. None when the caller has no such inner field."""
    if p.unrestricted:
        return None
    protected = {f.name: names for f in entity.fields if f.is_nested and (names := _protected_inner(p, f))}
    return (lambda current, changes: _keep(entity, protected, current, changes)) if protected else None


def _protected_inner(p: EntityPolicy, f: Field) -> frozenset[str]:
    """The inner fields of a nested group with a value (at any depth) the caller may not write."""
    return frozenset(inner.name for inner in f.nested
                     if any(p.field_level(path) != "readWrite" for path in _subtree(inner)))


def _subtree(f: Field) -> Iterator[str]:
    yield f.path
    for inner in f.nested if f.is_nested else []:
        yield from _subtree(inner)


def _keep(entity: Entity, protected: dict[str, frozenset[str]], current: dict[str, Any],
          changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    for name, names in protected.items():
        f, value, stored = entity.field(name), changes.get(name), current.get(name)
        if f is None or name not in changes:
            continue
        cleared = dict.fromkeys(inner.name for inner in f.nested if inner.name not in names)  # the writable ones
        if not f.many:
            if value is None and _holds(stored, names):
                out[name] = cleared  # merged into the stored group: only the protected values stay
        elif value is None or isinstance(value, list):
            sent = {str(item.get("id")) for item in value or [] if isinstance(item, dict)}
            dropped = [{"id": str(item["id"]), **cleared} for item in stored or []
                       if isinstance(item, dict) and str(item.get("id")) not in sent and _holds(item, names)]
            if dropped:
                out[name] = [*(value or []), *dropped]
    return out


def _holds(item: Any, names: frozenset[str]) -> bool:
    """Whether a stored nested item has a value in one of ``names``."""
    return isinstance(item, dict) and any(item.get(n) not in (None, "", [], {}) and item.get(n) is not False
                                          for n in names)


class GroupAuthorizer:
    """The lifecycle's authorize stage: create, edit (the record before and after) and delete rules, and the
    records a written relationship points at (the caller must be able to access them)."""

    def __init__(self, records: Any = None):
        self.records = records  # entities.records.lifecycle.RecordLifecycle: reads the linked records

    def needed(self, entity: Entity, ctx: WriteContext) -> bool:
        caller = ctx.caller
        return (ctx.category == "USER" and isinstance(caller, Caller) and caller.restricted
                and not caller.entity(entity).unrestricted)

    def check(self, operation: str, entity: Entity, old: dict[str, Any] | None, new: dict[str, Any] | None,
              ctx: WriteContext) -> None:
        p = ctx.caller.entity(entity)
        if operation == "create":
            if not p.create.allows(new):
                raise forbidden("create")
        elif operation == "edit":
            if not p.access.allows(old):
                raise forbidden("access")
            if not (p.edit.allows(old) and p.edit.allows(new)):
                raise forbidden("edit")
        elif operation == "delete":
            if not p.access.allows(old):
                raise forbidden("access")
            if not p.delete.allows(old):
                raise forbidden("delete")
        if operation in ("create", "edit") and self.records is not None:
            self._check_links(entity, old, new, ctx)

    def link_scope(self, entity: Entity, old: dict[str, Any] | None, ctx: WriteContext) -> _CallerLinks | None:
        """The lifecycle's ``LinkScope``: a restricted caller's relationships are resolved (by id, label or
        visible lookup fields) among the records they may access, and those the record already points at
        (``old``), which they were shown."""
        if self.records is None or not self.needed(entity, ctx):
            return None
        kept: dict[str, list[Any]] = {}
        for f, ref in _links(entity.fields, old):
            kept.setdefault(f.type.target_entity(f), []).append(ref)
        return _CallerLinks(self.records.registry, ctx.caller, ctx.caller.entity(entity), kept)

    def _check_links(self, entity: Entity, old: dict[str, Any] | None, new: dict[str, Any] | None,
                     ctx: WriteContext) -> None:
        """A newly written relationship may only point at a record the caller can access; one they cannot is
        answered like a record that does not exist (so links cannot probe what is hidden)."""
        kept = {ref for _, ref in _links(entity.fields, old)}
        errors = []
        for f, ref in _links(entity.fields, new):
            if ref in kept:
                continue
            target = self.records.registry.get(f.type.target_entity(f))
            rule = ctx.caller.entity(target).access
            if rule.always:
                continue
            doc = None if rule.never else self.records.collection(target).find_one({"_id": ref})
            if not rule.allows(doc):
                errors.append(field_error(f.name, "invalid", f"Record '{ref}' does not exist in '{target.name}'",
                                          f.label, rejected=str(ref)))
        if errors:
            raise ValidationFailed(errors)


class _CallerLinks:
    """A ``LinkFilter`` for one write by a restricted caller (``GroupAuthorizer.link_scope``)."""

    def __init__(self, registry: Any, caller: Caller, policy: EntityPolicy, kept: dict[str, list[Any]]):
        self.registry, self.caller, self.policy, self.kept = registry, caller, policy, kept

    def __call__(self, target_name: str) -> dict[str, Any] | None:
        access = self.caller.entity(self.registry.get(target_name)).access.mongo()
        if access == {} or target_name not in self.kept:
            return access
        linked = {"_id": {"$in": self.kept[target_name]}}
        return linked if access is None else {"$or": [access, linked]}

    def hidden(self, path: str) -> bool:
        return self.policy.field_level(path) == "none"


def _links(fields: list[Any], values: dict[str, Any] | None) -> Iterator[tuple[Any, Any]]:
    """``(field, target id)`` of every relationship value of a stored document, nested groups included."""
    for f in fields:
        value = (values or {}).get(f.name)
        if value is None:
            continue
        if f.is_nested:
            for item in value if f.many else [value]:
                if isinstance(item, dict):
                    yield from _links(f.nested, item)
        elif f.type.target_entity(f) is not None:
            for ref in value if f.many else [value]:
                if isinstance(ref, dict) and ref.get("id") is not None:
                    yield f, ref["id"]


_SYSTEM_ARGS_WITH_PATHS = ("_sortField", "_fields", "_relationshipsToFetch")
_TOKEN = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*")


def query_paths(args: Any) -> list[str]:
    """The field paths a list query names: filters (with the inner paths of a JSON-object value), sort,
    projection, related records and the ``filter`` paths of ``_query`` (never the values it compares)."""
    paths = []
    for key in args:
        if not key.startswith("_"):
            paths.append(key)
            for raw in args.getlist(key):
                paths.extend(object_paths(key, raw))
    for key in _SYSTEM_ARGS_WITH_PATHS:
        for raw in args.getlist(key):
            paths.extend(p.strip() for p in raw.split(",") if p.strip())
    for raw in args.getlist("_query"):
        named = complex_paths(raw)
        paths.extend(_TOKEN.findall(raw) if named is None else named)  # malformed: any word that may be a path
    return paths


def scoped_query(entity: Entity, args: Any, rule: str = "access", what: str = "query",
                 caller: Caller | None = None) -> tuple[Any, dict | None]:
    """``(args, base filter)`` for a list-like query by ``caller`` (default: the current request's): the rule
    ANDed in, hidden fields refused in the query and left out of ``_globalSearch``. The jobs that run a query
    later (export, delete and actions over a query) scope it again as their user, as the list does."""
    return policy_scoped_query(policy(entity, caller), entity, args, rule, what)


def policy_scoped_query(p: EntityPolicy, entity: Entity, args: Any, rule: str = "access", what: str = "query",
                        ) -> tuple[Any, dict | None]:
    """``scoped_query`` for the caller whose policy on ``entity`` is ``p``."""
    if p.unrestricted:
        return args, None
    base = read_filter(getattr(p, rule), what)
    check_paths(p, query_paths(args), what)
    hidden = frozenset(p.hidden())
    if hidden and "_globalSearch" in args:
        searches = [global_search(entity, raw, exclude=hidden) for raw in args.getlist("_globalSearch")]
        args = MultiDict([(k, v) for k, v in args.items(multi=True) if k != "_globalSearch"])
        base = {"$and": [base, *searches]}
    return args, base


UPLOAD_API = ("uploadFiles", "upload files")  # the flag that stores files, and how its 403 names it
# Which ``api`` flag a blueprint's routes need (endpoint-specific entries first).
_API_FLAGS = {"files.upload": UPLOAD_API, "files.fetch_shared": None,
              "files": ("files", "files"), "jobs": ("jobs", "jobs"), "records": ("data", "data"),
              "history": ("data", "data"), "aggregate": ("data", "data"), "transfer": ("data", "data")}


def check_api_flags() -> None:
    """A request check: a regular user's groups must allow the API the route belongs to (``api`` flags)."""
    caller = request_caller()
    if caller is None:
        return
    endpoint = request.endpoint or ""
    needed = _API_FLAGS.get(endpoint, _API_FLAGS.get(endpoint.split(".")[0]))
    if endpoint == "files.record_file":  # a /data route that downloads a file
        caller.require_api("data", "data")
    if needed is not None:
        caller.require_api(*needed)


def job_context(permissions: Any, ctx: WriteContext) -> WriteContext:
    """A job's write context with the permissions of the user who ran it (as they are now)."""
    if ctx.developer or ctx.category != "USER":
        return ctx
    return replace(ctx, caller=permissions.caller_by_id(ctx.user_id, ctx.developer))
