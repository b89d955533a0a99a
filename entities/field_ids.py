"""Stable field ids: every field of a stored definition has an ``id`` that survives edits.

A new definition's fields are matched to the current ones by ``id``, then by ``renamedFrom``, then by
name; a match keeps the old id (so a rename is told apart from a remove plus an add), anything else
gets a fresh id. ``renamedFrom`` is a request, not part of the stored definition.
"""

from __future__ import annotations

import uuid
from typing import Any


def new_field_id() -> str:
    return uuid.uuid4().hex[:16]


def with_ids(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored definition where every field has an id (older definitions may lack them)."""
    return assign_ids(None, raw)


def assign_ids(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` with field ids taken from ``old`` (itself already with ids) where fields match."""
    out = dict(new)
    if isinstance(new.get("fields"), list):
        out["fields"] = _assign((old or {}).get("fields"), new["fields"])
    return out


def _text(value: Any) -> str | None:
    """A key to match on: only a non-empty string is one (a definition stored before its checks may hold
    anything in ``id``, ``name`` or ``nestedFields``)."""
    return value if isinstance(value, str) and value else None


def _assign(old_fields: Any, new_fields: list[Any]) -> list[Any]:
    olds = [f for f in old_fields if isinstance(f, dict)] if isinstance(old_fields, list) else []
    by_id = {_text(f.get("id")): f for f in olds if _text(f.get("id"))}
    by_name = {_text(f.get("name")): f for f in olds if _text(f.get("name"))}
    explicit = {_text(f.get("id")) for f in new_fields if isinstance(f, dict) and _text(f.get("id")) in by_id}
    renamed = {_text(f.get("renamedFrom")) for f in new_fields if isinstance(f, dict) and _text(f.get("renamedFrom"))}
    taken: set[str] = set()
    out: list[Any] = []
    for raw in new_fields:
        if not isinstance(raw, dict):
            out.append(raw)
            continue
        f = {k: v for k, v in raw.items() if k != "renamedFrom"}
        match = None
        own_id, renamed_from, name = _text(raw.get("id")), _text(raw.get("renamedFrom")), _text(raw.get("name"))
        if own_id in by_id:
            match = by_id[own_id]
        elif renamed_from in by_name:
            match = by_name[renamed_from]
        elif name in by_name and name not in renamed:
            candidate = by_name[name]
            if _text(candidate.get("id")) not in explicit:
                match = candidate
        if match is not None and _text(match.get("id")) and match["id"] not in taken:
            f["id"] = match["id"]
        elif not _text(f.get("id")) or f["id"] in taken:
            f["id"] = new_field_id()
        taken.add(f["id"])
        if isinstance(f.get("nestedFields"), list):
            f["nestedFields"] = _assign(match.get("nestedFields") if match else None, f["nestedFields"])
        out.append(f)
    return out
