"""``POST /data/{entity}/import`` (multipart ``file``) and ``PUT /data/{entity}/export?<query>``: both answer
with a job reference; the work happens in an ``IMPORT_RECORDS`` / ``EXPORT_RECORDS`` job."""

from __future__ import annotations

import shutil
import tempfile
from typing import IO, Any

from flask import g, jsonify, request

from core.api import Blueprint, JobLink, errors, parser
from core.errors import BadRequest, Forbidden, field_error
from core.services import services
from entities.permissions.enforce import check_paths, forbidden, policy, query_paths, request_caller
from entities.transfer.exporter import MAX_EXPORT, count_matches, plan_export
from entities.transfer.importer import hidden_related_columns, scan_upload
from entities.transfer.schemas import IMPORT_OPTIONS, ExportQuery, ImportOptions, ImportUpload
from files.storage import FileStore

blp = Blueprint("transfer", __name__, description="Import and export of records as CSV files")

DEVELOPER_OPTIONS = frozenset(IMPORT_OPTIONS) - {"lowPriority"}
SPOOL_MEMORY = 1024 * 1024


def _import_max_bytes() -> int:
    return services().config.import_max_bytes


@blp.route("/data/<entity_name>/import", methods=["POST"])
@blp.arguments(ImportOptions, location="query")
@blp.arguments(ImportUpload, location="upload")
@blp.response(200, JobLink)
@errors(blp, 400, 401, 403, 404, 413)
def import_records(query: dict[str, Any], _upload_doc: Any, entity_name: str):
    """Import a CSV file (multipart part ``file``, or a ``text/csv`` body) in a background job."""
    svc = services()
    entity = svc.registry.get(entity_name)
    if not policy(entity).can_import:
        raise forbidden("import")
    request.max_content_length = _import_max_bytes()
    options = _import_options(query)
    name, upload = _upload()
    with upload:
        plan, rows = scan_upload(svc.registry, entity, upload)
        hidden = hidden_related_columns(plan, request_caller())
        if hidden:
            raise BadRequest("The file has columns that cannot be imported",
                             errors=[field_error(c.header, "invalid", reason) for c, reason in hidden])
        upload.seek(0)
        files = FileStore(svc.store)
        stored = files.put(upload, name, "text/csv", {"ownerId": str(g.user["_id"]), "importInto": entity.name})
    chosen = {k: v for k, v in options.items() if v != IMPORT_OPTIONS[k]}
    data = {"entityName": entity.name, "fileName": name, "fileId": str(stored["_id"]), "rows": rows,
            "options": chosen}
    job = svc.jobs.submit("IMPORT_RECORDS", f"Importing records into entity {entity.name}", data, g.user,
                      low_priority=options["lowPriority"])
    files.update_metadata(stored["_id"], {"jobId": str(job["_id"])})
    return jsonify(svc.jobs.job_link(job))


@blp.route("/data/<entity_name>/export", methods=["PUT"])
@blp.arguments(ExportQuery, location="query")
@blp.response(200, JobLink)
@errors(blp, 400, 401, 403, 404)
def export_records(query: dict[str, Any], entity_name: str):
    """Export the records the query matches (``_fields`` picks the columns) to a CSV file, in a background job."""
    svc = services()
    entity = svc.registry.get(entity_name)
    p = policy(entity)
    if not p.can_export:
        raise forbidden("export")
    check_paths(p, query_paths(request.args), "export")  # a hidden field in the query
    q, _ = plan_export(svc.registry, entity, request.args, p)
    use_names = bool(query.get("_useFieldNames"))
    if count_matches(svc.records.collection(entity), q) > MAX_EXPORT:
        raise BadRequest(f"The query matches more than {MAX_EXPORT:,} records: narrow it to export them")
    data = {"entityName": entity.name, "query": request.args.to_dict(flat=False), "useFieldNames": use_names,
            "baseUrl": request.url_root.rstrip("/")}
    job = svc.jobs.submit("EXPORT_RECORDS", f"Exporting records of entity {entity.name}", data, g.user,
                          low_priority=bool(query.get("_lowPriority")))
    return jsonify(svc.jobs.job_link(job))


def _import_options(query: dict[str, Any]) -> dict[str, Any]:
    """The options from the query string (first) or the form fields; a developer-only one from a user is a 403."""
    form = parser.parse(ImportOptions, request, location="form") if request.form else {}
    options = dict(IMPORT_OPTIONS)
    for name, default in IMPORT_OPTIONS.items():
        value = query.get(name, form.get(name))
        if value is None:
            continue
        if name in DEVELOPER_OPTIONS and value != default and not g.user.get("developer"):
            raise Forbidden(f"Only developers can set {name}")
        options[name] = value
    return options


def _upload() -> tuple[str, IO[bytes]]:
    """The CSV as a seekable file: the multipart part ``file`` (the platform's way) or a raw text/csv body."""
    mimetype = request.mimetype or ""
    if mimetype.startswith("multipart/form-data"):
        part = request.files.get("file")
        if part is None:
            raise BadRequest("Send the CSV file in a multipart part named 'file'")
        stream = part.stream
        return part.filename or "import.csv", stream if stream.seekable() else _spooled(stream)
    if mimetype in ("text/csv", "text/plain", "application/csv") and request.content_length != 0:
        return "import.csv", _spooled(request.stream)
    raise BadRequest("Send the CSV file as multipart/form-data in a part named 'file'")


def _spooled(stream: IO[bytes]) -> IO[bytes]:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, mode="w+b")  # noqa: SIM115 (the caller closes it)
    shutil.copyfileobj(stream, spool, 64 * 1024)
    spool.seek(0)
    return spool  # type: ignore[return-value]
