"""``EXPORT_RECORDS`` jobs: the records a query matches → a CSV file in the file store.

Records are read in batches. Each record's cells go to a spooled temporary file (memory, then disk) as
one JSON line, because the columns of multi-valued fields are known only after the last record; then the
header and the rows are streamed from that spool into the file store chunk by chunk. Memory holds one
batch and the column list, however many records match.

A stopped export resumes from the start (the spool lives in the worker that was stopped); it is read-only,
so running it again is harmless.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import IO, Any

from bson import ObjectId
from pymongo.collection import Collection
from werkzeug.datastructures import MultiDict

from entities.metadata import Entity
from entities.permissions.enforce import job_context, policy, policy_scoped_query
from entities.permissions.policy import UNRESTRICTED, EntityPolicy
from entities.query import ListQuery, iterate_ids, parse_list_query, sorted_by
from entities.registry import Registry
from entities.transfer.headers import HeaderError, resolve_header
from entities.transfer.selection import (
    ColumnSet,
    Selected,
    cells_of,
    parse_fields,
    related_ids,
    related_projection,
    template,
    top_names,
)
from entities.transfer.streams import ChunkStream, csv_bytes
from files.storage import FileStore
from jobs import runners

MAX_EXPORT = 1_000_000
SPOOL_MEMORY = 256 * 1024  # beyond this the spool of an export is on disk
EXPORT_ONLY_PARAMS = ("_fields", "_useFieldNames")


def export_query(entity: Entity, args: MultiDict, base: dict[str, Any] | None = None) -> ListQuery:
    """The query language over the export's parameters: the records and order ``GET /data/{entity}`` gives for
    them (newest first without a sort), except that no ``_size`` means every match."""
    query = MultiDict([(k, v) for k, v in args.items(multi=True) if k not in EXPORT_ONLY_PARAMS])
    return parse_list_query(entity, query, base, default_size=MAX_EXPORT, max_size=MAX_EXPORT)


def count_matches(col: Any, q: ListQuery) -> int:
    """How many records the export will write (at most ``MAX_EXPORT + 1``, enough to refuse a bigger one)."""
    q.bind_cursor(col)
    limit = min(q.limit, MAX_EXPORT + 1)
    if not limit:
        return 0
    return col.count_documents(q.page_filter(), skip=q.skip, limit=limit) if q.skip else \
        col.count_documents(q.page_filter(), limit=limit)


def plan_export(registry: Registry, entity: Entity, args: MultiDict, p: EntityPolicy = UNRESTRICTED,
                ) -> tuple[ListQuery, list[Selected]]:
    """The query (within the records the caller may export: those their groups that grant export may access;
    ``_globalSearch`` without their hidden fields) and the columns
    (without the caller's hidden fields)."""
    base = None
    if not p.unrestricted:
        args, base = policy_scoped_query(p, entity, args, "export", "export")
    selected = parse_fields(registry, entity, args.get("_fields"))
    return export_query(entity, args, base), _visible(selected, p, "")


def _visible(selected: list[Selected], p: EntityPolicy, prefix: str) -> list[Selected]:
    """The selection without hidden fields: the caller's own, and those of related records (``company.notes``)."""
    if p.unrestricted:
        return selected
    out = []
    for s in selected:
        path = prefix + s.field.name
        if p.field_level(path) != "none":
            nested = s.field.is_nested or s.target is not None
            out.append(replace(s, inner=_visible(s.inner, p, path + ".")) if nested else s)
    return out


def record_batches(col: Any, q: ListQuery, projection: dict[str, int], batch_size: int) -> Iterator[list[dict]]:
    """The matching records in query order, one batch at a time.

    Id order (the default, newest first, or ``_sortField=id``) walks ``_id`` in keyset batches either way and
    fetches each batch by id; any other sort streams one server-side cursor batch by batch."""
    left = q.limit
    if not left:
        return
    q.bind_cursor(col)
    key, direction = q.sort[0] if q.sort else (None, 1)  # no sort: ordered by proximity (near)
    if key == "_id":
        skip = q.skip
        for ids in iterate_ids(col, q.page_filter(), batch_size, direction=direction):
            if skip:
                dropped, skip = min(skip, len(ids)), skip - min(skip, len(ids))
                ids = ids[dropped:]
            ids = ids[:left]
            if not ids:
                continue
            by_id = {d["_id"]: d for d in col.find({"_id": {"$in": ids}}, projection)}
            yield [by_id[i] for i in ids if i in by_id]
            left -= len(ids)
            if left <= 0:
                return
        return
    cursor = sorted_by(col.find(q.find_filter(), projection), q).skip(q.skip).limit(left)
    if isinstance(col, Collection):
        cursor = cursor.batch_size(batch_size)
    batch: list[dict] = []
    for doc in cursor:
        batch.append(doc)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_export_job(jctx: runners.JobContext) -> dict[str, Any]:
    svc = jctx.services
    data = jctx.data
    entity = svc.registry.get(data["entityName"])
    args = MultiDict([(k, v) for k, values in (data.get("query") or {}).items() for v in values])
    caller = job_context(svc.permissions, jctx.write_context()).caller
    q, selected = plan_export(svc.registry, entity, args, policy(entity, caller))
    col = svc.records.collection(entity)
    if jctx.checkpoint is not None:
        jctx.log("INFO", "An export starts again from the first record when resumed")
        jctx.save_checkpoint(None, processed_delta=-int(jctx.job.get("recordsProcessed") or 0))
    jctx.set_total(min(count_matches(col, q), MAX_EXPORT))
    use_names = bool(data.get("useFieldNames"))
    projection = dict.fromkeys(["_id", *top_names(selected)], 1)
    columns = ColumnSet()
    template(selected, columns)
    exported = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, mode="w+b") as spool:
        for batch in record_batches(col, q, projection, jctx.transfer_batch_size):
            related = _related(svc.records, selected, batch, lambda name: policy(svc.registry.get(name), caller))
            for doc in batch:
                cells = cells_of(selected, doc, related, columns)
                spool.write(json.dumps(cells, separators=(",", ":")).encode() + b"\n")
            exported += len(batch)
            jctx.save_checkpoint(exported, processed_delta=len(batch))
        spool.seek(0)
        order = columns.ordered()
        pairs = [columns.headers[cid] for cid in order]
        header = [name for name, _ in pairs] if use_names else readable_headers(svc.registry, entity, pairs)
        rows = _rows(spool, order)
        owner = (jctx.job.get("runBy") or {}).get("id")
        doc = FileStore(svc.store).put(ChunkStream(csv_bytes(_with_header(header, rows))), _file_name(entity),
                                       "text/csv", {"ownerId": owner, "exportOf": entity.name,
                                                    "jobId": str(jctx.job_id)})
    file_id = str(doc["_id"])
    jctx.log("INFO", f"{exported} records exported to file {file_id}")
    return {"fileLink": f"{data.get('baseUrl') or ''}{svc.config.api_prefix}/files/{file_id}", "fileId": file_id,
            "recordsExported": exported}


