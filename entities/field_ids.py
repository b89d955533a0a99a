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


def _assign(old_fields: Any, new_fields: list[Any]) -> list[Any]:
    olds = [f for f in old_fields or [] if isinstance(f, dict)]
    by_id = {f["id"]: f for f in olds if f.get("id")}
    by_name = {f.get("name"): f for f in olds}
    explicit = {f.get("id") for f in new_fields if isinstance(f, dict) and f.get("id") in by_id}
    renamed = {f.get("renamedFrom") for f in new_fields if isinstance(f, dict) and f.get("renamedFrom")}
    taken: set[str] = set()
    out: list[Any] = []
    for raw in new_fields:
        if not isinstance(raw, dict):
            out.append(raw)
            continue
        f = {k: v for k, v in raw.items() if k != "renamedFrom"}
        match = None
        if raw.get("id") in by_id:
            match = by_id[raw["id"]]
        elif isinstance(raw.get("renamedFrom"), str) and raw["renamedFrom"] in by_name:
            match = by_name[raw["renamedFrom"]]
        elif raw.get("name") in by_name and raw.get("name") not in renamed:
            candidate = by_name[raw["name"]]
            if candidate.get("id") not in explicit:
                match = candidate
        if match is not None and match.get("id") and match["id"] not in taken:
            f["id"] = match["id"]
        elif not isinstance(f.get("id"), str) or not f["id"] or f["id"] in taken:
            f["id"] = new_field_id()
        taken.add(f["id"])
        if isinstance(f.get("nestedFields"), list):
            f["nestedFields"] = _assign(match.get("nestedFields") if match else None, f["nestedFields"])
        out.append(f)
    return out
