"""CSV headers of an import → where each column goes.

A header is a field path: ``name``, ``address.state`` (nested), ``phoneNumbers[0]`` (multi-valued: an
index is required), ``addresses[1].zipCode``, and through a relationship a field of the related entity:
``company.name``. Each segment may be the field's name or, case-insensitively, its label, so a file
exported with labels as headers (the export's default) imports as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ApiError
from entities.metadata import Entity, Field
from entities.registry import Registry
from entities.transfer.cells import importable

MAX_INDEX = 999  # multi-valued fields hold at most 1,000 values
_INDEX = re.compile(r"\[(\d{1,6})\]")


class HeaderError(Exception):
    """A header that names no importable field; the message says why."""


@dataclass(frozen=True)
class Step:
    field: Field
    index: int | None = None  # the position in a multi-valued field

    @property
    def text(self) -> str:
        return self.field.name if self.index is None else f"{self.field.name}[{self.index}]"


@dataclass(frozen=True)
class Column:
    """One CSV column: the steps to its field in the entity, and for ``company.type`` the related part."""

    position: int
    header: str
    steps: tuple[Step, ...]
    related: tuple[Step, ...] = ()  # the path inside the entity the relationship (last step) points to
    target: Entity | None = None

    @property
    def path(self) -> str:
        own = ".".join(s.text for s in self.steps)
        return f"{own}.{'.'.join(s.text for s in self.related)}" if self.related else own

    @property
    def leaf(self) -> Field:
        return (self.related or self.steps)[-1].field

    def sub_column(self) -> Column:
        """The related part as a column of the target entity (same position in the row)."""
        return Column(self.position, self.header, self.related)


def resolve_header(registry: Registry, entity: Entity, header: str, position: int) -> Column:
    text = header.strip()
    if not text:
        raise HeaderError(f"Column {position + 1} has an empty header")
    steps, related, target = _resolve(registry, entity.fields, text, allow_related=True)
    return Column(position, header, steps, related, target)


def _resolve(registry: Registry, fields: list[Field], text: str,
             allow_related: bool) -> tuple[tuple[Step, ...], tuple[Step, ...], Entity | None]:
    first_error: HeaderError | None = None
    for f, index, rest in _candidates(fields, text):
        try:
            return _follow(registry, f, index, rest, allow_related)
        except HeaderError as exc:
            first_error = first_error or exc
    raise first_error or HeaderError(f"'{text}' is not a field")


def _follow(registry: Registry, f: Field, index: int | None, rest: str | None,
            allow_related: bool) -> tuple[tuple[Step, ...], tuple[Step, ...], Entity | None]:
    if f.many and index is None:
        raise HeaderError(f"'{f.name}' is multi-valued: give the position, like {f.name}[0]")
    if not f.many and index is not None:
        raise HeaderError(f"'{f.name}' is not multi-valued: remove the [{index}]")
    if index is not None and index > MAX_INDEX:
        raise HeaderError(f"'{f.name}[{index}]': a multi-valued field holds at most {MAX_INDEX + 1} values")
    step = Step(f, index)
    if rest is None:
        if f.is_nested:
            raise HeaderError(f"'{f.name}' is a group of fields: name a field inside it, like "
                              f"{f.name}.{f.nested[0].name}")
        return (step,), (), None
    if f.is_nested:
        steps, related, target = _resolve(registry, f.nested, rest, allow_related)
        return (step, *steps), related, target
    if f.type.target_entity(f) is not None and allow_related:
        try:
            target = registry.get(f.type.target_entity(f))
        except ApiError:
            raise HeaderError(f"'{f.name}' points to an entity that does not exist") from None
        related, _, _ = _resolve(registry, target.fields, rest, allow_related=False)
        return (step,), related, target
    raise HeaderError(f"'{f.name}' has no fields inside it")


def _candidates(fields: list[Field], text: str):
    """(field, index, rest) for every field whose name, then every field whose label (any case), starts ``text``
    at a segment boundary: a header that is a field's name means that field, whatever another's label is."""
    for exact in (True, False):
        for f in fields:
            key = f.name if exact else f.label
            head = text[:len(key)]
            if not key or (head != key if exact else head.lower() != key.lower()):
                continue
            rest = text[len(key):]
            index = None
            m = _INDEX.match(rest)
            if m:
                index, rest = int(m.group(1)), rest[m.end():]
            if rest == "":
                yield f, index, None
            elif rest.startswith("."):
                yield f, index, rest[1:]


@dataclass
class ImportPlan:
    """The columns of one file: written ones, ignored ones (read-only) and the column matching existing records."""

    columns: list[Column]
    ignored: list[Column]
    width: int
    key: Column | None  # first single-valued unique field among the own columns: rows matching it are updates

    @property
    def own(self) -> list[Column]:
        return [c for c in self.columns if not c.related]

    def related_groups(self) -> list[list[Column]]:
        """Related columns grouped by the relationship they go through (``company``, ``owners[1]``...)."""
        groups: dict[str, list[Column]] = {}
        for c in self.columns:
            if c.related:
                groups.setdefault(".".join(s.text for s in c.steps), []).append(c)
        return list(groups.values())


def plan_import(registry: Registry, entity: Entity, header: list[str]) -> ImportPlan:
    """Resolve every header; raise ``HeaderErrors`` listing all the bad ones."""
    problems: list[tuple[str, str]] = []
    columns: list[Column] = []
    ignored: list[Column] = []
    seen: dict[str, str] = {}
    for position, text in enumerate(header):
        try:
            column = resolve_header(registry, entity, text, position)
        except HeaderError as exc:
            problems.append((text, str(exc)))
            continue
        if column.path in seen:
            problems.append((text, f"the same field as column '{seen[column.path]}'"))
            continue
        seen[column.path] = text
        writable = all(importable(s.field) for s in (*column.steps, *column.related))
        (columns if writable else ignored).append(column)
    if problems:
        raise HeaderErrors(problems)
    if not columns:
        raise HeaderErrors([("", "no column of the file can be imported (read-only, calculated and file "
                                  "fields are skipped)")])
    key = next((c for c in columns if not c.related and len(c.steps) == 1 and c.leaf.unique and not c.leaf.many
                and c.leaf.type.target_entity(c.leaf) is None), None)
    return ImportPlan(columns, ignored, len(header), key)


class HeaderErrors(Exception):
    """Every bad header of a file: ``problems`` is a list of (header, reason)."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"column '{h}': {reason}" if h else reason for h, reason in problems))
        self.problems = problems
