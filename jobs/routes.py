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
@errors(blp, 401)
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


@blp.route("/status/jobs/<job_id>/<operation>", methods=["PUT"])
@blp.response(200, Job)
@errors(blp, 401, 403, 404)
def act_on_job(job_id: str, operation: str):
    """``operation`` is stop, resume, forceStop, cancel or kill."""
    jobs = services().jobs
    action = {"stop": jobs.stop, "resume": jobs.resume, "forceStop": jobs.force_stop, "cancel": jobs.cancel,
              "kill": jobs.kill}
    if operation not in action:
        raise NotFound(f"Unknown job operation '{operation}': use {', '.join(action)}")
    return jsonify(render(action[operation](job_id, g.user)))
