"""Builds and stores history entries; other packages call it with the event category and context path.

Consistency with the record write (no entry without a committed change, no committed change without an
entry) uses an outbox: a create or update writes the entry *inside the record document* (``_hist``, a list
of unpublished entries; older writes stored a single entry) in the same atomic compare-and-set. An update
then hands it to the ``OutboxPublisher`` (``entities.history.publisher``), which copies entries to
``sys.history`` under their preset ids (idempotent) in batches off the request path; a create still copies
its entry at once. Published entries leave the record through the publisher (on a server) or the record's
next write. ``RecordLifecycle.repair_history`` (run before every
history read) publishes and clears what is left, so a read sees every committed change. A delete first
publishes this process's queue, stores its entry as ``pending`` (with the record's outbox entries, in the same
write), deletes, then confirms it. If the process dies in between, ``repair_history`` (which owns the record
side) finishes the job: outbox entries are copied; a pending delete entry is confirmed when the record is gone
and dropped when it still exists and is older than a lease.

The embedded store needs no outbox for creates and updates (``HistoryRecorder.direct``): the record write and
its entry's insert run in one ``Store.atomic`` block, under the store lock (no reader sees one without the
other) and journaled as one record in a data folder (a crash keeps both or neither). The entry goes into
``sys.history`` as built (``store_direct``), with no packing, copying or publishing.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import bson
import pymongo
from bson import ObjectId

from core.context import WriteContext
from core.storage import Store
from entities.history.publisher import OUTBOX_FIELD as OUTBOX_FIELD  # re-exported: writers and readers use it
from entities.history.publisher import OutboxPublisher
from entities.metadata import Entity
from entities.records.render import fields_renderer, render_fields

HISTORY = "sys.history"
PACKED = "bson"


def pack(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry in the form a record's outbox keeps it: ``{"_id": <entry id>, "bson": <the entry, BSON>}``.
    ``commit_many`` stores the bytes as they are. Plain ``bytes`` (stored as binary subtype 0, read back as
    ``bytes``) rather than ``Binary``: one object fewer for the garbage collector to track per record."""
    return {"_id": entry["_id"], PACKED: bson.encode(entry)}


def unpack(item: dict[str, Any]) -> dict[str, Any]:
    """The entry of a packed item; an item stored unpacked (older writes) is the entry itself."""
    return bson.decode(item[PACKED]) if PACKED in item else item


def _without_pending(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "pending"} if "pending" in entry else entry


def now_ms() -> int:
    return int(time.time() * 1000)


def _text(name: str, value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "{}"
    if isinstance(value, dict | list):
        return f"{{{name}:{json.dumps(value, separators=(',', ':'), ensure_ascii=False)}}}"
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"{{{name}:{value}}}"


def changed_value(name: str, value: Any) -> dict[str, Any]:
    """A field's value in a change entry: ``{"json": <REST value>, "text": "{name:value}"}``."""
    return {"json": value, "text": _text(name, value)}


def _expiry(days: int) -> dt.datetime:
    """``days`` from now, naive UTC to the millisecond (as BSON stores it)."""
    at = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=days)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


