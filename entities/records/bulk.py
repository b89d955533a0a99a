"""Operations over many records: the per-id result maps of the seed (``{id: {status, response|errorMessage}}``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from core.context import WriteContext
from core.errors import ApiError
from entities.metadata import Entity
from entities.records.lifecycle import RecordLifecycle
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


def split_ids(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]
