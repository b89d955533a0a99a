"""Old definition vs new definition → the changes that affect stored data.

Fields are matched by their stable ``id`` (by name for definitions without ids), so a rename is told apart
from a remove plus an add. Nested groups are compared field by field the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationFailed, field_error
from entities.metadata import Entity, Field
from entities.records.upgrade import match_old, renumbered, same_kind

UNSUPPORTED = ("relationship", "file", "nestedFields", "group")  # their values point at something: not converted


@dataclass
class Change:
    kind: str  # rename | convert | multiplicity | remove | default | number | rank | unique | label
    field: str | None  # path in the new definition (the old one for ``remove``)
    description: str
    count_filter: dict[str, Any]  # the stored records this change touches (old field names)
    source: str | None = None  # the old path of a renamed field
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self, count: int) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "field": self.field}
        if self.source is not None:
            out["from"] = self.source
        out.update({"description": self.description, "recordsAffected": count})
        return out


def _exists(path: str) -> dict[str, Any]:
    return {path: {"$exists": True, "$ne": None}}


def plan(old: Entity, new: Entity) -> list[Change]:
    """Every change of ``old`` → ``new`` that rewrites stored records (400 for changes that cannot be done)."""
    changes: list[Change] = []
    errors: list[dict[str, Any]] = []
    _walk(old.fields, new.fields, "", "", True, changes, errors)
    if errors:
        raise ValidationFailed(errors, message="These field changes cannot be applied to stored records")
    if old.raw.get("recordLabel") != new.raw.get("recordLabel"):
        changes.append(Change("label", None, "record labels are recomputed (and pushed to referencing records)", {}))
    return changes


def _walk(olds: list[Field], news: list[Field], old_prefix: str, new_prefix: str, top: bool,
          changes: list[Change], errors: list[dict[str, Any]]) -> None:
    matched: set[str] = set()
    for nf in news:
        of = match_old(olds, nf)
        path = new_prefix + nf.name
        if of is None:
            if top and nf.type.numbered:
                changes.append(Change("number", path, "records are numbered in the order they were created", {}))
            elif top and nf.type.sequenced:
                changes.append(Change("rank", path, "records are ranked in the order they were created", {}))
            elif top and nf.default is not None:
                changes.append(Change("default", path, f"new field filled with its default value {nf.default!r}",
                                      {"$or": [{nf.name: {"$exists": False}}, {nf.name: None}]}))
            continue
        matched.add(of.name)
        old_path = old_prefix + of.name
        if of.name != nf.name:
            changes.append(Change("rename", path, f"values move from '{old_path}' to '{path}'", _exists(old_path),
                                  source=old_path))
        if of.is_nested != nf.is_nested or (of.type.name != nf.type.name and (
                of.type.name in UNSUPPORTED or nf.type.name in UNSUPPORTED)) or of.target != nf.target:
            errors.append(field_error(path, "invalid", f"A {of.type.name} field cannot become a {nf.type.name}"
                                      + (f" of '{nf.target}'" if nf.target else ""), nf.label))
            continue
        if renumbered(of, nf):
            changes.append(Change("number", path, f"values of the {of.type.name} field are replaced by numbers given "
                                  "in the order the records were created", {}))
            continue
        if not of.is_nested and not same_kind(of, nf):
            changes.append(Change("convert", path, f"values converted from {of.type.name} to {nf.type.name}",
                                  _exists(old_path)))
        if of.many != nf.many:
            how = ("a single value becomes a one-item list" if nf.many
                   else "a list of at most one item becomes its item; longer lists cannot be converted")
            changes.append(Change("multiplicity", path, f"{'one → many' if nf.many else 'many → one'}: {how}",
                                  _exists(old_path)))
        if nf.unique and not of.unique and not nf.type.numbered:  # numbers are unique by construction
            changes.append(Change("unique", path, "new unique rule: existing values are checked for duplicates",
                                  _exists(old_path)))
        if of.is_nested:
            _walk(of.nested, nf.nested, old_path + ".", path + ".", False, changes, errors)
    for of in olds:
        if of.name not in matched:
            changes.append(Change("remove", old_prefix + of.name, "values are removed from every record",
                                  _exists(old_prefix + of.name)))


def ranked_fields(old: Entity, new: Entity) -> list[Field]:
    """The ``sequenced`` fields (ranks) of ``new`` that a refactoring from ``old`` fills for the records without a
    value: new ones, and those that were of another type."""
    out = []
    for f in new.fields:
        of = match_old(old.fields, f)
        if f.type.sequenced and (of is None or not of.type.sequenced):
            out.append(f)
    return out


def numbered_fields(old: Entity, new: Entity) -> list[Field]:
    """The fields of ``new`` whose records a refactoring from ``old`` numbers (``number`` changes)."""
    out = []
    for f in new.fields:
        of = match_old(old.fields, f)
        if f.type.numbered and (of is None or renumbered(of, f)):
            out.append(f)
    return out


def moved_paths(old: Entity, new: Entity) -> dict[str, str | None]:
    """The field paths of ``old`` that are not the same in ``new``: old path → new path, None when removed.
    A nested field under a renamed group is listed under its full paths too (see ``moved_path``)."""
    moves: dict[str, str | None] = {}

    def walk(olds: list[Field], news: list[Field], old_prefix: str, new_prefix: str) -> None:
        kept: set[str] = set()
        for nf in news:
            of = match_old(olds, nf)
            if of is None:
                continue
            kept.add(of.name)
            old_path, new_path = old_prefix + of.name, new_prefix + nf.name
            if old_path != new_path:
                moves[old_path] = new_path
            if of.is_nested and nf.is_nested:
                walk(of.nested, nf.nested, old_path + ".", new_path + ".")
        for of in olds:
            if of.name not in kept:
                moves[old_prefix + of.name] = None

    walk(old.fields, new.fields, "", "")
    return moves


def moved_path(path: str, moves: dict[str, str | None]) -> str | None:
    """Where ``path`` (a field path, maybe into a nested group or a relationship) is after the change: its
    longest listed prefix moved (None: removed); unlisted paths stay."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in moves:
            moved = moves[prefix]
            return None if moved is None else ".".join([moved, *parts[end:]])
    return path


def renamed_query_map(mapping: dict[str, Any], moves: dict[str, str | None], old_base: str = "",
                      new_base: str = "") -> dict[str, Any]:
    """A query map (see ``entities.query.parser.map_filter``) with its field paths following ``moves``. Paths
    of removed fields and ``_query`` strings are left as they are (checking the map then finds them)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if key in ("_or", "_and"):
            if isinstance(value, dict):
                value = renamed_query_map(value, moves, old_base, new_base)
            elif isinstance(value, list):
                value = [renamed_query_map(v, moves, old_base, new_base) if isinstance(v, dict) else v
                         for v in value]
            out[key] = value
            continue
        if not isinstance(key, str) or key.startswith("_"):
            out[key] = value
            continue
        moved = moved_path(old_base + key, moves)
        if moved is None or not moved.startswith(new_base):
            out[key] = value
            continue
        if isinstance(value, dict):  # one nested-group element's conditions: paths below this one
            value = renamed_query_map(value, moves, old_base + key + ".", moved + ".")
        out[moved[len(new_base):]] = value
    return out