class HistoryRecorder:
    def __init__(self, store: Store):
        self.store = store
        self.col = store.collection(HISTORY)
        self.publisher = OutboxPublisher(self, store)
        # True: creates and updates store their entry with the record, in one ``Store.atomic`` block (the
        # embedded store); False: in the record's outbox (a server; tests of the outbox set it on either).
        self.direct = store.embedded

    def ensure_indexes(self) -> None:
        self.col.create_index([("entityName", 1), ("recordId", 1), ("_id", -1)], name="by_record")
        self.col.create_index([("entityName", 1), ("_id", -1)], name="by_entity")
        self.col.create_index([("entityName", 1), ("eventType", 1), ("_id", -1)], name="by_entity_type")
        self.col.create_index([("pending", 1)], name="pending", sparse=True)
        if self.store.embedded:  # its lookups use single-field indexes: a record's entries without a scan (a
            # delete's history policy, a record's history page)
            self.col.create_index([("recordId", 1)], name="by_record_id")
        self.store.ensure_ttl(HISTORY, "expireAt", "retention")

    # --- building --------------------------------------------------------------------------------

    def build(self, entity: Entity, kind: str, old_doc: dict[str, Any] | None, new_doc: dict[str, Any] | None,
              ctx: WriteContext, record_id: ObjectId, old_entity: Entity | None = None) -> dict[str, Any] | None:
        """An entry for this change, or None when the entity's settings say not to record it. ``old_entity``:
        the definition ``old_doc`` was stored under when it is an older one (a refactoring's entry)."""
        if kind == "RECORD_CREATED":
            created = self.creations(entity, ctx)
            return created(new_doc) if created is not None and new_doc is not None else None
        settings = entity.history
        if not settings.enabled:
            return None
        event_type = ctx.event_type(kind)
        if event_type not in settings.events:  # system events too: cascades and refactorings are flags as well
            return None
        ignored = settings.ignored_fields
        if kind == "RECORD_CHANGED" or kind == "ACTION_PERFORMED":
            # Compare stored values first and render only what changed. A date the runtime sets on every write
            # (record modified) is no change of the user's: the entry's timestamp already says when.
            old_values, new_values = old_doc or {}, new_doc or {}
            names = [name for name in entity.derived("_history_compared", _compared_fields)
                     if name not in ignored and old_values.get(name) != new_values.get(name)]
            old_json = render_fields(entity, old_doc or {}, names)
            new_json = render_fields(entity, new_doc or {}, names)
        else:
            old_json = render_fields(old_entity or entity, old_doc) if old_doc is not None else {}
            new_json = render_fields(entity, new_doc) if new_doc is not None else {}
        if kind == "RECORD_DELETED":
            old_rec: dict[str, Any] = {k: v for k, v in old_json.items() if k not in ignored}
            new_rec = {}
        else:
            old_rec, new_rec = {}, {}
            for name in new_json.keys() | old_json.keys():
                if name in ignored or old_json.get(name) == new_json.get(name):
                    continue
                old_rec[name] = changed_value(name, old_json.get(name))
                new_rec[name] = changed_value(name, new_json.get(name))
            if not new_rec and kind == "RECORD_CHANGED":
                return None
        source = new_doc if new_doc is not None else old_doc or {}
        ts = now_ms()
        entry: dict[str, Any] = {
            "_id": ObjectId(), "entityId": entity.id, "entityName": entity.name, "entityVersion": entity.version,
            "recordId": str(record_id), "recordName": source.get("label"), "user": ctx.user_email,
            "adminUser": ctx.impersonator_email, "timestamp": ts, "ip": ctx.ip, "eventType": event_type,
            "eventCategory": ctx.category if ctx.category in ("USER", "SCRIPT", "SYSTEM") else "USER",
            "contextPath": ctx.context_path or f"entities.{entity.name}.{_verb(kind)}",
            "recordDeleted": True if kind == "RECORD_DELETED" else None,
            "deletionDate": ts if kind == "RECORD_DELETED" else None,
            "oldRecord": old_rec, "newRecord": new_rec,
        }
        if settings.keep_days:
            entry["expireAt"] = _expiry(settings.keep_days)
        return entry

    def creations(self, entity: Entity, ctx: WriteContext) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        """The ``RECORD_CREATED`` entry of a record ``ctx`` creates, as a function of the new record (what the
        entries of a batch share is worked out once); None when the entity's settings say not to record it."""
        settings = entity.history
        event_type = ctx.event_type("RECORD_CREATED")
        if not settings.enabled or event_type not in settings.events:
            return None
        ignored, keep_days = settings.ignored_fields, settings.keep_days
        entity_id, entity_name, entity_version = entity.id, entity.name, entity.version
        user, admin_user, ip = ctx.user_email, ctx.impersonator_email, ctx.ip
        category = ctx.category if ctx.category in ("USER", "SCRIPT", "SYSTEM") else "USER"
        context_path = ctx.context_path or f"entities.{entity.name}.create"
        rendered = fields_renderer(entity)

        def entry(doc: dict[str, Any]) -> dict[str, Any]:
            new_rec = rendered(doc)
            if ignored:
                new_rec = {k: v for k, v in new_rec.items() if k not in ignored}
            built: dict[str, Any] = {
                "_id": ObjectId(), "entityId": entity_id, "entityName": entity_name, "entityVersion": entity_version,
                "recordId": str(doc["_id"]), "recordName": doc.get("label"), "user": user, "adminUser": admin_user,
                "timestamp": now_ms(), "ip": ip, "eventType": event_type, "eventCategory": category,
                "contextPath": context_path, "recordDeleted": None, "deletionDate": None,
                "oldRecord": {}, "newRecord": new_rec,
            }
            if keep_days:
                built["expireAt"] = _expiry(keep_days)
            return built
        return entry

    # --- storing ---------------------------------------------------------------------------------

    def commit(self, entry: dict[str, Any]) -> None:
        """Copy an entry into ``sys.history``; safe to repeat (the id is preset)."""
        self.commit_many([entry])

    def commit_many(self, entries: list[dict[str, Any] | None]) -> None:
        """Copy entries into ``sys.history`` in one write; an entry already there is skipped (preset ids).
        An entry may be given packed (``pack``: as a record's outbox keeps it), then its bytes are stored as is."""
        encoded = [(e["_id"], e[PACKED] if PACKED in e else bson.encode(_without_pending(e)))
                   for e in entries if e is not None]
        if encoded:
            self.store.insert_encoded(HISTORY, encoded)
            self.publisher.mark_published(oid for oid, _ in encoded)  # a record's next write drops them

    def store_direct(self, entries: list[dict[str, Any] | None]) -> None:
        """Insert entries just built by ``build``/``creations``, in the ``Store.atomic`` block of their records'
        write (see ``direct``). They are stored as they are (``Store.insert_owned``): an entry is handed over,
        and its record values are ``render_fields``' own (no list or dict shared with the record)."""
        self.store.insert_owned(HISTORY, [entry for entry in entries if entry is not None])

    def insert_pending(self, entry: dict[str, Any], previous: list[dict[str, Any]] | None = None) -> None:
        """Store a delete's entry as pending; ``previous`` (the record's outbox entries) are copied in the
        same write."""
        copies = [_without_pending(p) for p in previous or []]
        self.store.insert_built(HISTORY, [*copies, {**entry, "pending": True}])
        if copies:
            self.publisher.mark_published(p["_id"] for p in copies)

    def confirm(self, entry_id: ObjectId) -> None:
        self.col.update_one({"_id": entry_id}, {"$unset": {"pending": ""}})

    def discard(self, entry_id: ObjectId) -> None:
        self.col.delete_one({"_id": entry_id})

    def record_deleted(self, entity: Entity, record_id: ObjectId, deleted_at: int) -> None:
        """Apply the entity's 'on record deleted' policy to the record's existing history."""
        selector = {"entityName": entity.name, "recordId": str(record_id)}
        settings = entity.history
        if settings.on_record_deleted == "delete":
            self.col.delete_many(selector)
            return
        update: dict[str, Any] = {"recordDeleted": True, "deletionDate": deleted_at}
        if settings.keep_deleted_days:
            update["expireAt"] = (dt.datetime.now(dt.UTC).replace(tzinfo=None)
                                  + dt.timedelta(days=settings.keep_deleted_days))
        self.col.update_many(selector, {"$set": update})

    def pending(self, entity_name: str, record_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Delete entries not yet confirmed (their delete may still be in flight, or its process died)."""
        query: dict[str, Any] = {"entityName": entity_name, "pending": True}
        if record_ids is not None:
            query["recordId"] = {"$in": record_ids}
        return list(self.col.find(query))


def _compared_fields(entity: Entity) -> list[str]:
    """The fields a change entry may list: all but the dates every write sets (record modified)."""
    return [f.name for f in entity.fields if not f.type.stamp(created=False)]


def _verb(kind: str) -> str:
    return {"RECORD_CREATED": "create", "RECORD_CHANGED": "update", "RECORD_DELETED": "delete",
            "ACTION_PERFORMED": "action"}.get(kind, kind.lower())


SORT_NEWEST = [("_id", pymongo.DESCENDING)]
