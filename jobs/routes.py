"""``/status/jobs``: list, read, logs, stop, resume, forceStop, cancel."""

from __future__ import annotations

from flask import g, jsonify, request
from flask_smorest import Blueprint

from core.errors import BadRequest, NotFound
from core.http import flag, int_arg
from core.services import services
from jobs.model import parse_job_id, render
from jobs.service import ListFilters

blp = Blueprint("jobs", __name__, description="Background jobs")
_RANGES = {"startDate": ("startFrom", "startTo"), "endDate": ("endFrom", "endTo"),
           "createDate": ("createFrom", "createTo")}


def _csv(name: str) -> list[str] | None:
    raw = request.args.get(name)
    values = [v.strip() for v in raw.split(",") if v.strip()] if raw else []
    return values or None


def _millis(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Parameter {name} must be a date in milliseconds since epoch") from None


@blp.route("/status/jobs", methods=["GET"])
def list_jobs():
    has_errors = flag("hasErrors") if request.args.get("hasErrors") not in (None, "") else None
    filters = ListFilters(types=_csv("type"), statuses=_csv("status"), has_errors=has_errors,
                          ranges={f: (_millis(lo), _millis(hi)) for f, (lo, hi) in _RANGES.items()})
    size = int_arg("_size", 20, 0, 1000)
    return jsonify(services().jobs.list(filters, g.user, size, request.args.get("_offset") or None))


@blp.route("/status/jobs/<job_id>", methods=["GET"])
def get_job(job_id: str):
    return jsonify(render(services().jobs.get(job_id, g.user)))


@blp.route("/status/jobs/<job_id>/logs", methods=["GET"])
def job_logs(job_id: str):
    jobs = services().jobs
    doc = jobs.get(job_id, g.user)
    after = request.args.get("_offset") or None
    cursor = parse_job_id(after) if after else None
    if after and cursor is None:
        raise BadRequest("_offset must be a log id from a previous page")
    page = jobs.logs.query(doc["_id"], request.args.get("period") or None, _millis("from"), _millis("to"),
                           _csv("level"), request.args.get("message") or None, int_arg("_size", 200, 0, 1000),
                           cursor)
    return jsonify(page)


@blp.route("/status/job/<job_id>/logs", methods=["GET"])
def job_logs_singular(job_id: str):
    """The path of the reference's own sample (``/status/job/{id}/logs``): the same as ``/status/jobs/...``."""
    return job_logs(job_id)


@blp.route("/status/jobs/<job_id>/<operation>", methods=["PUT"])
def act_on_job(job_id: str, operation: str):
    jobs = services().jobs
    action = {"stop": jobs.stop, "resume": jobs.resume, "forceStop": jobs.force_stop, "cancel": jobs.cancel}
    if operation not in action:
        raise NotFound(f"Unknown job operation '{operation}': use stop, resume, forceStop or cancel")
    return jsonify(render(action[operation](job_id, g.user)))
