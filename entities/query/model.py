"""The parsed form of a list query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId


@dataclass
class ListQuery:
    filter: dict[str, Any]
    sort: list[tuple[str, int]]
    skip: int = 0
    limit: int = 20
    after_id: ObjectId | None = None
    fields: list[str] | None = None
    fmt: str = "native"
    relationships: list[str] = field(default_factory=list)
    projection: dict[str, int] | None = None  # None: every stored field (minus internal ones)

    def page_filter(self) -> dict[str, Any]:
        """The filter plus the keyset cursor condition, when ``_offset`` was a record id."""
        if self.after_id is None:
            return self.filter
        direction = self.sort[0][1] if self.sort else -1
        cond = {"_id": {"$lt" if direction < 0 else "$gt": self.after_id}}
        return {"$and": [self.filter, cond]} if self.filter else cond
