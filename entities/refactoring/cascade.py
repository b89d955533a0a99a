"""Relationships that stay true: after-commit hooks for label/copied-field cascades and delete policies.

* A referenced record whose label (``updateLabel``) or copied fields (``updateCopiedFields``) changed gets a
  ``CASCADE_UPDATE`` job per referencing relationship field; the write that triggered it returns at once.
  The job rewrites the referencing records in batches through ``services.records`` (history
  ``SYSTEM_CASCADE_UPDATE``), resumable from its checkpoint; it reads the referenced record when it runs, so
  repeating it is harmless. A renamed user gets the same job per ``user`` field holding them, a relabelled group
  per ``group`` field (``cascade_user_label``, ``cascade_group_label``, called by the users and groups services).
* A deleted record: ``onDelete`` ``removeRelationship`` removes the link (null, or out of the list),
  ``deleteRecord`` deletes the referencing records, recursively (each delete fires this hook again); a set
  of deleted (entity, id) pairs carried by the write context stops cycles. ``none`` leaves the link dangling.
* A write whose context says ``cascade=False`` (``_cascadeOperations=false``, or an import's
  ``updateRelationships``/``cascadeOperations`` false) does neither.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from bson import ObjectId

from core.context import WriteContext
from core.errors import NotFound
from entities.metadata import Entity, Field
from entities.query import iterate_ids
from entities.records.events import AfterCommit, RecordEvent
from entities.records.group_refs import groups_as_targets
from entities.records.user_refs import users_as_targets
from entities.records.validation import derive, reference_value
from entities.refactoring.pending_deletes import (
    BUDGET,
    CASCADE_DELETE,
    COUNTS,
    IN_JOB,
    INLINE_LIMIT,
    PendingDeletes,
    policy_referrers,
)
from entities.registry import fields_where
from jobs import runners

VISITED = "cascadeDeleted"
CASCADE_UPDATE = "CASCADE_UPDATE"


class _Unchanged(Exception):
    pass


def install_hooks(svc: Any) -> None:
    pending = PendingDeletes(svc, lambda entity, oid, ctx: apply_policies(svc, pending, entity, oid, ctx))
    svc.records.before_delete.append(pending.before_delete)
    svc.records.after_commit.append(AfterCommit("relationships", lambda event: on_event(svc, pending, event),
                                                wants=lambda entity, ctx: ctx.cascade and is_referenced(svc, entity)))
    svc.plugins.clock_tasks.append(pending.tick)
    svc.plugins.index_hooks.append(pending.ensure_indexes)
    svc.jobs.register_runner(CASCADE_DELETE, pending.run, internal=True)


def is_referenced(svc: Any, entity: Entity) -> bool:
    """Only writes of records that other records point at need the hook (others keep the set-based paths)."""
    return bool(svc.registry.referrers_of(entity.name))


def on_event(svc: Any, pending: PendingDeletes, event: RecordEvent) -> None:
    if event.kind in ("changed", "actionPerformed"):
        _cascade_changes(svc, event)
    elif event.kind == "deleted":
        apply_policies(svc, pending, event.entity, (event.old_record or {})["_id"], event.ctx)


def system_context(ctx: WriteContext, path: str) -> WriteContext:
    out = ctx.with_path(path)
    out.category = "SYSTEM"
    out.extra.pop("eventType", None)
    if VISITED in ctx.extra:
        out.extra[VISITED] = ctx.extra[VISITED]  # shared, not copied: one set per cascade
    return out


def map_refs(doc: dict[str, Any], field: Field, fields: list[Field],
             fn: Callable[[dict[str, Any]], dict[str, Any] | None]) -> bool:
    """Apply ``fn`` to every value of relationship ``field`` (at any nesting) in ``doc``; True when one changed.
    ``fn`` returns the new value, or None to remove it."""
    parts = field.path.split(".")

    def walk(container: dict[str, Any], scope: list[Field], depth: int) -> bool:
        f = next((x for x in scope if x.name == parts[depth]), None)
        value = container.get(parts[depth])
        if f is None or value is None:
            return False
        if depth < len(parts) - 1:
            return any([walk(item, f.nested, depth + 1) for item in (value if f.many else [value])
                        if isinstance(item, dict)])
        if f.many:
            new: Any = [r for r in (fn(v) for v in value) if r is not None] or None
        else:
            new = fn(value)
        if new == value:
            return False
        if new is None:
            container.pop(parts[depth], None)
        else:
            container[parts[depth]] = new
        return True
    return walk(doc, fields, 0)


# --- label and copied-field cascades ---------------------------------------------------------------

def _cascade_changes(svc: Any, event: RecordEvent) -> None:
    old, new = event.old_record or {}, event.record or {}
    label_changed = old.get("label") != new.get("label")
    for entity, f in svc.registry.referrers_of(event.entity.name):
        copied_changed = f.update_copied and any(old.get(c) != new.get(c)
                                                 for c in f.type_rules.get("copiedFields", []))
        if not ((label_changed and f.update_label) or copied_changed):
            continue
        ctx = event.ctx
        user = {"_id": ctx.user_id or "", "email": ctx.user_email, "fullName": ctx.user_name,
                "developer": ctx.developer}
        _submit_cascade(svc, entity, f, new["_id"], new.get("label"), user, event.entity.name,
                        quiet=not ctx.trigger_events)


def cascade_user_label(svc: Any, user_id: ObjectId, label: str | None, by: dict[str, Any]) -> None:
    """A user's full name changed: the ``user`` fields holding them get it as their label, by the same
    ``CASCADE_UPDATE`` job (one per field, history ``SYSTEM_CASCADE_UPDATE``) as a relationship whose target's
    label changed. ``by``: who changed it (the jobs' user)."""
    _cascade_label(svc, "user", user_id, label, by)


def cascade_group_label(svc: Any, group_id: ObjectId, label: str | None, by: dict[str, Any]) -> None:
    """A group's label (or the name it falls back to) changed: the ``group`` fields holding it get it, as a
    renamed user's ``user`` fields do."""
    _cascade_label(svc, "group", group_id, label, by)


def _cascade_label(svc: Any, type_name: str, target_id: ObjectId, label: str | None, by: dict[str, Any]) -> None:
    runner = {"_id": by.get("_id") or "", "email": by.get("email"), "fullName": by.get("fullName"),
              "developer": bool(by.get("developer"))}
    for entity, f in fields_where(svc.registry.all(), lambda f: f.type.name == type_name and f.update_label):
        _submit_cascade(svc, entity, f, target_id, label, runner)


def _submit_cascade(svc: Any, entity: Entity, f: Field, target_id: ObjectId, label: str | None,
                    by: dict[str, Any], target_entity: str | None = None, quiet: bool = False) -> None:
    """A ``CASCADE_UPDATE`` job for the values of ``f`` pointing at ``target_id``, when some record holds one.
    ``quiet``: the write that started it fires no listeners (``triggerEvents=false``), nor do its cascades."""
    if svc.records.collection(entity).find_one({f"{f.path}.id": target_id}, {"_id": 1}) is None:
        return
    data = {"entityName": entity.name, "fieldPath": f.path,
            **({"targetEntity": target_entity} if target_entity else {}), "targetId": str(target_id),
            **({"triggerEvents": False} if quiet else {})}
    svc.jobs.submit(CASCADE_UPDATE, f"Update {entity.name}.{f.path} for {label}", data, by)


def fresh_value(f: Field, current: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The relationship value with the target's label and copied fields, as the field's policies allow."""
    fresh = reference_value(f, target)
    out = {"id": current["id"], "label": fresh["label"] if f.update_label else current.get("label")}
    for name in f.type_rules.get("copiedFields", []):
        value = fresh.get(name) if f.update_copied else current.get(name)
        if value is not None:
            out[name] = value
    return out


def refs_in(doc: dict[str, Any], f: Field, fields: list[Field]) -> list[dict[str, Any]]:
    """Every value of relationship ``f`` (at any nesting) in ``doc``."""
    found: list[dict[str, Any]] = []

    def note(ref: dict[str, Any]) -> dict[str, Any]:
        found.append(ref)
        return ref  # unchanged: nothing is written to ``doc``
    map_refs(doc, f, fields, note)
    return found


def run_cascade_update(jctx: runners.JobContext) -> dict[str, Any] | None:
    """Rewrite the values of one relationship (or ``user``) field: those pointing at ``targetId``, or all of them
    (a copied field list or the referenced records' labels changed). Per batch the records and the records they
    point at are read at once (the referenced ones as the current definition shows them, also while a refactoring
    of theirs is still running; users with their current full name), and only the records whose values are stale
    are written."""
    svc, data = jctx.services, jctx.data
    entity: Entity = svc.registry.get(data["entityName"])
    f = entity.resolve(data["fieldPath"])
    lookup = _targets_of(svc, f, data.get("targetEntity"))
    target_id = ObjectId(data["targetId"]) if data.get("targetId") else None
    target = lookup([target_id]).get(target_id) if target_id is not None and lookup is not None else None
    if f is None or lookup is None or (target_id is not None and target is None):
        jctx.log("INFO", "The relationship or the referenced record no longer exists; nothing to update")
        return None
    col = svc.records.collection(entity)
    selector = {f"{f.path}.id": target_id} if target_id is not None else {f"{f.path}.id": {"$exists": True}}
    if not jctx.job.get("recordsCount"):
        jctx.set_total(col.count_documents(selector))
    ctx = system_context(jctx.write_context(), f"entities.{entity.name}.cascadeUpdate")
    ctx.trigger_events = data.get("triggerEvents", True) is not False
    updated = 0
    after = ObjectId(jctx.checkpoint) if jctx.checkpoint else None
    for batch in iterate_ids(col, selector, jctx.batch_size, after):
        jctx.begin_batch([str(oid) for oid in batch])
        updated += _refresh_batch(svc, entity, f, batch, lookup, target, ctx, jctx.check_cancelled)
        jctx.save_checkpoint(str(batch[-1]), processed_delta=len(batch))
    return {"results": {"status": "ok", "response": {"recordsUpdated": updated}}}


Targets = Callable[[Iterable[Any]], dict[Any, dict[str, Any]]]


def _targets_of(svc: Any, f: Field | None, target_name: str | None) -> Targets | None:
    """How to read what the values of ``f`` point at, by id: the records of its entity, the users of a ``user``
    field or the groups of a ``group`` field; None when the field or its entity is gone."""
    if f is not None and f.type.name == "user":
        return lambda ids: users_as_targets(svc.store, ids)
    if f is not None and f.type.name == "group":
        return lambda ids: groups_as_targets(svc.store, ids)
    target_entity = svc.registry.all().get(target_name) if target_name else None
    if f is None or f.type.name != "relationship" or target_entity is None:
        return None
    return lambda ids: svc.records.find_many(target_entity, ids)


def _refresh_batch(svc: Any, entity: Entity, f: Field, batch: list[ObjectId], lookup: Targets,
                   target: dict[str, Any] | None, ctx: WriteContext, check: Callable[[], None]) -> int:
    """Write the records of ``batch`` whose values of ``f`` are stale (pointing at ``target``, or at any record
    when it is None); how many were written."""
    docs = svc.records.find_many(entity, batch)
    refs = {oid: refs_in(doc, f, entity.fields) for oid, doc in docs.items()}
    targets = {target["_id"]: target} if target is not None else lookup(
        {ref.get("id") for found in refs.values() for ref in found})

    def refresh(ref: dict[str, Any]) -> dict[str, Any]:
        found = targets.get(ref.get("id"))
        return fresh_value(f, ref, found) if found is not None else ref

    def apply(current: dict[str, Any]) -> dict[str, Any]:
        doc = copy.deepcopy(current)  # the current document is history's "before"
        if not map_refs(doc, f, entity.fields, refresh):
            raise _Unchanged()
        derive(entity, doc)  # a label or calculated value over the link follows it (and its change cascades on)
        return doc
    updated = 0
    for oid in batch:
        if not any(refresh(ref) != ref for ref in refs.get(oid, [])):
            continue  # gone, or already up to date
        try:
            svc.records.write(entity, oid, apply, ctx)
            updated += 1
        except (_Unchanged, NotFound):
            pass
        check()
    return updated


# --- delete policies -----------------------------------------------------------------------------

def apply_policies(svc: Any, pending: PendingDeletes, entity: Entity, deleted_id: ObjectId,
                   ctx: WriteContext) -> None:
    """The delete policies of the records pointing at a deleted one, then its marker removed. In a request, at
    most ``INLINE_LIMIT`` referencing records in all (the recursion of ``deleteRecord`` included): past that,
    a ``CASCADE_DELETE`` job takes this record's over. A failure leaves the marker for the clock's job."""
    visited: set[tuple[str, Any]] = ctx.extra.setdefault(VISITED, set())
    visited.add((entity.name, deleted_id))
    policies = policy_referrers(svc.registry, entity)
    if not policies:
        return
    beat = ctx.extra.get(IN_JOB)
    counts: Counter[str] = ctx.extra.setdefault(COUNTS, Counter())  # shared by the whole cascade
    if beat is None:  # in a request: the referencing ids, read once, unless there are too many
        budget: list[int] = ctx.extra.setdefault(BUDGET, [INLINE_LIMIT])  # shared by the whole cascade
        found = [[d["_id"] for d in svc.records.collection(e).find({f"{f.path}.id": deleted_id}, {"_id": 1})
                  .limit(budget[0] + 1)] for e, f in policies]
        if sum(map(len, found)) > budget[0]:
            pending.hand_over(entity, deleted_id)
            return
        budget[0] -= sum(map(len, found))
        batches: list[Iterable[list[ObjectId]]] = [[ids] for ids in found]
    else:  # in the job: in batches, however many
        batches = [iterate_ids(svc.records.collection(e), {f"{f.path}.id": deleted_id}, 500) for e, f in policies]
    for (other, f), field_batches in zip(policies, batches, strict=True):
        policy_ctx = system_context(ctx, f"entities.{other.name}.cascade{f.on_delete[0].upper()}{f.on_delete[1:]}")
        for batch in field_batches:
            for oid in batch:
                done = _apply_policy(svc, other, f, oid, deleted_id, visited, policy_ctx)
                if done is not None:
                    counts[done] += 1
            if beat is not None:
                beat()
    pending.done(entity, deleted_id)


def _apply_policy(svc: Any, entity: Entity, f: Field, oid: ObjectId, deleted_id: ObjectId,
                  visited: set[tuple[str, Any]], ctx: WriteContext) -> str | None:
    """``deleteRecord`` (recursively, stopping at cycles) or ``removeRelationship`` on one referencing record: what
    it did (``recordsDeleted``, ``recordsUpdated``) or None (done by someone else meanwhile)."""
    if f.on_delete == "deleteRecord":
        if (entity.name, oid) in visited:
            return None
        visited.add((entity.name, oid))
        try:
            svc.records.delete(entity, oid, ctx)
        except NotFound:
            return None
        return "recordsDeleted"

    def apply(current: dict[str, Any]) -> dict[str, Any]:
        doc = copy.deepcopy(current)
        if not map_refs(doc, f, entity.fields, lambda ref: None if ref.get("id") == deleted_id else ref):
            raise _Unchanged()
        derive(entity, doc)
        return doc
    try:
        svc.records.write(entity, oid, apply, ctx)
    except (_Unchanged, NotFound):
        return None
    return "recordsUpdated"

