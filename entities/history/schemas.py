"""Query parameters and answers of the history routes."""

from __future__ import annotations

import marshmallow as ma

from core.api import QuerySchema
from core.periods import MAX_MILLIS


class RecordHistoryQuery(QuerySchema):
    _size = ma.fields.Integer(load_default=20, validate=ma.validate.Range(0, 1000))
    _offset = ma.fields.String(metadata={"description": "The previous page's offset"})


class EntityHistoryQuery(RecordHistoryQuery):
    eventTypes = ma.fields.String(metadata={
        "description": "Comma-separated: USER_RECORD_CREATED, USER_RECORD_CHANGED, ... (none: every type)"})
    eventType = ma.fields.String(metadata={"description": "Same as eventTypes"})
    # ``from``/``to`` are Python keywords: declared under another name, read from the query string as is
    time_from = ma.fields.Integer(data_key="from", validate=ma.validate.Range(min=0, max=MAX_MILLIS),
                                  metadata={"description": "Milliseconds since epoch (up to the year 9999)"})
    time_to = ma.fields.Integer(data_key="to", validate=ma.validate.Range(min=0, max=MAX_MILLIS),
                                metadata={"description": "Milliseconds since epoch (up to the year 9999)"})


class HistoryPage(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    total = ma.fields.Integer()
    offset = ma.fields.String(allow_none=True)
    items = ma.fields.List(ma.fields.Dict())
