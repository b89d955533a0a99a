"""Reading values out of stored records: dot paths, text forms, labels."""

from __future__ import annotations

import datetime as dt
from typing import Any

from entities.metadata import Entity, Field


def value_at(doc: dict[str, Any], path: str) -> Any:
    current: Any = doc
    for part in path.split("."):
        if isinstance(current, list):
            current = [c.get(part) if isinstance(c, dict) else None for c in current]
            current = [c for c in current if c is not None]
        elif isinstance(current, dict):
            current = current.get(part)
        else:
            return None
    return current


def text_of(f: Field | None, value: Any, tz: dt.tzinfo | None = None) -> str:
    """``value``'s text form; date-times in ``tz`` when given (``_format=plainText``), else in UTC."""
    if value is None:
        return ""
    if f is None:
        return str(value)
    if isinstance(value, list):
        return ", ".join(text_of(f, v, tz) for v in value)
    if f.is_nested:
        return str(value.get("label") or "") if isinstance(value, dict) else str(value)
    try:
        return f.type.text(value, f) if tz is None else f.type.text_in(value, f, tz)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        return str(value)  # a value that does not fit the field (stored under another definition): as it is


def path_text(entity: Entity, doc: dict[str, Any], path: str) -> str:
    f = entity.resolve(path)
    if f is None and "." in path:
        head = path.rsplit(".", 1)[0]
        parent = entity.resolve(head)
        if parent is not None and parent.type.target_entity(parent) is not None:  # a related record's field
            value = value_at(doc, path)
            return "" if value is None else str(value)
    return text_of(f, value_at(doc, path))


def compute_label(entity: Entity, doc: dict[str, Any]) -> str:
    """The record label: its template's text, else what ``label_sources`` finds."""
    if entity.record_label is not None:
        return entity.record_label.render(lambda p: path_text(entity, doc, p))
    for f, any_value in entity.derived("_label_sources", label_sources):
        value = doc.get(f.name)
        if (value is not None) if any_value else value:
            return text_of(f, value)
    return str(doc.get("_id", ""))


def label_sources(entity: Entity) -> list[tuple[Field, bool]]:
    """Where a record without a label template takes its label, in order: the ``name``, ``title`` or ``label``
    field when set (True), else the first single text field with a value (False)."""
    sources: list[tuple[Field, bool]] = []
    for candidate in ("name", "title", "label"):
        f = entity.field(candidate)
        if f is not None:
            sources.append((f, True))
    sources += [(f, False) for f in entity.fields if f.type.family == "text" and not f.many]
    return sources
