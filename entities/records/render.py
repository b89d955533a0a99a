"""Stored record → REST JSON: ``id``, ``version``, ``label`` first, then fields in metadata order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from entities.metadata import Entity
from entities.records.schema import dump_fast, schema_for
from entities.records.upgrade import upgrade
from entities.records.values import text_of
from entities.types import FieldType

Dumper = list[tuple[str, bool]]  # (field name, whether its stored value needs the field's serializer)


def _dumper(entity: Entity) -> Dumper:
    """Which fields render as stored: a single, flat value whose type dumps it as is and reads unset as null
    (text, numbers, choices, dates...). Every other field goes through its serializer."""
    return [(f.name, f.many or f.is_nested or type(f.type).dump is not FieldType.dump
             or f.type.missing_value() is not None) for f in entity.fields]


def render_fields(entity: Entity, doc: dict[str, Any], names: list[str] | None = None) -> dict[str, Any]:
    """The entity's fields (or just ``names``) as REST JSON: unset fields as null, booleans false. Every list
    and dict in it is new (flat values are rendered as stored, the others by their serializer), so it shares
    nothing mutable with ``doc``: history entries are stored as rendered."""
    if names is None:
        out: dict[str, Any] = {}
        serialized: dict[str, Any] = {}
        # the same as dump_fast of every field, in field order
        for name, serialize in entity.derived("_dumper", _dumper):
            value = out[name] = doc.get(name)
            if serialize:
                serialized[name] = value
        if serialized:
            out.update(dump_fast(entity, serialized))
        return out
    return dump_fast(entity, {name: doc.get(name) for name in names}) if names else {}


def fields_renderer(entity: Entity) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``render_fields(entity, doc)`` as a function of ``doc``, for many records of one entity in this thread
    (a batch's history entries): which fields need their serializer, and the serializers, are looked up once."""
    serializers = schema_for(entity).dump_fields
    steps = [(name, serializers[name]._serialize if serialize and name in serializers else None)
             for name, serialize in entity.derived("_dumper", _dumper)]

    def rendered(doc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, serialize in steps:
            value = doc.get(name)
            out[name] = value if serialize is None else serialize(value, name, doc)
        return out
    return rendered


def render(entity: Entity, doc: dict[str, Any], fields: list[str] | None = None, fmt: str = "native",
           related: dict[str, dict[str, dict[str, Any]]] | None = None, tz: dt.tzinfo | None = None) -> dict[str, Any]:
    """The record as REST JSON; with ``fmt="plainText"`` every field as text, date-times in ``tz`` (None: UTC)."""
    doc = upgrade(entity, doc)
    out: dict[str, Any] = {"id": str(doc["_id"]), "version": doc.get("version", 0), "label": doc.get("label")}
    body = render_fields(entity, doc)
    if fields:
        body = _project(body, fields)
    if fmt == "plainText":
        body = {name: text_of(entity.field(name), doc.get(name), tz) for name in body}
    if related:
        for name, by_id in related.items():
            value = body.get(name)
            if isinstance(value, dict) and value.get("id") in by_id:
                body[name] = {**value, **by_id[value["id"]]}
            elif isinstance(value, list):
                body[name] = [{**v, **by_id.get(v.get("id"), {})} if isinstance(v, dict) else v for v in value]
    out.update(body)
    return out


def with_entity(entity: Entity, rendered: dict[str, Any]) -> dict[str, Any]:
    """A rendered record as a response record of a many-records result: ``entity: {id, name}`` after its label."""
    out: dict[str, Any] = {}
    for key, value in rendered.items():
        out[key] = value
        if key == "label":
            out["entity"] = {"id": entity.id, "name": entity.label}
    out.setdefault("entity", {"id": entity.id, "name": entity.label})
    return out


def _project(body: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    tops: dict[str, list[str]] = {}
    for p in paths:
        head, _, rest = p.partition(".")
        tops.setdefault(head, [])
        if rest:
            tops[head].append(rest)
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name not in tops:
            continue
        inner = tops[name]
        if not inner or value is None:
            out[name] = value
        elif isinstance(value, list):
            out[name] = [_project_item(v, inner) for v in value]
        elif isinstance(value, dict):
            out[name] = _project_item(value, inner)
        else:
            out[name] = value
    return out


def _project_item(item: Any, inner: list[str]) -> Any:
    if not isinstance(item, dict):
        return item
    keep = {"id", "label"} | {p.split(".")[0] for p in inner}
    return {k: v for k, v in item.items() if k in keep}