def readable_headers(registry: Registry, entity: Entity, pairs: list[tuple[str, str]]) -> list[str]:
    """The label of each column, or its field path where the label would be read back as another column (it is
    another field's name, or another column's label too): an import reads names before labels, any case."""
    counts = Counter(label.strip().lower() for _, label in pairs)
    out = []
    for position, (name, label) in enumerate(pairs):
        try:
            same = counts[label.strip().lower()] == 1 and \
                resolve_header(registry, entity, label, position).path == \
                resolve_header(registry, entity, name, position).path
        except HeaderError:
            same = False
        out.append(label if same else name)
    return out


def _related(records: Any, selected: list[Selected], batch: list[dict],
             policy_of: Callable[[str], EntityPolicy]) -> dict[str, dict[ObjectId, dict]]:
    """The related records whose fields the selection exports: only those the caller may access."""
    out: dict[str, dict[ObjectId, dict]] = {}
    for target, ids in related_ids(selected, batch).items():
        scope = policy_of(target).access.mongo()
        if scope is None:
            out[target] = {}
            continue
        query: dict[str, Any] = {"_id": {"$in": list(ids)}}
        found = records.collection(target).find({"$and": [query, scope]} if scope else query,
                                                related_projection(selected, target))
        out[target] = {d["_id"]: d for d in found}
    return out


def _rows(spool: IO[bytes], order: list[int]) -> Iterator[list[str]]:
    for line in spool:
        cells = json.loads(line)
        yield [cells.get(str(cid), "") for cid in order]


def _with_header(header: list[str], rows: Iterator[list[str]]) -> Iterator[list[str]]:
    yield header
    yield from rows


def _file_name(entity: Entity) -> str:
    return f"{entity.name}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}.csv"

