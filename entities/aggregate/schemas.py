"""The body and answer of ``PUT /data/{entity}/aggregate``."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from core.api import AnyBody
from entities.aggregate.parse import parse_body


class Stage(AnyBody):
    """One stage object: ``{"match": {...}}``, ``{"group": {...}}``, ``{"sort": {...}}``, ``{"project": ...}``,
    ``{"count": "name"}``, ``{"skip": n}``, ``{"limit": n}``, ``{"unwind": ...}``, ``{"lookup": {...}}``.
    The body is a list of stages (a single object, or objects separated by commas, are accepted too)."""

    match = ma.fields.Dict()
    group = ma.fields.Dict()
    sort = ma.fields.Dict()
    project = ma.fields.Raw()
    count = ma.fields.String()
    skip = ma.fields.Integer()
    limit = ma.fields.Integer()
    unwind = ma.fields.Raw()
    lookup = ma.fields.Dict()

    def load(self, data: Any, **_: Any) -> Any:  # type: ignore[override]
        return parse_body(data)


class AggregateResult(ma.Schema):
    items = ma.fields.List(ma.fields.Dict(), metadata={"description": "One object per output document"})
