"""Query parameters and answers of ``/status/jobs``."""

from __future__ import annotations

import marshmallow as ma

from core.api import Flag, QuerySchema, page_of
from core.periods import PERIOD_HELP
from jobs.logs import LEVELS
from jobs.model import STATUSES


class PriorityQuery(QuerySchema):
    """What a route that may start a job reads: ``_lowPriority`` queues the job behind the others."""

    _lowPriority = Flag(load_default=False)


def _csv(text: str) -> list[str] | None:
    values = [v.strip() for v in text.split(",") if v.strip()]
    return values or None


class CommaList(ma.fields.String):
    """``a,b,c`` → ``["a", "b", "c"]`` (blank items dropped; none left is absent)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        return _csv(super()._deserialize(value, attr, data, **kwargs))


def _millis(name: str) -> ma.fields.Integer:
    return ma.fields.Integer(data_key=name, metadata={"description": "Milliseconds since epoch"},
                             error_messages={"invalid": "must be a date in milliseconds since epoch"})


class JobListQuery(QuerySchema):
    type = CommaList(metadata={"description": "Comma list of job types (any case), e.g. DELETE_RECORDS"})
    status = CommaList(metadata={"description": f"Comma list of {', '.join(STATUSES)} (any case)"})
    hasErrors = Flag()
    startFrom = _millis("startFrom")
    startTo = _millis("startTo")
    endFrom = _millis("endFrom")
    endTo = _millis("endTo")
    createFrom = _millis("createFrom")
    createTo = _millis("createTo")
    _size = ma.fields.Integer(load_default=20, validate=ma.validate.Range(0, 1000))
    _offset = ma.fields.String(metadata={"description": "The previous page's offset, or a number of jobs to skip"})


class JobLogsQuery(QuerySchema):
    period = ma.fields.String(metadata={"description": PERIOD_HELP})
    time_from = _millis("from")
    time_to = _millis("to")
    level = CommaList(metadata={"description": f"Comma list of {', '.join(LEVELS)} (any case)"})
    message = ma.fields.String(validate=ma.validate.Length(max=500, error="must be at most {max} characters"),
                               metadata={"description": "Text the message contains, any case (at most 500 "
                                                        "characters)"})
    _size = ma.fields.Integer(load_default=200, validate=ma.validate.Range(0, 1000))
    _offset = ma.fields.String(metadata={"description": "The id of the last log of the previous page, or a number "
                                                        "of logs to skip"})


class Job(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    id = ma.fields.String()
    type = ma.fields.String()
    status = ma.fields.String()
    progress = ma.fields.Integer()
    hasErrors = ma.fields.Boolean()


JobPage = page_of(Job, "JobPage")


class JobLogPage(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    total = ma.fields.Integer()
    offset = ma.fields.String(allow_none=True)
    items = ma.fields.List(ma.fields.Dict())
