"""What an export writes: ``_fields`` → selected fields, and a record → its CSV cells.

Without ``_fields`` every field is exported (nested groups as their inner fields, relationships as their
label, files as their name). ``_fields`` may also name fields of related records: ``company.type``. The
system fields ``id``, ``label`` and ``version`` are never exported.

Columns are laid out as an import reads them: ``phoneNumbers[0]``, ``addresses[1].zipCode``,
``company.type``. A multi-valued field gets as many columns as the record with the most values needs,
so the columns are only known once every record was seen (see ``ColumnSet``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from entities.metadata import Entity, Field
from entities.query.values import bad
from entities.registry import Registry
from entities.transfer.cells import format_cell

SYSTEM_FIELDS = ("id", "label", "version")


@dataclass
class Selected:
    field: Field
    label: bool = True  # a relationship: write its label column
    inner: list[Selected] = field(default_factory=list)  # nested: inner fields; relationship: related fields
    target: Entity | None = None  # a relationship with related fields: the entity it points to


def all_fields(fields: list[Field]) -> list[Selected]:
    return [Selected(f, inner=all_fields(f.nested) if f.is_nested else []) for f in fields]


def parse_fields(registry: Registry, entity: Entity, raw: str | None) -> list[Selected]:
    """``_fields`` (comma list of paths) → selection in the given order; 400 on an unknown path."""
    paths = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if not paths:
        return all_fields(entity.fields)
    selected: list[Selected] = []
    for path in paths:
        if path in SYSTEM_FIELDS:
            continue
        _add(registry, entity.fields, selected, path.split("."), path, allow_related=True)
    if not selected:
        raise bad("_fields", "name at least one field to export (id, label and version are never exported)")
    return selected


def _add(registry: Registry, fields: list[Field], selected: list[Selected], parts: list[str], path: str,
         allow_related: bool) -> None:
    f = next((x for x in fields if x.name == parts[0]), None)
    if f is None:
        raise bad("_fields", f"unknown field '{path}'")
    entry = next((s for s in selected if s.field is f), None)
    rest = parts[1:]
    if entry is None:
        entry = Selected(f, label=not rest)
        selected.append(entry)
    if not rest:
        entry.label = True
        if f.is_nested:
            entry.inner = all_fields(f.nested)
        return
    if f.is_nested:
        _add(registry, f.nested, entry.inner, rest, path, allow_related)
    elif f.type.target_entity(f) is not None and allow_related:
        entry.target = registry.get(f.type.target_entity(f))
        _add(registry, entry.target.fields, entry.inner, rest, path, allow_related=False)
    else:
        raise bad("_fields", f"unknown field '{path}'")


def top_names(selected: list[Selected]) -> list[str]:
    return [s.field.name for s in selected]


# --- records → cells ---------------------------------------------------------------------------------

Key = tuple[int, ...]


@dataclass
class ColumnSet:
    """Every column seen so far: its sort key (selection order, then value index) and both headers."""

    ids: dict[Key, int] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)  # by column id: (name path, label path)

    def column(self, key: Key, name: str, label: str) -> int:
        cid = self.ids.get(key)
        if cid is None:
            cid = self.ids[key] = len(self.headers)
            self.headers.append((name, label))
        return cid

    def ordered(self) -> list[int]:
        return [cid for _, cid in sorted(self.ids.items())]


def cells_of(selected: list[Selected], doc: dict[str, Any], related: dict[str, dict[ObjectId, dict[str, Any]]],
             columns: ColumnSet) -> dict[int, str]:
    """The non-empty cells of one record, by column id (registering new columns)."""
    out: dict[int, str] = {}
    for key, name, label, text in _walk(selected, doc, related, (), "", ""):
        cid = columns.column(key, name, label)
        if text:
            out[cid] = text
    return out


def template(selected: list[Selected], columns: ColumnSet) -> None:
    """Register the columns a record with one value everywhere would have, so the header is a full template."""
    for key, name, label, _ in _walk(selected, None, {}, (), "", ""):
        columns.column(key, name, label)


def _walk(selected: list[Selected], doc: dict[str, Any] | None, related: dict[str, dict[ObjectId, dict[str, Any]]],
          key: Key, name: str, label: str) -> Iterator[tuple[Key, str, str, str]]:
    for position, sel in enumerate(selected):
        f = sel.field
        if doc is None:  # template: one (empty) value of everything
            values: list[tuple[int, Any]] = [(0 if f.many else -1, None)]
        else:
            value = doc.get(f.name)
            values = list(enumerate(value)) if f.many and isinstance(value, list) else \
                [] if f.many else [(-1, value)]
        for index, value in values:
            k = (*key, position, index)
            n = name + f.name + (f"[{index}]" if index >= 0 else "")
            lab = label + f.label + (f"[{index}]" if index >= 0 else "")
            if f.is_nested:
                if doc is None or isinstance(value, dict):
                    yield from _walk(sel.inner, value if doc is not None else None, related, k, n + ".", lab + ".")
            elif sel.target is not None:
                if sel.label:
                    yield (*k, 0), n, lab, format_cell(f, value)
                target_doc = related.get(sel.target.name, {}).get(value["id"]) if isinstance(value, dict) else None
                if doc is None or target_doc is not None:
                    yield from _walk(sel.inner, target_doc, related, (*k, 1), n + ".", lab + ".")
            else:
                yield k, n, lab, format_cell(f, value)


def related_ids(selected: list[Selected], docs: list[dict[str, Any]]) -> dict[str, set[ObjectId]]:
    """The ids of the related records the selection reads fields of, by target entity."""
    out: dict[str, set[ObjectId]] = {}

    def visit(sels: list[Selected], doc: dict[str, Any]) -> None:
        for sel in sels:
            value = doc.get(sel.field.name)
            values = value if isinstance(value, list) else [value]
            for v in values:
                if not isinstance(v, dict):
                    continue
                if sel.field.is_nested:
                    visit(sel.inner, v)
                elif sel.target is not None and v.get("id") is not None:
                    out.setdefault(sel.target.name, set()).add(v["id"])

    for d in docs:
        visit(selected, d)
    return out


def related_projection(selected: list[Selected], target: str) -> dict[str, int]:
    names: set[str] = set()

    def visit(sels: list[Selected]) -> None:
        for sel in sels:
            if sel.target is not None and sel.target.name == target:
                names.update(top_names(sel.inner))
            visit(sel.inner if sel.field.is_nested else [])

    visit(selected)
    return dict.fromkeys(sorted(names), 1) or {"_id": 1}
