"""The counters of ``autoIncrement`` fields (and the last rank given of ``rank`` fields), in ``sys.counters``
(owned by the records package).

One document per entity field, ``{_id: "<entity>:<field id>", value: <the last number given>}``, moved only by
``$inc`` (numbers are taken) and ``$max`` (the field's ``min`` was raised): it never moves back, and every number is
given once, whichever process, thread or gunicorn worker takes it. A batch of creates (an import) takes its range
with one ``$inc``. Numbers taken by a write that then fails are not given again: a gap, never a repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.errors import ApiError
from core.storage import Store
from entities.metadata import Entity, Field

COUNTERS = "sys.counters"
MAX_CLAIMS = 50  # compare-and-set rounds of one rank claim before a 503
NumberSource = Callable[[Field], int]  # the number of a new record for one of its autoIncrement fields


def counter_key(entity: Entity, f: Field) -> str:
    """By field id: a renamed field keeps its counter; a field removed and added again starts a new one."""
    return f"{entity.name}:{f.id or f.name}"


class Counters:
    def __init__(self, store: Store):
        self.col = store.collection(COUNTERS)

    def take(self, entity: Entity, f: Field, count: int = 1) -> int:
        """The first of ``count`` consecutive numbers of ``f`` given to no one before, none below the field's
        ``min`` (default 1)."""
        key = counter_key(entity, f)
        least = int(f.type_rules.get("min", 1))
        first = self._inc(key, entity, f, count)
        if first < least:  # the first use since min was raised (or a new counter): move up to it, then take
            self.col.update_one({"_id": key}, {"$max": {"value": least - 1}})
            first = self._inc(key, entity, f, count)
        return first

    def _inc(self, key: str, entity: Entity, f: Field, count: int) -> int:
        for _ in range(3):  # two first takes of a new counter can race to create it: the loser takes again
            try:
                doc = self.col.find_one_and_update(
                    {"_id": key}, {"$inc": {"value": count}, "$setOnInsert": {"entity": entity.name, "field": f.name}},
                    upsert=True, return_document=ReturnDocument.AFTER)
            except DuplicateKeyError:
                continue
            return int(doc["value"]) - count + 1
        raise RuntimeError(f"The counter {key} could not be created")

    def claim_after(self, entity: Entity, f: Field, highest: Any, after: Callable[[Any], Any]) -> Any:
        """A value of sequenced field ``f`` (a rank) after ``highest`` — the highest the records hold — and after
        every one this counter gave before, given to no one else: a compare-and-set on the counter's ``last``,
        so writers creating at once each get their own (one read again and retried when another won)."""
        key = counter_key(entity, f)
        for _ in range(MAX_CLAIMS):
            doc = self.col.find_one({"_id": key}, {"last": 1}) or {}
            last = doc.get("last")
            value = after(last if highest is None or (last is not None and last > highest) else highest)
            try:
                claimed = self.col.update_one(
                    {"_id": key, "last": last} if "last" in doc else {"_id": key, "last": {"$exists": False}},
                    {"$set": {"last": value}, "$setOnInsert": {"entity": entity.name, "field": f.name}},
                    upsert="last" not in doc)
            except DuplicateKeyError:  # created meanwhile by another writer
                continue
            if claimed.matched_count == 1 or claimed.upserted_id is not None:
                return value
        raise ApiError(503, f"Too many records of '{entity.name}' are being created at once; try again")

    def source(self, entity: Entity, size: int = 1, held: dict[str, list[int]] | None = None) -> NumberSource:
        """Numbers for up to ``size`` new records of ``entity``: the first one a field asks for takes ``size`` of
        them at once (one ``$inc`` for a whole batch); past them, one at a time. ``held``: numbers taken already,
        ``{field name: [next, last]}``, given first."""
        ranges: dict[str, list[int]] = {name: list(bounds) for name, bounds in (held or {}).items()}

        def number(f: Field) -> int:
            held = ranges.get(f.name)
            if held is None or held[0] > held[1]:
                count = size if held is None else 1  # past a range: one at a time
                first = self.take(entity, f, count)
                held = ranges[f.name] = [first, first + count - 1]
            held[0] += 1
            return held[0] - 1
        return number
