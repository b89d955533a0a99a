"""``/status/jobs``: list, read, logs, stop, resume, forceStop, cancel, kill."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify

from core.api import Blueprint, errors
from core.errors import NotFound
from core.services import services
from jobs.model import render
from jobs.schemas import Job, JobListQuery, JobLogPage, JobLogsQuery, JobPage
from jobs.service import ListFilters

blp = Blueprint("jobs", __name__, description="Background jobs")
_RANGES = {"startDate": ("startFrom", "startTo"), "endDate": ("endFrom", "endTo"),
           "createDate": ("createFrom", "createTo")}


@blp.route("/status/jobs", methods=["GET"])
@blp.arguments(JobListQuery, location="query")
@blp.response(200, JobPage)
@errors(blp, 400, 401, 403)
def list_jobs(query: dict[str, Any]):
    filters = ListFilters(types=query.get("type"), statuses=query.get("status"), has_errors=query.get("hasErrors"),
                          ranges={f: (query.get(lo), query.get(hi)) for f, (lo, hi) in _RANGES.items()})
    return jsonify(services().jobs.list(filters, g.user, query["_size"], query.get("_offset") or None))


@blp.route("/status/jobs/<job_id>", methods=["GET"])
@blp.response(200, Job)
@errors(blp, 401, 403, 404)
def get_job(job_id: str):
    return jsonify(render(services().jobs.get(job_id, g.user)))


@blp.route("/status/jobs/<job_id>/logs", methods=["GET"])
@blp.arguments(JobLogsQuery, location="query")
@blp.response(200, JobLogPage)
@errors(blp, 401, 403, 404)
def job_logs(query: dict[str, Any], job_id: str):
    return _logs(query, job_id)


def _logs(query: dict[str, Any], job_id: str):
    jobs = services().jobs
    doc = jobs.get(job_id, g.user)
    page = jobs.logs.query(doc["_id"], query.get("period") or None, query.get("time_from"), query.get("time_to"),
                           query.get("level"), query.get("message") or None, query["_size"],
                           query.get("_offset") or None)
    return jsonify(page)


@blp.route("/status/job/<job_id>/logs", methods=["GET"])
@blp.arguments(JobLogsQuery, location="query")
@blp.response(200, JobLogPage)
@errors(blp, 401, 403, 404)
def job_logs_singular(query: dict[str, Any], job_id: str):
    """The path of the reference's own sample (``/status/job/{id}/logs``): the same as ``/status/jobs/...``."""
    return _logs(query, job_id)


# operation in the path → the JobService method
_OPERATIONS = {"stop": "stop", "resume": "resume", "forceStop": "force_stop", "cancel": "cancel", "kill": "kill"}
_OPERATION_DOC = {
    "in": "path", "name": "operation", "required": True, "schema": {"type": "string", "enum": list(_OPERATIONS)},
    "description": "stop: RUNNING → STOPPING → STOPPED at the next checkpoint, PENDING → STOPPED; "
                   "resume: STOPPED → RUNNING (PENDING if it never started); forceStop: STOPPING → STOPPED now; "
                   "cancel: STOPPED → CANCELED; kill: any job that has not ended → FINISHED now. "
                   "stop, resume, forceStop and cancel take root jobs only (and carry to their descendants); "
                   "kill takes any job. Another operation is a 404"}


@blp.route("/status/jobs/<job_id>/<operation>", methods=["PUT"], parameters=[_OPERATION_DOC])
@blp.response(200, Job)
@errors(blp, 400, 401, 403, 404)
def act_on_job(job_id: str, operation: str):
    """Stop, resume, force-stop, cancel or kill a job.

    400 when the job's status does not allow the operation (``jobStatus`` gives it), or when it is a child job
    and the operation takes root jobs only."""
    if operation not in _OPERATIONS:
        raise NotFound(f"Unknown job operation '{operation}': use {', '.join(_OPERATIONS)}")
    return jsonify(render(getattr(services().jobs, _OPERATIONS[operation])(job_id, g.user)))
