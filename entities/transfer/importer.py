"""``IMPORT_RECORDS`` jobs: a stored CSV file → records, a batch at a time, through the records service.

Each row is created, or updated when its value of the key column (the first unique field among the
headers) matches a record. ``company.name,company.type`` columns find the related record by its unique
field (or by all the given values), update it or create it, and link it. A bad row is reported with its
row number (the header is row 1) and the others go on.

Rows are processed in batches; after each one the checkpoint (last row number and the counts) is saved,
so a stopped job resumes after it. The id of every record a batch will create is chosen and saved before
the batch starts, so a run that died in the middle of a batch does not create those records twice.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from bson import ObjectId

from core import collector
from core.context import WriteContext
from core.errors import ApiError, BadRequest, ValidationFailed, field_error, top_field
from core.services import Services
from entities.metadata import Entity
from entities.permissions.enforce import job_context, kept_values, writable_body
from entities.permissions.service import Caller
from entities.records.render import render_fields
from entities.records.validation import Loaded
from entities.registry import Registry
from entities.transfer.cells import parse_cell
from entities.transfer.converters import row_converter
from entities.transfer.headers import Column, HeaderErrors, ImportPlan, plan_import
from entities.transfer.rows import Linked, build_body, error_message, keep_item_ids, prune, put
from entities.transfer.streams import csv_rows, stored_csv, text_reader
from entities.types import FieldInvalid, type_rules
from files.storage import FileStore
from jobs import runners

MAX_LOGGED_ROW_ERRORS = 1000


@dataclass
class Outcome:
    ok: bool
    errors: list[dict[str, Any]] = field(default_factory=list)  # on ok: what could not be saved


def scan_upload(registry: Registry, entity: Entity, binary: BinaryIO) -> tuple[ImportPlan, int]:
    """Check a file before a job is made: UTF-8, well-formed CSV, every header importable. Returns the plan
    and the number of non-empty data rows; raises a 400 that says what is wrong."""
    text = text_reader(binary)
    row = 1
    try:
        rows = csv_rows(text)
        header = next(rows, None)
        if header is None or _blank(header):
            raise BadRequest("The file is empty: its first row must hold the column headers")
        try:
            plan = plan_import(registry, entity, header)
        except HeaderErrors as exc:
            raise BadRequest("The file has columns that cannot be imported",
                             errors=[field_error(h, "invalid", reason) for h, reason in exc.problems]) from None
        count = 0
        for cells in rows:
            row += 1
            count += 0 if _blank(cells) else 1
        return plan, count
    except csv.Error as exc:
        raise BadRequest(f"The file is not valid CSV (row {row + 1}): {exc}") from None
    except UnicodeDecodeError:
        raise BadRequest("The file is not UTF-8 text") from None
    finally:
        text.detach()


def hidden_related_columns(plan: ImportPlan, caller: Any) -> list[tuple[Column, str]]:
    """The related columns (``company.notes``) that name a field of the related entity a restricted ``caller``
    may not see, each with the error that refuses it: such a column would find records by a hidden value (the
    row's outcome would tell whether a guess is right) or write it, so it is no field of theirs, as in REST."""
    if not isinstance(caller, Caller) or not caller.restricted:
        return []
    out = []
    for c in plan.columns:
        if c.related and c.target is not None:
            inner = ".".join(s.field.name for s in c.related)
            if caller.entity(c.target).field_level(inner) == "none":
                out.append((c, f"'{inner}' is not a field of '{c.target.name}'"))
    return out


class RowImporter:
    """Imports the rows of a batch into ``entity`` following ``plan``.

    ``import_row`` parses and validates one row; a row that creates a record is queued and ``flush`` writes
    the queue with one ``RecordLifecycle.create_many``. Rows that update a record (matched by the key column)
    are written at once, after the queue when the queue holds their key value, so the file's order holds."""

    def __init__(self, services: Services, entity: Entity, plan: ImportPlan, ctx: WriteContext,
                 keep_invalid: bool = False, check_rules: bool = True):
        self.records = services.records
        self.entity = entity
        self.plan = plan
        self.ctx = ctx
        self.keep_invalid = keep_invalid
        self.check_rules = check_rules  # False: its batches run under ``type_rules(False)`` (``_run_batch``)
        self.own = plan.own
        self.groups = plan.related_groups()
        self.merges_groups = any(s.field.is_nested and s.index is not None for c in self.own for s in c.steps[:1])
        # A related column into this same entity may find a record queued earlier: write rows one at a time.
        self.one_at_a_time = any(g[0].target is not None and g[0].target.name == entity.name for g in self.groups)
        self.restricted = isinstance(ctx.caller, Caller) and ctx.caller.restricted
        # an update keeps the stored inner values of nested groups the caller may not see or write
        self.keep = kept_values(ctx.caller.entity(entity), entity) if self.restricted else None
        self.hidden_related = {c.position: reason for c, reason in hidden_related_columns(plan, ctx.caller)}
        self.col = self.records.collection(entity)
        self.links = self.records.link_filter(entity, ctx)  # what related columns may find (None: anything)
        # Rows whose cells all convert skip the REST body and the schema (entities.transfer.converters); the
        # others, and every row of an import that drops invalid values or writes as a restricted caller (both
        # work on the REST body), and every row of one that skips the type rules (the converters check them),
        # take the general path.
        self.fast = None if keep_invalid or self.restricted or not check_rules else row_converter(entity, plan)
        self.queued: list[tuple[ObjectId, dict[str, Any] | Loaded, list[dict[str, Any]]]] = []
        self.queued_keys: set[Any] = set()
        self.flushed: dict[ObjectId, Outcome] = {}  # outcomes of written queued rows, by record id

    def import_row(self, cells: list[str], new_id: ObjectId, retried: bool = False) -> Outcome | None:
        """The row's outcome, or None when its record is queued for ``flush``."""
        if len(cells) != self.plan.width:
            return Outcome(False, [field_error("", "invalid", f"The row has {len(cells)} cells but the file has "
                                                              f"{self.plan.width} columns")])
        if retried and self.col.find_one({"_id": new_id}, {"_id": 1}) is not None:
            return Outcome(True)  # created by the run that died in this batch
        if self.one_at_a_time:
            self.flush()
        errors: list[dict[str, Any]] = []
        key_value = self._key_value(cells, errors)
        current = self._match(key_value)
        if current is None and self.fast is not None and not errors:
            loaded = self.fast.loaded(cells)
            if loaded is not None:
                self._queue(new_id, Loaded(loaded), key_value, errors)
                return None
        body = build_body(self.own, cells, errors)
        for group in self.groups:
            ref = self._link(group, cells, errors)
            if ref is not None:
                put(body, group[0].steps, Linked(ref))
        if errors and not self.keep_invalid:
            return Outcome(False, errors + self._other_errors(body, errors))
        rendered = render_fields(self.entity, current) if current is not None else None
        if rendered is not None and self.merges_groups:
            keep_item_ids(body, rendered)
        body = prune(body, rendered)
        if self.restricted:  # readOnly / none values dropped
            body = writable_body(self.ctx.caller.entity(self.entity), body)  # type: ignore[union-attr]
        if current is not None:
            return self._write(body, current, new_id, errors)
        self._queue(new_id, body, key_value, errors)
        return None

    def _queue(self, new_id: ObjectId, body: dict[str, Any] | Loaded, key_value: Any,
               warnings: list[dict[str, Any]]) -> None:
        self.queued.append((new_id, body, warnings))
        if key_value is not None:
            self.queued_keys.add(_hashable(key_value))

    def flush(self) -> None:
        """Write the queued rows (one ``create_many``); their outcomes go to ``flushed``."""
        queued, self.queued, self.queued_keys = self.queued, [], set()
        if not queued:
            return
        outcomes = self.flushed
        results = self.records.create_many(self.entity, [(oid, body) for oid, body, _ in queued], self.ctx)
        for (oid, body, warnings), result in zip(queued, results, strict=True):
            if isinstance(result, dict):
                outcomes[oid] = Outcome(True, warnings)
            elif isinstance(result, ValidationFailed) and self.keep_invalid:
                assert not isinstance(body, Loaded)  # such imports take the general path (REST bodies)
                outcomes[oid] = self._write(body, None, oid, warnings)  # drops the invalid values and retries
            elif isinstance(result, ValidationFailed):
                outcomes[oid] = Outcome(False, warnings + result.errors)
            else:
                outcomes[oid] = Outcome(False, [*warnings, field_error("", result.code, result.message)])

    def _write(self, body: dict[str, Any], current: dict[str, Any] | None, new_id: ObjectId,
               warnings: list[dict[str, Any]]) -> Outcome:
        for attempt in range(2):
            try:
                if current is None:
                    self.records.create(self.entity, body, self.ctx, record_id=new_id)
                else:
                    self.records.update(self.entity, current["_id"], body, self.ctx, keep=self.keep)
                return Outcome(True, warnings)
            except ValidationFailed as exc:
                dropped = {top_field(e) for e in exc.errors} & set(body)
                if not self.keep_invalid or attempt or not dropped or len(dropped) == len(body):
                    return Outcome(False, warnings + exc.errors)
                warnings = warnings + exc.errors
                body = {k: v for k, v in body.items() if k not in dropped}
            except ApiError as exc:
                return Outcome(False, [*warnings, field_error("", exc.code, exc.message)])
        return Outcome(False, warnings)  # pragma: no cover - the loop always returns

    def _other_errors(self, body: dict[str, Any], errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The validation errors of the row's other values, so one report lists every problem of the row."""
        reported = {top_field(e) for e in errors}
        rest = {k: v for k, v in prune(body).items() if k not in reported}
        try:
            self.records.validated_values(self.entity, rest)
        except ValidationFailed as exc:
            return [e for e in exc.errors if top_field(e) not in reported]
        return []

    def _key_value(self, cells: list[str], errors: list[dict[str, Any]]) -> Any:
        """The stored value of the row's key cell (None without a key column or with an empty cell)."""
        key = self.plan.key
        return None if key is None else _stored_value(key, cells[key.position], errors)

    def _match(self, value: Any) -> dict[str, Any] | None:
        """The record whose key field holds this key value, if any (queued rows are written first when
        one of them holds it, so a later row updates what an earlier row creates)."""
        if value is None:
            return None
        if _hashable(value) in self.queued_keys:
            self.flush()
        assert self.plan.key is not None
        return self.col.find_one({self.plan.key.leaf.name: value})

    def _link(self, group: list[Column], cells: list[str], errors: list[dict[str, Any]]) -> dict[str, str] | None:
        """Find, update or create the related record the group's non-empty cells describe; its reference."""
        prefix = ".".join(s.text for s in group[0].steps)
        target = group[0].target
        assert target is not None
        sub_errors: list[dict[str, Any]] = []
        refused = [c for c in group if c.position in self.hidden_related and cells[c.position].strip()]
        if refused:  # the caller's permissions changed since the upload was checked (``hidden_related_columns``)
            errors.extend(field_error(c.path, "invalid", self.hidden_related[c.position], c.header) for c in refused)
            return None
        columns = [c.sub_column() for c in group]
        body = prune(build_body(columns, cells, sub_errors, skip_empty=True))
        label = self._label_cell(group, cells)
        try:
            if sub_errors:
                raise ValidationFailed(sub_errors)
            if not body:
                return None
            if label:  # the relationship's own column names the record; its related columns update it
                return {"id": str(self._update_labelled(target, label, body))}
            return {"id": str(self._find_or_create(target, columns, body))}
        except ApiError as exc:
            for e in exc.errors or [field_error("", exc.code, exc.message)]:
                errors.append({**e, "field": f"{prefix}.{e['field']}" if e.get("field") else prefix})
            return None

    def _find_or_create(self, target: Entity, columns: list[Column], body: dict[str, Any]) -> ObjectId:
        col = self.records.collection(target)
        scope = self._link_scope(target)
        key = next((c for c in columns if len(c.steps) == 1 and c.leaf.unique and not c.leaf.many
                    and c.leaf.type.target_entity(c.leaf) is None and c.leaf.name in body), None)
        if key is not None:
            value = self.records.validated_values(target, {key.leaf.name: body[key.leaf.name]})[key.leaf.name]
            found = col.find_one(_scoped({key.leaf.name: value}, scope))
            if found is None:
                return self._create_related(target, body)
            return self._update_found(target, found, {k: v for k, v in body.items() if k != key.leaf.name})
        simple = {f.name for f in target.fields if not f.many and not f.is_nested and f.type.target_entity(f) is None}
        if not set(body) <= simple:
            raise ValidationFailed([field_error("", "invalid", f"Give a unique field of '{target.name}' to find "
                                                               "the related record")])
        matches = list(col.find(_scoped(self.records.validated_values(target, body), scope), {"_id": 1}).limit(2))
        if len(matches) > 1:
            raise ValidationFailed([field_error("", "invalid", f"More than one record of '{target.name}' matches")])
        return matches[0]["_id"] if matches else self._create_related(target, body)

    def _label_cell(self, group: list[Column], cells: list[str]) -> str:
        """The text of the relationship's own column (``company``) next to its related ones (``company.type``)."""
        steps = group[0].steps
        own = next((c for c in self.own if c.steps == steps), None)
        return cells[own.position].strip() if own is not None else ""

    def _update_labelled(self, target: Entity, label: str, body: dict[str, Any]) -> ObjectId:
        """The record of ``target`` whose label is ``label`` (as the label column alone finds it), updated with
        the row's related columns: an export with ``company`` and ``company.type`` imports back."""
        found = list(self.records.collection(target).find(_scoped({"label": label}, self._link_scope(target)))
                     .limit(2))
        if not found:
            raise ValidationFailed([field_error("", "invalid", f"No record in '{target.name}' has the label "
                                                               f"'{label}'")])
        if len(found) > 1:
            raise ValidationFailed([field_error("", "invalid", f"More than one record of '{target.name}' has the "
                                                               f"label '{label}'")])
        return self._update_found(target, found[0], body)

    def _update_found(self, target: Entity, found: dict[str, Any], body: dict[str, Any]) -> ObjectId:
        """The related record a row found, updated with the row's other related values when they change it."""
        rest = self._writable(target, body)
        if rest and self._differs(target, found, rest):
            self.records.update(target, found["_id"], rest, self.ctx)
        return found["_id"]

    def _create_related(self, target: Entity, body: dict[str, Any]) -> ObjectId:
        """A new related record for a row whose related columns match none the caller may link. One who may
        never create records of ``target`` is answered as REST answers a link to nothing, before any check of
        the values (a unique one would otherwise tell that a record they cannot access holds it)."""
        if self.restricted and self.ctx.caller.entity(target).create.never:  # type: ignore[union-attr]
            raise ValidationFailed([field_error("", "invalid", f"No record in '{target.name}' matches")])
        return self.records.create(target, self._writable(target, body), self.ctx)["_id"]

    def _writable(self, target: Entity, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` without the values a restricted caller may not write in ``target`` (dropped, as in REST)."""
        if not self.restricted:
            return body
        return writable_body(self.ctx.caller.entity(target), body)  # type: ignore[union-attr]

    def _link_scope(self, target: Entity) -> dict[str, Any] | None:
        """The records of ``target`` this import may find and link (``{}``: any; None: none): a restricted
        caller's related columns only find records they can access, as a relationship written by label does,
        so an import never finds, updates or names a record hidden from them."""
        return {} if self.links is None else self.links(target.name)

    def _differs(self, target: Entity, doc: dict[str, Any], body: dict[str, Any]) -> bool:
        stored = self.records.validated_values(target, body)
        return any(doc.get(k) != v for k, v in stored.items())


def _scoped(query: dict[str, Any], scope: dict[str, Any] | None) -> dict[str, Any]:
    """``query`` limited to ``scope`` (see ``RowImporter._link_scope``); matching nothing when it is None."""
    if scope is None:
        return {"_id": {"$in": []}}
    return {"$and": [query, scope]} if scope else query


def _stored_value(column: Column, text: str, errors: list[dict[str, Any]]) -> Any:
    f = column.leaf
    try:
        value = parse_cell(f, text)
        return None if value is None else f.type.load(value, f)
    except FieldInvalid as exc:
        errors.append(field_error(column.path, exc.code, exc.message, column.header, rejected=text))
        return None


def _hashable(value: Any) -> Any:
    """A set member standing for ``value`` (its repr when it is a list or dict)."""
    return repr(value) if isinstance(value, dict | list) else value


def _blank(cells: list[str]) -> bool:
    return not any(map(str.strip, cells))


# --- the job -----------------------------------------------------------------------------------------


@dataclass
class _Progress:
    row: int = 1  # the last row done (the header is row 1)
    imported: int = 0
    errors: int = 0
    logged: int = 0

    def checkpoint(self) -> dict[str, int]:
        return {"row": self.row, "imported": self.imported, "errors": self.errors, "logged": self.logged}


def run_import_job(jctx: runners.JobContext) -> dict[str, Any]:
    svc = jctx.services
    data = jctx.data
    entity = svc.registry.get(data["entityName"])
    files = FileStore(svc.store)
    file_id = ObjectId(data["fileId"])
    if files.get(file_id) is None:
        raise LookupError("The uploaded file no longer exists")
    progress = _Progress(**(jctx.checkpoint or {}))
    try:
        _import_file(jctx, entity, files, file_id, progress)
    except runners.JobInterrupted:
        raise  # stopped: the file is read again on resume
    except Exception:
        files.delete(file_id)  # a failed job is finished and cannot be resumed
        raise
    files.delete(file_id)
    jctx.log("INFO", f"{progress.imported} rows imported, {progress.errors} rows with errors")
    return {"rowsImported": progress.imported, "rowsWithErrors": progress.errors}


def _import_file(jctx: runners.JobContext, entity: Entity, files: FileStore, file_id: ObjectId,
                 progress: _Progress) -> None:
    svc = jctx.services
    options = jctx.data.get("options") or {}
    planned = _planned_ids(jctx.interrupted_batch)
    with stored_csv(files, file_id) as rows:
        plan = plan_import(svc.registry, entity, next(rows))
        if jctx.checkpoint is None and not planned:
            _log_plan(jctx, plan, options)
            jctx.set_total(int(jctx.data.get("rows") or 0))
        wctx = job_context(svc.permissions, jctx.write_context(f"entities.{entity.name}.import"))
        wctx.trigger_events = options.get("triggerEvents") is not False  # false: no listeners fire
        # false: the rows' label and copied-field changes stay out of the records that point at theirs
        wctx.cascade = options.get("updateRelationships") is not False and options.get("cascadeOperations") is not False
        wctx.set_defaults = options.get("setDefaultValues") is not False  # false: created records get no defaults
        importer = RowImporter(svc, entity, plan, wctx,
                               keep_invalid=options.get("skipRecordsWithInvalidFields") is False,
                               check_rules=options.get("performValidations") is not False)
        batch: list[tuple[int, list[str]]] = []
        for row_number, cells in enumerate(rows, start=2):
            if row_number <= progress.row or _blank(cells):
                continue
            batch.append((row_number, cells))
            if len(batch) >= jctx.transfer_batch_size:
                _run_batch(jctx, importer, batch, planned, progress)
                batch = []
        if batch:
            _run_batch(jctx, importer, batch, planned, progress)


def _run_batch(jctx: runners.JobContext, importer: RowImporter, batch: list[tuple[int, list[str]]],
               planned: dict[int, ObjectId], progress: _Progress) -> None:
    ids = {row: planned.get(row) or ObjectId() for row, _ in batch}
    jctx.begin_batch([f"{row}:{oid}" for row, oid in ids.items()])
    done: dict[int, Outcome | None] = {}
    # paused: see core.collector (a batch's objects are freed by reference counting)
    with collector.paused(), type_rules(importer.check_rules):
        try:
            for row, cells in batch:
                jctx.check_cancelled()
                done[row] = importer.import_row(cells, ids[row], retried=row in planned)
        finally:  # also when force-stopped: the rows read so far are written, as one-by-one writes would have been
            importer.flush()
    outcomes: dict[str, dict[str, Any]] = {}
    failed = 0
    for row, _ in batch:
        outcome = done[row]
        if outcome is None:  # queued, then written by flush
            outcome = importer.flushed.pop(ids[row])
        if outcome.ok:
            progress.imported += 1
        else:
            progress.errors += 1
            failed += 1
        if outcome.errors:
            message = error_message(outcome.errors)
            status = "ok" if outcome.ok else "error"
            outcomes[str(row)] = {"status": status, "row": row, "errorMessage": message, "errors": outcome.errors}
            if progress.logged < MAX_LOGGED_ROW_ERRORS:
                progress.logged += 1
                if outcome.ok:
                    jctx.log("WARN", f"Row {row} imported without its invalid values: {message}")
                else:
                    jctx.log("ERROR", f"Row {row} not imported: {message}")
    progress.row = batch[-1][0]
    jctx.save_checkpoint(progress.checkpoint(), processed_delta=len(batch), record_results=outcomes, errors=failed)


def _planned_ids(in_flight: list[str] | None) -> dict[int, ObjectId]:
    out: dict[int, ObjectId] = {}
    for key in in_flight or []:
        row, _, oid = key.partition(":")
        if row.isdigit() and ObjectId.is_valid(oid):
            out[int(row)] = ObjectId(oid)
    return out


def _log_plan(jctx: runners.JobContext, plan: ImportPlan, options: dict[str, Any]) -> None:
    if plan.key is not None:
        jctx.log("INFO", f"Rows whose '{plan.key.header}' matches a record update it; the others create records")
    if plan.ignored:
        names = ", ".join(f"'{c.header}'" for c in plan.ignored)
        jctx.log("WARN", f"Columns of read-only, calculated or file fields are not imported: {names}")
    inert = sorted(k for k, v in options.items() if k in INERT_OPTIONS and v is not INERT_OPTIONS[k])
    if inert:
        jctx.log("INFO", f"Options with nothing to change in this runtime: {', '.join(inert)}")


# Options the platform documents that change nothing here; they are accepted and noted in the job log.
# Calculated fields are always computed (the rows are written as the REST API writes them); access rules and
# security checks do not restrict developers, the only callers who may set them; transient fields do not
# exist in this runtime.
INERT_OPTIONS = {"updateCalculatedFields": True, "filterByAccessRules": True, "performSecurityChecks": True,
                 "supportTransientFields": True}
# Options that change what the import does (beyond INERT_OPTIONS); developers only like them.
EFFECTIVE_OPTIONS = {"triggerEvents": True, "updateRelationships": True, "cascadeOperations": True,
                     "setDefaultValues": True, "performValidations": True}
