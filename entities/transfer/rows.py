"""One CSV row → the REST body of a record (the records service validates and stores it).

Cells land at their column's path; multi-valued fields collect their indexed cells in order. An empty cell
is ``null``: on a create the field stays unset, on an update it is cleared. Groups of a multi-valued nested
field whose cells are all empty are left out.
"""

from __future__ import annotations

from typing import Any

from core.errors import field_error
from entities.transfer.cells import parse_cell
from entities.transfer.headers import Column, Step
from entities.types import FieldInvalid


class Linked:
    """A related record's reference placed in a body (kept apart from nested groups, which are dicts too)."""

    __slots__ = ("ref",)

    def __init__(self, ref: dict[str, Any]):
        self.ref = ref


def build_body(columns: list[Column], cells: list[str], errors: list[dict[str, Any]],
               skip_empty: bool = False) -> dict[str, Any]:
    """The unpruned body of ``columns``; malformed cells go to ``errors`` (their field is left out)."""
    body: dict[str, Any] = {}
    for c in columns:
        text = cells[c.position]
        if skip_empty and not text.strip():
            continue
        try:
            value = parse_cell(c.leaf, text)
        except FieldInvalid as exc:
            errors.append(field_error(c.path, exc.code, exc.message, c.header, rejected=text))
            continue
        put(body, c.steps, value)
    return body


def put(body: dict[str, Any], steps: tuple[Step, ...], value: Any) -> None:
    if len(steps) == 1 and steps[0].index is None:  # the usual column: one plain field
        body[steps[0].field.name] = value
        return
    container = body
    last = len(steps) - 1
    for i, step in enumerate(steps):
        name = step.field.name
        if step.index is None:
            if i == last:
                container[name] = value
            else:
                container = container.setdefault(name, {})
            continue
        items = container.setdefault(name, [])
        while len(items) <= step.index:
            items.append(None)
        if i == last:
            items[step.index] = value
        else:
            if items[step.index] is None:
                items[step.index] = {}
            container = items[step.index]


def keep_item_ids(body: dict[str, Any], current: dict[str, Any]) -> None:
    """On an update, group ``i`` of a multi-valued nested field is merged into the record's group ``i``."""
    for name, items in body.items():
        existing = current.get(name)
        if not isinstance(items, list) or not isinstance(existing, list):
            continue
        for item, old in zip(items, existing, strict=False):
            if isinstance(item, dict) and isinstance(old, dict) and old.get("id"):
                item["id"] = old["id"]


def prune(body: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """Drop empty placeholders. ``current`` (the rendered record an update changes) is None on a create."""
    creating = current is None
    out: dict[str, Any] = {}
    for name, value in body.items():
        pruned = _prune(value, creating)
        if creating and pruned is None:
            continue
        if (not creating and not isinstance(value, Linked) and isinstance(pruned, dict) and _blank(pruned)
                and current.get(name) is None):
            continue  # empty cells of a group the record does not have: nothing to clear (a link is no group)
        out[name] = pruned
    return out


def _prune(value: Any, creating: bool) -> Any:
    if isinstance(value, Linked):
        return value.ref
    if isinstance(value, list):
        items = [v.ref if isinstance(v, Linked) else _prune(v, creating) for v in value if v is not None]
        items = [v for v, raw in zip(items, [x for x in value if x is not None], strict=True)
                 if v is not None and (isinstance(raw, Linked) or not (isinstance(v, dict) and _blank(v)))]
        return items if items or not creating else None
    if isinstance(value, dict):
        group = {k: _prune(v, creating) for k, v in value.items()}
        return None if creating and _blank(group) else group
    return value


def _blank(group: dict[str, Any]) -> bool:
    return all(v in (None, []) or (isinstance(v, dict) and _blank(v)) for k, v in group.items() if k != "id")


def error_message(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" if e.get("field") else str(e["message"]) for e in errors)
