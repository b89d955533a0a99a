"""The parsed form of a list query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from core.errors import BadRequest, field_error


@dataclass
class ListQuery:
    filter: dict[str, Any]
    sort: list[tuple[str, int]]
    skip: int = 0
    limit: int = 20
    after_id: ObjectId | None = None
    fields: list[str] | None = None
    fmt: str = "native"
    format_for_user: str | None = None  # ``_formatForUser``: whose timezone plainText date-times are written in
    relationships: list[str] = field(default_factory=list)
    projection: dict[str, int] | None = None  # None: every stored field (minus internal ones)
    after_value: Any = None  # the sort value of the ``_offset`` record (``bind_cursor`` reads it)
    cursor_bound: bool = False
    near: dict[str, Any] | None = None  # a ``$nearSphere`` condition: the find orders by proximity (``sort`` is [])
    scope: dict[str, Any] | None = None  # the caller's permission filter (also in ``filter``): records they may use

    def bind_cursor(self, col: Any) -> None:
        """Read the sort value of the ``_offset`` record, which a keyset over a sorted field continues from.
        400 when that record is gone, outside the caller's ``scope`` (exactly as if it did not exist: the cursor
        must not reveal a hidden record, nor its sort value) or its value is a list (a multi-valued sort: use a
        numeric offset)."""
        key = self.sort[0][0] if self.sort else "_id"
        if self.after_id is None or key == "_id" or self.cursor_bound:
            return
        selector = {"_id": self.after_id}
        doc = col.find_one({"$and": [self.scope, selector]} if self.scope else selector, {key: 1})
        if doc is None:
            raise BadRequest("Invalid query parameter '_offset': the record it names no longer exists; start again "
                             "without _offset or use a numeric offset", errors=[field_error("_offset", "invalid",
                                                                                            "no such record")])
        value: Any = doc
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, list):
            raise BadRequest("Invalid query parameter '_offset': sorting by a multi-valued field pages with a "
                             "numeric offset", errors=[field_error("_offset", "invalid", "use a numeric offset")])
        self.after_value, self.cursor_bound = value, True

    def page_filter(self) -> dict[str, Any]:
        """The filter plus the keyset cursor condition, when ``_offset`` was a record id: the records after it in
        the sort order (its sort value, then its id for ties)."""
        if self.after_id is None:
            return self.filter
        key, direction = self.sort[0] if self.sort else ("_id", -1)
        if key == "_id":
            cond: dict[str, Any] = {"_id": {"$lt" if direction < 0 else "$gt": self.after_id}}
        else:
            assert self.cursor_bound, "bind_cursor(col) reads the offset record's sort value first"
            cond = _after_sorted(key, direction, self.after_value, self.after_id)
        return {"$and": [self.filter, cond]} if self.filter else cond

    def find_filter(self) -> dict[str, Any]:
        """``page_filter`` plus the condition that orders a list by proximity, when it is so ordered: what a find of
        the page runs (a count takes ``filter``/``page_filter``: MongoDB refuses ``$nearSphere`` there)."""
        page = self.page_filter()
        if self.near is None:
            return page
        return {"$and": [page, self.near]} if page else self.near


def _after_sorted(key: str, direction: int, value: Any, after: ObjectId) -> dict[str, Any]:
    """Records after ``(value, after)`` in ``key`` order; missing and null values sort first (as in MongoDB)."""
    tie = "$lt" if direction < 0 else "$gt"
    if value is None:
        same = {key: None, "_id": {tie: after}}
        return same if direction < 0 else {"$or": [same, {key: {"$ne": None}}]}
    beyond = {key: {"$lt" if direction < 0 else "$gt": value}}
    same = {key: value, "_id": {tie: after}}
    return {"$or": [beyond, same, {key: None}]} if direction < 0 else {"$or": [beyond, same]}
