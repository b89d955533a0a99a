"""Parameters and bodies of ``/status/logs`` (the values themselves are checked by ``parse_log_query`` and
``_log_body``, whose errors name each parameter)."""

from __future__ import annotations

import marshmallow as ma

from core.api import AnyBody, QuerySchema, page_of
from core.periods import PERIOD_HELP


class LogQuery(QuerySchema):
    period = ma.fields.String(metadata={"description": PERIOD_HELP})
    time_from = ma.fields.String(data_key="from", metadata={"description": "Milliseconds since epoch"})
    time_to = ma.fields.String(data_key="to", metadata={"description": "Milliseconds since epoch"})
    level = ma.fields.String(metadata={"description": "Comma list of INFO, WARN, ERROR"})
    message = ma.fields.String(metadata={"description": "Text the message contains (at most 500 characters)"})
    userEmail = ma.fields.String()
    _size = ma.fields.String(metadata={"description": "Integer between 0 and 1000 (default 200)"})
    _offset = ma.fields.String(metadata={"description": "A log id from a previous page, or a number to skip"})
    _sortType = ma.fields.String(metadata={"description": "asc (default) or desc"})


class LogBody(AnyBody):
    object_only = True
    level = ma.fields.String(metadata={"description": "INFO (default), WARN or ERROR"})
    message = ma.fields.String(required=True)
    additionalInfo = ma.fields.Dict()


class Log(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    id = ma.fields.String()
    timestamp = ma.fields.Integer()
    level = ma.fields.String()
    message = ma.fields.String()
    type = ma.fields.String()
    additionalInfo = ma.fields.Dict(allow_none=True)


LogPage = page_of(Log, "LogPage")
