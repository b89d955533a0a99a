"""Operations over many records: the per-id result maps of the seed (``{id: {status, response|errorMessage}}``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from core.context import WriteContext
from core.errors import ApiError
from core.ids import parse_object_id
from entities.metadata import Entity
from entities.permissions.enforce import forbidden
from entities.permissions.policy import EntityPolicy
from entities.records.lifecycle import RecordLifecycle, parse_id
from entities.records.render import render, with_entity

RESULTS_CAP = 1000


def delete_each(records: RecordLifecycle, entity: Entity, ids: Iterable[ObjectId | str], ctx: WriteContext,
                results: dict[str, Any] | None = None, cap: int = RESULTS_CAP) -> tuple[dict[str, Any], int, int]:
    """Delete records one by one (each with its history). Returns (results map, ok count, error count)."""
    results = {} if results is None else results
    ok = failed = 0
    for rid in ids:
        key = str(rid)
        try:
            doc = records.delete(entity, rid, ctx)
            ok += 1
            outcome: dict[str, Any] = {"status": "ok", "response": with_entity(entity, render(entity, doc))}
        except ApiError as exc:
            failed += 1
            outcome = {"status": "error", "errorMessage": exc.message}
        if len(results) < cap or key in results:
            results[key] = outcome
    return results, ok, failed


def check_delete(records: RecordLifecycle, entity: Entity, p: EntityPolicy, ids: list[str], single: bool,
                 background: bool, ctx: WriteContext) -> None:
    """The refusals a delete of ``ids`` answers before it starts, now or in the background.

    403 when the caller can never delete records of the entity (no access, or a delete rule of never), for one
    id or many. One id deleted in the background is also checked as the sync delete checks it (404 no such
    record, 403 not this record), since its job could only report that afterwards. A rule with a condition
    depends on each record: many ids still get a result per id."""
    if p.delete.never:
        raise forbidden("delete" if single else "deleteMany")
    if single and background:
        records.check_delete(entity, parse_id(ids[0]), ctx)


def split_ids(raw: str) -> list[str]:
    """The ids of a ``{id1},{id2}`` path segment, each once, in the order given: a repeated id (hex case aside)
    names the same record, which is deleted or acted on once and keeps one entry in the per-id map."""
    seen: dict[Any, str] = {}
    for part in (p.strip() for p in raw.split(",")):
        if part:
            seen.setdefault(parse_object_id(part) or part, part)
    return list(seen.values())
