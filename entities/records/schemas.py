"""Query parameters, bodies and answers of ``/data/{entity}`` (the OpenAPI document and request parsing).

Per-entity field filters (``?name=like(x)``) cannot be declared: they pass through (``unknown = INCLUDE``)
and the query parser reads them from the query string.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from core.api import AnyBody, Flag, JobLink, QuerySchema, Record


class ReadQuery(QuerySchema):
    _fields = ma.fields.String(metadata={"description": "Comma-separated field paths to return"})
    _format = ma.fields.String(validate=ma.validate.OneOf(["native", "plainText"]))
    _formatForUser = ma.fields.String(metadata={"description": "With _format=plainText: the user (id or email) whose "
                                                "timezone date-times are written in (default: the caller's)"})
    _relationshipsToFetch = ma.fields.String(metadata={"description": "Relationship fields whose records to embed"})


class ListQuery(ReadQuery):
    _size = ma.fields.Integer(validate=ma.validate.Range(min=0), metadata={"description": "Page size (default 20)"})
    _offset = ma.fields.String(metadata={"description": "The previous page's offset, or a number of records to skip"})
    _sortField = ma.fields.String()
    _sortType = ma.fields.String(metadata={"description": "asc or desc"})
    _query = ma.fields.String(metadata={"description": "A complex filter expression, or a JSON query map"})
    _globalSearch = ma.fields.String()


class DeleteOptions(QuerySchema):
    _async = Flag(metadata={"description": "Delete in a background job"})
    _lowPriority = Flag()
    _triggerEvents = Flag(metadata={"description": "false: no listener fires for these deletes (default true)"})
    _cascadeOperations = Flag(metadata={"description": "false: the delete policies of the relationships that "
                                                       "point at the records are not applied (default true)"})


class DeleteIdsQuery(DeleteOptions):
    """A delete of ids also takes ``async`` for ``_async`` (the name the platform's text uses for it). Only here:
    over a query, ``async`` would be a field filter."""

    async_ = Flag(data_key="async", metadata={"description": "Same as `_async` (if both are given they must agree)"})

    @ma.post_load
    def _alias(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        alias = data.pop("async_", None)
        if alias is not None and data.get("_async", alias) != alias:
            raise ma.ValidationError("async and _async disagree: give one of them, or the same value", "async")
        if alias is not None:
            data["_async"] = alias
        return data


class DeleteQuery(ListQuery, DeleteOptions):
    """A delete over a query: the list parameters and field filters select the records."""


class ActionIdsQuery(QuerySchema):
    _async = Flag(metadata={"description": "Run the action in a background job (default: the action's own)"})
    _lowPriority = Flag()


class ActionQuery(ListQuery, ActionIdsQuery):
    """An action over a query: the list parameters and field filters select the records."""


class RecordBody(AnyBody):
    """The record's fields by name (an update may also carry ``version`` for optimistic locking)."""

    version = ma.fields.Integer()


class UpdateBody(RecordBody):
    empty = {}


def record_outcomes() -> dict[str, Any]:
    """The answer of a delete or an action over several records (or a query): each record id mapped to its
    outcome, ``{status: ok, response}`` or ``{status: error, errorMessage}`` (``entities.actions.service.outcome``,
    ``entities.records.bulk.delete_each``)."""
    return {"type": "object", "description": "record id → outcome: `{status: ok, response}` (the deleted or updated "
                                             "record, or an action's own answer) or `{status: error, errorMessage}`",
            "additionalProperties": {"type": "object", "required": ["status"], "properties": {
                "status": {"type": "string", "enum": ["ok", "error"]}, "response": {},
                "errorMessage": {"type": "string"}}}}


OUTCOMES = {"$ref": "#/components/schemas/RecordOutcomes"}  # record_outcomes(), a shared schema of the document


# The 200 answers of the generic routes (flask-smorest resolves the marshmallow classes to their components). Each
# is a new dict: apispec rewrites the one it is given.
def deleted_by_ids() -> dict[str, Any]:
    return {"anyOf": [Record, dict(OUTCOMES), JobLink]}


def deleted_by_query() -> dict[str, Any]:
    return {"anyOf": [dict(OUTCOMES), JobLink]}


def updated_or_action_answer() -> dict[str, Any]:
    return {"anyOf": [Record, dict(OUTCOMES), JobLink, {
        "description": "the own answer of a customResponse, manyRecords or global action: any JSON value"}]}
