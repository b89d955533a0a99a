"""``user`` fields: resolving a written user reference, and filling ``typeRules.setOn`` fields with the caller.

Kept apart from the records writer so it can be called from wherever records are built."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from core.context import WriteContext
from core.errors import field_error
from core.storage import Store
from entities.metadata import Entity, Field

USERS_COLLECTION = "sys.users"  # owned by runtime.users; read here for labels only


def resolve_user_ref(store: Store, f: Field, ref: dict[str, Any], path: str,
                     errors: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``{id}``, ``{email}`` or ``{label}`` (a full name) → the stored ``{id, label}`` (label: the user's full
    name), or a field error. A name must be one user's only: two users may share one."""
    users = store.collection(USERS_COLLECTION)
    if "id" not in ref and "email" not in ref:
        named = list(users.find({"fullName": ref.get("label")}, {"fullName": 1, "email": 1}).limit(2))
        if len(named) != 1:
            shown = str(ref.get("label"))
            problem = f"No user is named '{shown}'" if not named else \
                f"More than one user is named '{shown}': write their email"
            errors.append(field_error(path, "invalid", problem, f.label, rejected=shown))
            return None
        return {"id": named[0]["_id"], "label": user_label(named[0])}
    query: dict[str, Any] = {"_id": ref["id"]} if "id" in ref else {"email": ref.get("email")}
    doc = users.find_one(query, {"fullName": 1, "email": 1})
    if doc is None and "label" in ref:
        return ref  # a stored reference whose user was deleted since: kept, so the record stays writable
    if doc is None:
        shown = str(ref.get("id") or ref.get("email"))
        errors.append(field_error(path, "invalid", f"User '{shown}' does not exist", f.label, rejected=shown))
        return None
    return {"id": doc["_id"], "label": user_label(doc)}


def user_label(user: dict[str, Any]) -> str | None:
    """The label a ``user`` field stores for a user: their full name (their email when they have none)."""
    return user.get("fullName") or user.get("email")


def users_as_targets(store: Store, ids: Iterable[Any]) -> dict[Any, dict[str, Any]]:
    """The users ``ids`` name, shaped as the records a relationship points at (``{_id, label}``), so the
    relationships' label cascade refreshes ``user`` fields too."""
    wanted = [i for i in ids if isinstance(i, ObjectId)]
    if not wanted:
        return {}
    found = store.collection(USERS_COLLECTION).find({"_id": {"$in": wanted}}, {"fullName": 1, "email": 1})
    return {d["_id"]: {"_id": d["_id"], "label": user_label(d)} for d in found}


def stamp_users(entity: Entity, doc: dict[str, Any], ctx: WriteContext, current: dict[str, Any] | None) -> None:
    """Fill ``setOn`` user fields: ``write`` always gets the caller; ``create`` on create, kept as is after."""
    for f in entity.fields:
        rule = f.type_rules.get("setOn") if f.type.name == "user" else None
        if rule is None:
            continue
        if rule == "write" or current is None:
            if ctx.user_id and ObjectId.is_valid(ctx.user_id):
                doc[f.name] = {"id": ObjectId(ctx.user_id), "label": ctx.user_name or ctx.user_email}
        else:
            doc[f.name] = current.get(f.name)


def has_write_stamps(entity: Entity) -> bool:
    """True when every write must set a user field (``setOn: write``): no set-based bulk update then."""
    return any(f.type.name == "user" and f.type_rules.get("setOn") == "write" for f in entity.fields)
