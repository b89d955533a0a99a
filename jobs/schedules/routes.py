"""``/schedules``: list, create, read, update, delete, pause, resume and run now (developers only)."""

from __future__ import annotations

from typing import Any

from flask import g
from marshmallow import RAISE, Schema, fields, validate

from core.api import Blueprint, JobLink, errors, page_of
from core.identity import require_developer
from core.services import services
from jobs.schedules.service import render

DEVELOPERS_ONLY = "Only developers can manage schedules"

blp = Blueprint("schedules", __name__, description="Scheduled jobs (cron)")


class ActionSpecSchema(Schema):
    class Meta:
        unknown = RAISE

    entity = fields.String(required=True, validate=validate.Length(min=1))
    action = fields.String(required=True, validate=validate.Length(min=1))
    query = fields.Dict(keys=fields.String(), load_default=dict)
    params = fields.Dict(keys=fields.String(), load_default=dict)


class ScheduleSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    cron = fields.String(required=True)
    timezone = fields.String(load_default="UTC")
    handler = fields.String(allow_none=True)
    action = fields.Nested(ActionSpecSchema, allow_none=True)
    enabled = fields.Boolean(load_default=True)


class ScheduleUpdateSchema(ScheduleSchema):
    """PUT: the fields given replace the stored ones (a whole schedule, or just e.g. ``{"cron": ...}``)."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    cron = fields.String()
    timezone = fields.String()
    enabled = fields.Boolean()


class ScheduleOutSchema(Schema):
    id = fields.String()
    name = fields.String()
    cron = fields.String()
    timezone = fields.String()
    handler = fields.String(allow_none=True)
    action = fields.Dict(allow_none=True)
    enabled = fields.Boolean()
    lastRunAt = fields.Integer(allow_none=True)
    nextRunAt = fields.Integer(allow_none=True)
    lastJobId = fields.String(allow_none=True)
    createDate = fields.Integer(allow_none=True)


class ScheduleListArgs(Schema):
    _size = fields.Integer(load_default=20, validate=validate.Range(min=0, max=1000), data_key="_size")
    _offset = fields.String(load_default=None, data_key="_offset")
    enabled = fields.Boolean(load_default=None, allow_none=True)


ScheduleListSchema = page_of(ScheduleOutSchema, "ScheduleListSchema")


@blp.route("/schedules", methods=["GET"])
@blp.arguments(ScheduleListArgs, location="query")
@blp.response(200, ScheduleListSchema)
@errors(blp, 400, 401, 403)
def list_schedules(args: dict[str, Any]):
    require_developer(DEVELOPERS_ONLY)
    return services().schedules.list(args["_size"], args["_offset"] or None, args["enabled"])


@blp.route("/schedules", methods=["POST"])
@blp.arguments(ScheduleSchema, location="body")
@blp.response(200, ScheduleOutSchema)
@errors(blp, 400, 401, 403)
def create_schedule(body: dict[str, Any]):
    require_developer(DEVELOPERS_ONLY)
    svc = services().schedules
    doc = svc.create(body, g.user)
    _ensure_clock()
    return render(doc)


@blp.route("/schedules/<schedule_id>", methods=["GET"])
@blp.response(200, ScheduleOutSchema)
@errors(blp, 401, 403, 404)
def get_schedule(schedule_id: str):
    require_developer(DEVELOPERS_ONLY)
    return render(services().schedules.get(schedule_id))


@blp.route("/schedules/<schedule_id>", methods=["PUT"])
@blp.arguments(ScheduleUpdateSchema, location="body")
@blp.response(200, ScheduleOutSchema)
@errors(blp, 400, 401, 403, 404)
def update_schedule(body: dict[str, Any], schedule_id: str):
    require_developer(DEVELOPERS_ONLY)
    doc = services().schedules.update(schedule_id, body)
    _ensure_clock()
    return render(doc)


@blp.route("/schedules/<schedule_id>", methods=["DELETE"])
@blp.response(200, ScheduleOutSchema)
@errors(blp, 401, 403, 404)
def delete_schedule(schedule_id: str):
    require_developer(DEVELOPERS_ONLY)
    return render(services().schedules.delete(schedule_id))


@blp.route("/schedules/<schedule_id>/pause", methods=["PUT"])
@blp.response(200, ScheduleOutSchema)
@errors(blp, 401, 403, 404)
def pause_schedule(schedule_id: str):
    require_developer(DEVELOPERS_ONLY)
    return render(services().schedules.set_enabled(schedule_id, False))


@blp.route("/schedules/<schedule_id>/resume", methods=["PUT"])
@blp.response(200, ScheduleOutSchema)
@errors(blp, 401, 403, 404)
def resume_schedule(schedule_id: str):
    require_developer(DEVELOPERS_ONLY)
    doc = services().schedules.set_enabled(schedule_id, True)
    _ensure_clock()
    return render(doc)


@blp.route("/schedules/<schedule_id>/run", methods=["POST"])
@blp.response(200, JobLink)
@errors(blp, 401, 403, 404)
def run_schedule(schedule_id: str):
    require_developer(DEVELOPERS_ONLY)
    svc = services()
    job = svc.schedules.run_now(schedule_id, g.user)
    return svc.jobs.job_link(job)


def _ensure_clock() -> None:
    """Without Redis the web process is its own clock: start it once a schedule may be due."""
    clock = services().clock
    if clock is not None:
        clock.start()
