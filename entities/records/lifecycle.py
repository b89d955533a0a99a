"""The one writer of data records.

Every create, update and delete — single, many, by query, from an action, an import, a job or a cascade —
goes through these stages:

    load → authorize (``body_checks``: the body as sent; ``authorizers``: the record before and after)
    → validate (``RecordValidator``) → compare-and-set write → history → after-commit events (``after_commit``)

A body with ``version`` that no longer matches gets 409 with the current version; a body without it re-reads
and retries until its write wins, so concurrent writers never lose an update. The set-based fast paths (one
``update_many`` / ``delete_many`` per batch) are chosen here, and only when no per-record stage applies: no
history to write, no authorizer that restricts the caller, no after-commit hook that wants the records.
Nothing outside this package writes a ``data.*`` collection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError

from core.context import WriteContext
from core.errors import ApiError, BadRequest, Conflict, NotFound, ValidationFailed, field_error
from core.ids import parse_object_id
from core.storage import Store, refused_as_duplicates
from entities.history.recorder import OUTBOX_FIELD, HistoryRecorder, now_ms
from entities.metadata import Entity, Field
from entities.records.counters import NumberSource
from entities.records.events import (
    AfterCommit,
    Authorizer,
    BodyCheck,
    EventKind,
    KeepValues,
    LinkFilter,
    LinkScope,
    Operation,
    RecordEvent,
)
from entities.records.outbox import clear_outboxes, outbox_entries, outbox_items, pack
from entities.records.upgrade import UPGRADED_KEY, VERSION_KEY, Collector, upgrade, written_under
from entities.records.user_refs import has_write_stamps, stamp_users
from entities.records.validation import RecordValidator, compact, derive
from entities.registry import Registry, data_collection_name
from entities.visible_text import set_visible_text, text_updates

log = logging.getLogger("entities.records")

MAX_RETRIES = 1000
REPAIR_BATCH = 1000
# A pending delete entry whose record still exists is only dropped after this long: until then the delete
# that wrote it may still be in flight (between writing the entry and deleting the record).
PENDING_LEASE_MS = 60_000
# A write carries at most this many unpublished history entries of its record forward; more are published
# by the write itself (one insert) so that the outbox stays small when the publisher falls behind.
MAX_OUTBOX = 20


def parse_id(raw: str) -> ObjectId:
    oid = parse_object_id(raw)
    if oid is None:
        raise NotFound(f"Record '{raw}' does not exist")
    return oid


class RecordLifecycle:
    def __init__(self, store: Store, registry: Registry, history: HistoryRecorder):
        self.store = store
        self.registry = registry
        self.history = history
        self.validator = RecordValidator(store, registry)
        self.counters = self.validator.counters  # autoIncrement numbers (a refactoring takes some ahead)
        self.body_checks: list[BodyCheck] = []
        self.authorizers: list[Authorizer] = []
        self.after_commit: list[AfterCommit] = []
        # called just before a record is deleted, for those after-commit hooks whose work must survive a crash
        # between the delete and them (``entities.refactoring.pending_deletes``): ``(entity, record, ctx)``
        self.before_delete: list[Callable[[Entity, dict[str, Any], WriteContext], None]] = []
        self.link_scope: LinkScope | None = None  # which records a caller's relationships may be resolved to

    def collection(self, entity: Entity | str) -> Any:
        name = entity if isinstance(entity, str) else entity.name
        return self.store.collection(data_collection_name(name))

    # --- load ------------------------------------------------------------------------------------

    def get(self, entity: Entity, record_id: str | ObjectId) -> dict[str, Any]:
        oid = record_id if isinstance(record_id, ObjectId) else parse_id(record_id)
        doc = self.collection(entity).find_one({"_id": oid}, {OUTBOX_FIELD: 0})
        if doc is None:
            raise NotFound(f"Record '{record_id}' does not exist in entity '{entity.name}'")
        return upgrade(entity, doc)

    def find_many(self, entity: Entity, ids: Iterable[ObjectId],
                  scope: dict[str, Any] | None = None) -> dict[ObjectId, dict[str, Any]]:
        """The records of ``ids`` (those matching ``scope`` too, when given)."""
        query: dict[str, Any] = {"_id": {"$in": list(ids)}}
        if scope:
            query = {"$and": [query, scope]}
        return {d["_id"]: upgrade(entity, d) for d in self.collection(entity).find(query, {OUTBOX_FIELD: 0})}

    # --- validate (for callers that check values before writing: actions, imports) -----------------

    def validated_values(self, entity: Entity, body: dict[str, Any]) -> dict[str, Any]:
        return self.validator.validated_values(entity, body)

    def build_new(self, entity: Entity, body: Any, record_id: ObjectId | None = None) -> dict[str, Any]:
        return self.validator.build_new(entity, body, record_id)

    # --- hooks -----------------------------------------------------------------------------------

    def per_record_needed(self, entity: Entity, ctx: WriteContext) -> bool:
        """True when a write of ``entity`` by ``ctx`` needs per-record stages (so no set-based fast path)."""
        return (entity.history.enabled or any(a.needed(entity, ctx) for a in self.authorizers)
                or bool(self._listeners(entity, ctx)))

    def check_sent(self, entity: Entity, body: Any, ctx: WriteContext) -> None:
        """The authorize stage on a body as sent (a REST body; also an action's parameters), before any of it
        is stored."""
        if isinstance(body, dict):
            for check in self.body_checks:
                check(entity, body, ctx)

    def _authorize(self, operation: Operation, entity: Entity, old: dict[str, Any] | None,
                   new: dict[str, Any] | None, ctx: WriteContext) -> None:
        for authorizer in self.authorizers:
            if authorizer.needed(entity, ctx):
                authorizer.check(operation, entity, old, new, ctx)

    def _links(self, entity: Entity, old: dict[str, Any] | None, ctx: WriteContext) -> LinkFilter | None:
        return self.link_scope(entity, old, ctx) if self.link_scope is not None else None

    def link_filter(self, entity: Entity, ctx: WriteContext) -> LinkFilter | None:
        """The records ``ctx``'s caller may point a new link at, per target entity (None: any): for values that
        are not a record's, such as an action's parameters."""
        return self._links(entity, None, ctx)

    def _listeners(self, entity: Entity, ctx: WriteContext) -> list[AfterCommit]:
        return [hook for hook in self.after_commit if hook.wants(entity, ctx)]

    def _emit(self, kind: EventKind, entity: Entity, record: dict[str, Any] | None, old: dict[str, Any] | None,
              ctx: WriteContext, action: str | None = None) -> None:
        hooks = self._listeners(entity, ctx)
        if hooks:
            self._emit_to(hooks, kind, entity, record, old, ctx, action)

    # --- create ----------------------------------------------------------------------------------

    def create(self, entity: Entity, body: Any, ctx: WriteContext, record_id: ObjectId | None = None) -> dict[str, Any]:
        self.check_sent(entity, body, ctx)
        doc = self.validator.build_new(entity, body, record_id, ctx.user_id, self._links(entity, None, ctx),
                                       defaults=ctx.set_defaults)
        stamp_users(entity, doc, ctx, None)
        set_visible_text(entity, doc)
        self._authorize("create", entity, None, doc, ctx)
        entry = self.history.build(entity, "RECORD_CREATED", None, doc, ctx, doc["_id"])
        direct = self.history.direct
        packed = None if direct else _packed(entry)
        try:
            with self.store.atomic():
                self.collection(entity).insert_one(_with_outbox(doc, packed))
                if direct:
                    self.history.store_direct([entry])
        except DuplicateKeyError as exc:
            raise ValidationFailed([_duplicate_error(entity, exc)]) from None
        if not direct:
            self.history.commit_many([packed])  # the outbox stays: the next write or a history read clears it
        self._emit("created", entity, doc, None, ctx)
        return doc

    def create_many(self, entity: Entity, items: list[tuple[ObjectId, Any]],
                    ctx: WriteContext) -> list[dict[str, Any] | ApiError]:
        """Create one record per ``(preset id, body)``; per item, the stored document or the error that stopped it.

        Each item is validated and authorized as ``create`` does, then the batch is written with one
        ``insert_many(ordered=False)`` (each history entry in its record's outbox, as ``create`` does) and the
        entries are published with one more write; after-commit hooks run per record. An id that is already
        stored (an earlier attempt of the same batch) is not an error and runs no hook: its result is the
        stored record. An item refused by a unique index is created again on its own through ``create``, so it
        gets exactly the error (or the record) a one-by-one write gives."""
        results: list[dict[str, Any] | ApiError | None] = [None] * len(items)
        authorizers = [a for a in self.authorizers if a.needed(entity, ctx)]
        col = self.collection(entity)
        earlier = {d["_id"]: upgrade(entity, d)
                   for d in col.find({"_id": {"$in": [oid for oid, _ in items]}}, {OUTBOX_FIELD: 0})}
        # (item index, doc, its history entry: packed for the outbox unless the recorder stores it directly)
        staged: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = []
        created = self.history.creations(entity, ctx)
        direct = self.history.direct
        links = self._links(entity, None, ctx)
        numbers = self.validator.counters.source(entity, len(items) - len(earlier))  # one $inc for the batch
        with self.validator.batch():
            for i, (record_id, body) in enumerate(items):
                if record_id in earlier:
                    results[i] = earlier[record_id]
                    continue
                try:
                    self.check_sent(entity, body, ctx)
                    doc = self.validator.build_new(entity, body, record_id, ctx.user_id, links,
                                                   defaults=ctx.set_defaults, numbers=numbers)
                    stamp_users(entity, doc, ctx, None)
                    set_visible_text(entity, doc)
                    for authorizer in authorizers:
                        authorizer.check("create", entity, None, doc, ctx)
                except ApiError as exc:
                    results[i] = exc
                    continue
                entry = created(doc) if created is not None else None
                staged.append((i, doc, entry if direct or entry is None else pack(entry)))
        if direct:
            with self.store.atomic():
                try:
                    refused = _insert_batch(col, [doc for _, doc, _ in staged])
                except Exception:  # an error other than a duplicate: the records it did insert keep their entry
                    inserted = {d["_id"] for d in col.find({"_id": {"$in": [doc["_id"] for _, doc, _ in staged]}},
                                                           {"_id": 1})}
                    self.history.store_direct([entry for _, doc, entry in staged if doc["_id"] in inserted])
                    raise
                written = [s for n, s in enumerate(staged) if n not in refused]
                self.history.store_direct([entry for _, _, entry in written])
        else:
            refused = _insert_batch(col, [_with_outbox(doc, packed) for _, doc, packed in staged])
            written = [s for n, s in enumerate(staged) if n not in refused]
            self.history.commit_many([packed for _, _, packed in written])  # outboxes stay, as in ``create``
        hooks = self._listeners(entity, ctx)
        for i, doc, _ in written:
            results[i] = doc
            if hooks:
                self._emit_to(hooks, "created", entity, doc, None, ctx)
        if refused:
            ids = [staged[n][1]["_id"] for n in refused]
            stored = {d["_id"] for d in col.find({"_id": {"$in": ids}}, {"_id": 1})}
            for n in sorted(refused):
                i, doc, _ = staged[n]
                if doc["_id"] in stored:  # written by an earlier attempt of this batch
                    results[i] = doc
                    continue
                try:
                    results[i] = self.create(entity, items[i][1], ctx, record_id=items[i][0])
                except ApiError as exc:
                    results[i] = exc
        return cast(list[dict[str, Any] | ApiError], results)  # every item was given its result above

    def _emit_to(self, hooks: list[AfterCommit], kind: EventKind, entity: Entity, record: dict[str, Any] | None,
                 old: dict[str, Any] | None, ctx: WriteContext, action: str | None = None) -> None:
        """``_emit`` with the hooks already chosen (a batch asks ``wants`` once)."""
        event = RecordEvent(kind, entity, record, old, ctx, action)
        for hook in hooks:
            try:
                hook.handle(event)
            except Exception:  # an after-commit hook never undoes the write, nor fails the request
                log.exception("after-commit hook %s failed on %s %s", hook.name, entity.name, kind)

    # --- update ----------------------------------------------------------------------------------

    def update(self, entity: Entity, record_id: str | ObjectId, body: Any, ctx: WriteContext,
               kind: str = "RECORD_CHANGED", keep: KeepValues | None = None) -> dict[str, Any]:
        """A partial update; ``keep`` adjusts the changes to the stored record they apply to (read again on
        every retry)."""
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object")
        expected = _parse_version(body.get("version"))
        changes = self.validator.check_body(body)
        self.check_sent(entity, changes, ctx)
        def apply(current: dict[str, Any]) -> dict[str, Any]:
            sent = keep(current, changes) if keep is not None else changes
            doc = self.validator.updated(entity, current, sent, ctx.user_id, self._links(entity, current, ctx))
            stamp_users(entity, doc, ctx, current)
            return doc

        return self.write(entity, record_id, apply, ctx, expected_version=expected, kind=kind)

    def write(self, entity: Entity, record_id: str | ObjectId, apply: Callable[[dict[str, Any]], dict[str, Any]],
              ctx: WriteContext, expected_version: int | None = None, kind: str = "RECORD_CHANGED") -> dict[str, Any]:
        """Read-modify-write with compare-and-set on ``version``; ``apply`` builds the new document."""
        oid = record_id if isinstance(record_id, ObjectId) else parse_id(record_id)
        col = self.collection(entity)
        for _ in range(MAX_RETRIES):
            raw = _stored(col, entity, oid)
            current = upgrade(entity, raw)
            carried = self._carried_outbox(current.pop(OUTBOX_FIELD, None))
            version = current.get("version", 0)
            if expected_version is not None and version != expected_version:
                raise Conflict("The record was modified by someone else", currentVersion=version)
            new_doc = compact(apply(current))
            new_doc.pop(UPGRADED_KEY, None)
            new_doc["_id"], new_doc["version"], new_doc[VERSION_KEY] = oid, version + 1, entity.version
            set_visible_text(entity, new_doc)
            self._authorize("edit", entity, current, new_doc, ctx)
            if kind == "RECORD_REFACTORED":  # what the refactoring changed: the record as stored → converted
                entries = [self.history.build(entity, kind, raw, new_doc, ctx, oid, written_under(entity, raw))]
            else:  # converted by this write (a refactoring has not reached it yet): its entry first, as the job's
                entries = [self._refactored_entry(entity, raw, current, ctx, oid),
                           self.history.build(entity, kind, current, new_doc, ctx, oid)]
            entries = [e for e in entries if e is not None]
            direct = self.history.direct
            outbox = carried + ([] if direct else [pack(e) for e in entries])
            stored = dict(new_doc)
            if outbox and not direct:
                stored[OUTBOX_FIELD] = outbox
            try:
                if direct and (carried or entries):
                    with self.store.atomic():
                        result = col.replace_one({"_id": oid, "version": version}, stored)
                        if result.matched_count == 1:
                            self.history.commit_many(carried)  # left by writes made before (packed): as they are
                            self.history.store_direct(entries)
                else:  # one write: atomic by itself
                    result = col.replace_one({"_id": oid, "version": version}, stored)
            except DuplicateKeyError as exc:
                raise ValidationFailed([_duplicate_error(entity, exc)]) from None
            if result.matched_count == 1:
                if not direct:  # published off the request path; until then safe in the committed record
                    self.history.publisher.enqueue(col.name, oid, outbox)
                self._emit("changed", entity, new_doc, current, ctx)
                return new_doc
            if expected_version is not None:
                latest = col.find_one({"_id": oid}, {"version": 1})
                raise Conflict("The record was modified by someone else",
                               currentVersion=latest.get("version") if latest else None)
        raise ApiError(503, "The record is too busy to update right now; try again")

    def _refactored_entry(self, entity: Entity, raw: dict[str, Any], current: dict[str, Any], ctx: WriteContext,
                          oid: ObjectId) -> dict[str, Any] | None:
        """The ``SYSTEM_REFACTORING`` entry of a record a write converts before the refactoring job reaches it
        (the job then skips it): the stored values it changed, under their old names, as the job's entry has
        them. None when the record was not converted by this write."""
        if current.get(UPGRADED_KEY) is None:
            return None
        converted = {k: v for k, v in current.items() if k != UPGRADED_KEY}
        converted["_id"], converted[VERSION_KEY] = oid, entity.version
        system = ctx.with_path(f"entities.{entity.name}.refactoring")
        system.category, system.extra["eventType"] = "SYSTEM", "SYSTEM_REFACTORING"
        return self.history.build(entity, "RECORD_REFACTORED", raw, converted, system, oid, written_under(entity, raw))

    def _carried_outbox(self, stored: Any) -> list[dict[str, Any]]:
        """The pre-image's outbox items a write must keep (as stored): those not known to be published. Past
        ``MAX_OUTBOX`` (the publisher is not keeping up, or not running) they are published here first,
        so a record written many times between publications keeps a bounded outbox."""
        carried = self.history.publisher.unpublished(outbox_items(stored))
        if len(carried) < MAX_OUTBOX:
            return carried
        self.history.commit_many(carried)
        return []

    def update_matching(self, entity: Entity, ids: Iterator[list[ObjectId]], body: dict[str, Any],
                        ctx: WriteContext, batch_done: Callable[[ObjectId, int], None] | None = None,
                        beat: Callable[[], None] | None = None) -> int:
        """Apply the same ``body`` to every record of the id batches. One ``update_many`` per batch when
        nothing needs per-record work, else one compare-and-set write per record. Returns how many matched."""
        if not self._set_based_update_allowed(entity, body, ctx):
            updated = 0
            for batch in ids:
                for oid in batch:
                    if beat is not None:
                        beat()
                    try:
                        self.update(entity, oid, body, ctx)
                    except NotFound:
                        continue  # deleted by someone else meanwhile
                    updated += 1
                if batch_done is not None:
                    batch_done(batch[-1], len(batch))
            return updated
        values = self.validator.validated_values(entity, body, ctx.user_id)
        text_sets, text_unsets = text_updates(entity, values)
        col = self.collection(entity)
        updated = 0
        for batch in ids:
            stamp = {f.name: now_ms() for f in entity.fields if f.type.stamp(created=False)}
            sets = {k: v for k, v in {**values, **stamp}.items() if v is not None}
            unsets = {k: "" for k, v in values.items() if v is None}
            sets.update(text_sets)
            unsets.update(text_unsets)
            update: dict[str, Any] = {"$inc": {"version": 1}}
            if sets:
                update["$set"] = sets
            if unsets:
                update["$unset"] = unsets
            updated += col.update_many({"_id": {"$in": batch}}, update).matched_count
            if batch_done is not None:
                batch_done(batch[-1], len(batch))
        return updated

    def _set_based_update_allowed(self, entity: Entity, body: dict[str, Any], ctx: WriteContext) -> bool:
        """True when updating every record with ``body`` needs no per-record work: no per-record stage, and
        no label, calculated value, nested group, relationship or unique rule depends on the changed fields."""
        if self.per_record_needed(entity, ctx) or entity.pending:  # pending: records may be in an older shape
            return False
        if has_write_stamps(entity):  # every record gets the caller in a setOn:write user field
            return False
        if entity.record_label is not None:
            used = set(entity.record_label.paths)
        else:  # the default label may come from name/title/label or any text field (records.values.compute_label)
            used = {"name", "title", "label"} | {f.name for f in entity.fields if f.type.family == "text"}
        for f in entity.fields:
            if f.calculated is not None:
                used.update(f.calculated.paths)
        for name in body:
            f = entity.field(name)
            if f is None or f.unique or f.is_nested or f.type.is_reference:
                return False
            if any(p == name or p.startswith(name + ".") for p in used):
                return False
        return True

    # --- refactoring -----------------------------------------------------------------------------

    def refactor(self, entity: Entity, oid: ObjectId, ctx: WriteContext, to: int,
                 errors: Collector | None = None, numbered: Sequence[Field] = (),
                 numbers: NumberSource | None = None, ranked: Sequence[Field] = ()) -> bool:
        """Rewrite one record stored before metadata version ``to`` in the current definition (with history),
        giving the ``numbered`` fields it has no value for their number from ``numbers`` and the ``ranked`` ones a
        rank after the highest (also when the record was converted already, by a write made before the
        refactoring reached it).

        False when it was already converted (by an earlier run or a concurrent write) or is gone."""
        filled = (*numbered, *ranked)
        raw = self.collection(entity).find_one({"_id": oid}, {OUTBOX_FIELD: 0})
        if raw is None or (raw.get(VERSION_KEY, 0) >= to and all(raw.get(f.name) is not None for f in filled)):
            return False
        if errors is not None:
            upgrade(entity, dict(raw), errors)
        given: dict[str, Any] = {}  # taken once, whatever the compare-and-set retries

        def apply(current: dict[str, Any]) -> dict[str, Any]:
            lacking = [f for f in filled if current.get(f.name) is None]
            if (current.get(UPGRADED_KEY) is None or current[UPGRADED_KEY] >= to) and not lacking:
                raise _AlreadyDone()
            lacking = [f for f in lacking if numbers is not None or f in ranked]
            if not lacking:
                return current
            doc = dict(current)
            for f in lacking:
                if f.name not in given:
                    given[f.name] = numbers(f) if f in numbered and numbers is not None else \
                        self.validator.next_in_sequence(entity, f)
                doc[f.name] = given[f.name]
            derive(entity, doc)  # a calculated value or the label may show the number or rank
            return doc
        try:
            self.write(entity, oid, apply, ctx, kind="RECORD_REFACTORED")
        except (_AlreadyDone, NotFound):
            return False
        return True

    # --- delete ----------------------------------------------------------------------------------

    def delete(self, entity: Entity, record_id: str | ObjectId, ctx: WriteContext) -> dict[str, Any]:
        oid = record_id if isinstance(record_id, ObjectId) else parse_id(record_id)
        col = self.collection(entity)
        for _ in range(MAX_RETRIES):
            if entity.history.enabled:  # queued entries are published before the delete's history policy runs
                self.history.publisher.flush()
            current = _current(col, entity, oid)
            previous = outbox_entries(current.pop(OUTBOX_FIELD, None))
            self._authorize("delete", entity, current, None, ctx)
            entry = self.history.build(entity, "RECORD_DELETED", current, None, ctx, oid)
            if entry is not None:
                self.history.insert_pending(entry, previous)
            elif previous:
                self.history.commit_many(list(previous))
            for prepare in self.before_delete:
                prepare(entity, current, ctx)
            result = col.delete_one({"_id": oid, "version": current.get("version", 0)})
            if result.deleted_count == 1:
                if entity.history.enabled:
                    self.history.record_deleted(entity, oid, now_ms())
                if entry is not None and entity.history.on_record_deleted != "delete":
                    self.history.confirm(entry["_id"])
                elif entry is not None:
                    self.history.discard(entry["_id"])
                self._emit("deleted", entity, None, current, ctx)
                return current
            if entry is not None:
                self.history.discard(entry["_id"])
        raise ApiError(503, "The record is too busy to delete right now; try again")

    def check_delete(self, entity: Entity, record_id: str | ObjectId, ctx: WriteContext) -> None:
        """What ``delete`` would refuse before writing, without deleting: 404 when the record does not exist,
        403 when ``ctx`` may not delete it (a background delete of one record answers these up front)."""
        current = self.get(entity, record_id)
        self._authorize("delete", entity, current, None, ctx)

    def delete_batch(self, entity: Entity, batch: list[ObjectId], ctx: WriteContext,
                     check: Callable[[], None] = lambda: None, keep: int = 0,
                     ) -> tuple[dict[str, dict[str, Any]], list[ObjectId], dict[str, dict[str, Any]]]:
        """Delete the records of ``batch``: ``({id: outcome}, ids that were not there, {id: deleted record})``.
        One ``delete_many`` when no per-record stage applies, else one delete (with history and events) per
        record. ``check`` is called before each write (a job's stop check). The deleted records (stored
        documents) come back for the first ``keep`` deleted only: a caller that keeps a capped number of them
        never holds more than that."""
        outcomes: dict[str, dict[str, Any]] = {}
        gone: list[ObjectId] = []
        kept: dict[str, dict[str, Any]] = {}
        col = self.collection(entity)
        if not self.per_record_needed(entity, ctx):
            found = {d["_id"] for d in col.find({"_id": {"$in": batch}}, {"_id": 1})}
            present = [i for i in batch if i in found]
            if keep and present:
                wanted = present[:keep]
                docs = {d["_id"]: d for d in col.find({"_id": {"$in": wanted}}, {OUTBOX_FIELD: 0})}
                kept = {str(i): docs[i] for i in wanted if i in docs}
            check()
            col.delete_many({"_id": {"$in": present}})
            outcomes = {str(i): {"status": "ok"} for i in present}
            return outcomes, [i for i in batch if i not in found], kept
        for rid in batch:
            check()
            try:
                doc = self.delete(entity, rid, ctx)
                outcomes[str(rid)] = {"status": "ok"}
                if len(kept) < keep:
                    kept[str(rid)] = doc
            except NotFound:
                gone.append(rid)
            except ApiError as exc:
                outcomes[str(rid)] = {"status": "error", "errorMessage": exc.message}
        return outcomes, gone, kept

    def drop_all(self, entity_name: str) -> None:
        """Remove every record of an entity whose definition was deleted."""
        self.collection(entity_name).drop()

    # --- actions ---------------------------------------------------------------------------------

    def action_performed(self, entity: Entity, action_name: str, doc: dict[str, Any] | None,
                         ctx: WriteContext, before: dict[str, Any] | None = None) -> None:
        """The ``USER_ACTION_PERFORMED`` history entry and event (after the record change, if any, committed);
        ``before``: the record as it was when the action started (the event's ``oldRecord``)."""
        target = doc if doc is not None else {"_id": None, "label": None}
        entry = self.history.build(entity, "ACTION_PERFORMED", target, target, ctx, target["_id"] or "")
        if entry is not None:
            if doc is None:
                entry["recordId"], entry["recordName"] = None, None
            entry["newRecord"] = {"action": action_name}
            self.history.commit(entry)
        self._emit("actionPerformed", entity, doc, before if before is not None else doc, ctx, action_name)

    # --- history ---------------------------------------------------------------------------------

    def _flush_outboxes(self, col: Any, outboxes: list[tuple[ObjectId, list[dict[str, Any]]]]) -> int:
        """Copy the entries of these records' outboxes, then pull exactly those entries from them (an entry
        written meanwhile stays)."""
        items = [item for _, found in outboxes for item in found]
        if not items:
            return 0
        unpublished = self.history.publisher.unpublished(items)
        if unpublished:
            self.history.commit_many(unpublished)
        clear_outboxes(col, [(rid, item["_id"]) for rid, found in outboxes for item in found])
        return len(items)

    def clear_published(self, collection: str, published: list[tuple[ObjectId, ObjectId]]) -> None:
        """The history publisher's hook (on a server): remove ``(record id, entry id)`` entries it published from
        their records, and take back those of records deleted meanwhile by another process under a 'delete the
        history' policy. That delete copied the record's outbox and then removed the record's whole history; this
        process's copy may have landed after it. Whichever way the two interleave, either the delete's removal
        comes after the copy, or this check sees the record gone."""
        col = self.store.collection(collection)
        clear_outboxes(col, published)
        entity = self.registry.last_read().get(collection.removeprefix(data_collection_name("")))
        if entity is None or entity.history.on_record_deleted != "delete":
            return  # a delete that keeps the history copied the same entries first: a copy made later is a no-op
        record_ids = list({rid for rid, _ in published})
        present = {doc["_id"] for doc in col.find({"_id": {"$in": record_ids}}, {"_id": 1})}
        orphans = [eid for rid, eid in published if rid not in present]
        if orphans:
            self.history.col.delete_many({"_id": {"$in": orphans}})

    def repair_history(self, entity: Entity, record_ids: Iterable[ObjectId] | None = None,
                       lease_ms: int = PENDING_LEASE_MS) -> int:
        """Finish history writes interrupted by a crash or still queued; returns how many entries were repaired.

        An outbox entry is in a committed record, so it is always published (read-your-writes for a history
        read right after a write whose entry the publisher has not copied yet). A pending delete entry is
        confirmed when its record is gone; when the record still exists it is dropped only once it is older
        than ``lease_ms`` (the delete that wrote it may still be in flight). A job redoing the batch of a run
        known to be dead passes that batch's ``record_ids`` and no lease."""
        col = self.collection(entity)
        repaired = 0
        # ``_hist._id`` (every entry has one), not ``_hist``: the sparse ``history_outbox`` index serves it.
        batch: list[tuple[ObjectId, list[dict[str, Any]]]] = []
        for doc in col.find({f"{OUTBOX_FIELD}._id": {"$exists": True}}, {OUTBOX_FIELD: 1}):
            batch.append((doc["_id"], outbox_items(doc.get(OUTBOX_FIELD))))
            if len(batch) >= REPAIR_BATCH:
                repaired += self._flush_outboxes(col, batch)
                batch = []
        repaired += self._flush_outboxes(col, batch)
        cutoff = now_ms() - lease_ms
        for entry in self.history.pending(entity.name, [str(i) for i in record_ids] if record_ids else None):
            if col.find_one({"_id": ObjectId(entry["recordId"])}, {"_id": 1}) is None:
                self.history.confirm(entry["_id"])
            elif entry["timestamp"] <= cutoff:
                self.history.discard(entry["_id"])
            else:
                continue
            repaired += 1
        return repaired


def _parse_version(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValidationFailed([field_error("version", "invalid", "version must be an integer")])
    return raw


def _duplicate_error(entity: Entity, exc: DuplicateKeyError) -> dict[str, Any]:
    """The field whose unique index refused a write: the error's key pattern names its key (or, from a server
    that gives none, its message names the index, ``unique_<field>``)."""
    details = exc.details if isinstance(exc.details, dict) else {}
    pattern, taken = details.get("keyPattern") or {}, details.get("keyValue") or {}
    message = str(exc)
    for f in entity.fields:
        if not f.unique:
            continue
        key = f.type.key_path(f.name)
        if key in pattern or re.search(rf"\bunique_{re.escape(f.name)}\b", message):
            value = taken.get(key)
            rejected = value if isinstance(value, str | int | float) and not isinstance(value, bool) else None
            return field_error(f.name, "duplicate", "Another record already has this value", f.label, rejected)
    return field_error("", "duplicate", "Another record already has this value")


def _packed(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    return pack(entry) if entry is not None else None


def _with_outbox(doc: dict[str, Any], packed: dict[str, Any] | None) -> dict[str, Any]:
    """What a create inserts for ``doc``: a copy with its packed history entry as the outbox (see
    ``entities.records.outbox``), or ``doc`` itself (an insert leaves a document that has its ``_id`` as is)."""
    if packed is None:
        return doc
    stored = dict(doc)
    stored[OUTBOX_FIELD] = packed
    return stored


def _insert_batch(col: Any, docs: list[dict[str, Any]]) -> set[int]:
    """``insert_many(ordered=False)``; the positions refused as duplicates. Any other write error is raised."""
    if not docs:
        return set()
    try:
        col.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        return refused_as_duplicates(exc)
    return set()


def _stored(col: Any, entity: Entity, oid: ObjectId) -> dict[str, Any]:
    """The record as stored (maybe under an older definition) with its history outbox; 404 when it does not
    exist."""
    stored = col.find_one({"_id": oid})
    if stored is None:
        raise NotFound(f"Record '{oid}' does not exist in entity '{entity.name}'")
    return stored


def _current(col: Any, entity: Entity, oid: ObjectId) -> dict[str, Any]:
    """The stored record in the current definition with its history outbox (the caller pops it); 404 when it
    does not exist."""
    return upgrade(entity, _stored(col, entity, oid))


class _AlreadyDone(Exception):
    pass
