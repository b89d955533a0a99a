"""The shape of documents flowing through a pipeline: which output field holds which field definition.

Records enter as ``id`` (stored ``_id``), ``version``, ``label`` and the entity's fields. Each stage
returns a new ``Shape``; later stages validate their paths against it and the renderer uses it to give
every value its type's JSON form. An ``Entry`` separates the name clients use (``addresses.state``
after a group) from the key in the Mongo document (``addresses__state``: Mongo forbids dots there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bson import ObjectId

from core.ids import parse_object_id
from entities.metadata import Entity, Field, HistorySettings
from entities.types import EQUALITY, SCALAR_ACC, TYPES, FieldInvalid, FieldType


@dataclass(frozen=True)
class ObjectIdType(FieldType):
    """Record and item ids (``_id``, ``company.id``): stored ObjectIds, rendered as strings."""

    def load(self, value: Any, field: Field) -> Any:
        oid = parse_object_id(value)
        if oid is None:
            raise FieldInvalid("Not a valid record id")
        return oid

    def dump(self, stored: Any, field: Field) -> Any:
        return str(stored) if isinstance(stored, ObjectId) else stored


@dataclass(frozen=True)
class RecordsType(FieldType):
    """Records joined by a ``lookup``; rendered like a record read."""

    def load(self, value: Any, field: Field) -> Any:
        raise FieldInvalid("Joined records cannot be written")


OBJECT_ID = ObjectIdType("objectId", "id", EQUALITY, SCALAR_ACC)
RECORDS = RecordsType("records", "records", frozenset(), frozenset({"first", "last"}), sortable=False)


def synthetic_field(name: str, ftype: FieldType, many: bool = False) -> Field:
    return Field(name=name, label=name, type=ftype, many=many, path=name)


ID_FIELD = synthetic_field("id", OBJECT_ID)
LABEL_FIELD = synthetic_field("label", TYPES["text"])
VERSION_FIELD = synthetic_field("version", TYPES["integer"])
COUNT_FIELD = TYPES["integer"]
NUMBER_TYPE = TYPES["decimal"]


@dataclass(frozen=True)
class Slot:
    """What a value is: its field definition, whether it is an array here, and the entity of joined records."""

    field: Field
    many: bool = False
    entity: Entity | None = None

    @property
    def type(self) -> FieldType:
        return self.field.type

    @property
    def is_records(self) -> bool:
        return self.entity is not None

    @property
    def is_id(self) -> bool:
        return self.field.type is OBJECT_ID

    def describe(self) -> str:
        kind = f"records of {self.entity.name}" if self.entity is not None else self.type.name
        return f"{kind}, multi-valued" if self.many else kind

    def child(self, part: str) -> tuple[str, Slot] | None:
        """The (stored key, slot) of one level down, or None when ``part`` does not exist there."""
        if self.entity is not None:
            return _record_child(self.entity, part, self.many)
        if part in self.type.sub_keys:
            return part, Slot(_SUB_FIELDS[part], many=self.many)
        copied = self.field.copied_field(part)
        if copied is not None:
            return part, Slot(copied, many=self.many or copied.many)
        if self.type.is_nested:
            inner = self.field.inner(part)
            if inner is not None:
                return part, Slot(inner, many=self.many or inner.many)
        return None


# The sub-fields a value may carry (a type lists its own in ``sub_keys``; stored key = name).
_SUB_FIELDS: dict[str, Field] = {"id": ID_FIELD, "label": LABEL_FIELD, "name": synthetic_field("name", TYPES["text"])}


def _record_child(entity: Entity, part: str, many: bool) -> tuple[str, Slot] | None:
    system = {"id": ("_id", ID_FIELD), "version": ("version", VERSION_FIELD), "label": ("label", LABEL_FIELD)}
    if part in system:
        key, f = system[part]
        return key, Slot(f, many=many)
    f = entity.field(part)
    return (part, Slot(f, many=many or f.many)) if f is not None else None


@dataclass(frozen=True)
class Entry:
    name: str  # the output name clients see and refer to
    key: str  # the key in the Mongo document
    slot: Slot
    # the path of the record field whose values this output holds (``x`` of ``"x": "first(company)"`` holds
    # ``company``), through any chain of stages; None for computed values and joined records of another entity
    source: str | None = None


@dataclass(frozen=True)
class Resolved:
    """A path resolved against a shape: its Mongo path, its slot and the slots walked through."""

    entry: Entry
    mongo_path: str
    slot: Slot
    via: tuple[Slot, ...]
    source: str | None = None  # the record field path it names (``x.email`` → ``contactInformation.email``)

    @property
    def is_whole_entry(self) -> bool:
        return not self.via


@dataclass(frozen=True)
class Shape:
    entries: tuple[Entry, ...]
    entity: Entity | None = None  # set while documents are still untouched records of this entity

    @classmethod
    def records(cls, entity: Entity) -> Shape:
        entries = [Entry("id", "_id", Slot(ID_FIELD)), Entry("version", "version", Slot(VERSION_FIELD)),
                   Entry("label", "label", Slot(LABEL_FIELD))]
        entries += [Entry(f.name, f.name, Slot(f, many=f.many), f.name) for f in entity.fields]
        return cls(tuple(entries), entity)

    def get(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.name == name), None)

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def resolve(self, path: str) -> Resolved | None:
        """Longest output name that prefixes ``path`` (names may hold dots), then field by field below it."""
        parts = path.split(".")
        if any(not p for p in parts):
            return None
        for cut in range(len(parts), 0, -1):
            entry = self.get(".".join(parts[:cut]))
            if entry is None:
                continue
            mongo_path, slot, via = entry.key, entry.slot, []
            for part in parts[cut:]:
                found = slot.child(part)
                if found is None:
                    return None
                via.append(slot)
                mongo_path, slot = f"{mongo_path}.{found[0]}", found[1]
            source = None if entry.source is None else ".".join([entry.source, *parts[cut:]])
            return Resolved(entry, mongo_path, slot, tuple(via), source)
        return None

    def derived(self, entries: list[Entry]) -> Shape:
        """A new shape after a stage changed the documents (no longer plain records)."""
        return Shape(tuple(entries), None)

    def with_entry(self, entry: Entry) -> Shape:
        """Add or replace one output field (``lookup``'s ``as``, ``unwind``)."""
        entries = [entry if e.name == entry.name else e for e in self.entries]
        if self.get(entry.name) is None:
            entries.append(entry)
        return self.derived(entries)


def single(slot: Slot) -> Slot:
    return replace(slot, many=False)


def filter_entity(name: str, fields: list[Field]) -> Entity:
    """A throw-away entity holding the given fields, so the shared query parser can build a filter."""
    return Entity(name=name, label=name, fields=fields, record_label=None, history=HistorySettings(),
                  actions=[], version=0, id="", raw={})
