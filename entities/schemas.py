"""The entity definition format as marshmallow schemas: strict at the top level of a definition and of a
field (an unknown key is an error), free inside ``typeRules``, ``history``, ``actions`` and ``listeners``
(their own checks, and other packages, own those). Every value must also be JSON-safe: no integer beyond
64 bits, no non-finite number, no lone surrogate, no ``$``-prefixed or dotted key.

``DefinitionSchema.load`` validates; ``definition_errors`` gives the errors in core.errors' shape.
"""

from __future__ import annotations

import math
from typing import Any

import marshmallow as ma

from core.api import AnyBody, Flag, QuerySchema
from core.errors import field_errors

INT64 = (-(2**63), 2**63 - 1)


class FieldDefinitionSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    id = ma.fields.String(metadata={"description": "Stable id of the field, kept across renames"})
    name = ma.fields.Raw(required=True, metadata={"description": "Letters and digits, starting with a letter"})
    label = ma.fields.Raw()
    description = ma.fields.Raw()
    type = ma.fields.Raw(required=True, metadata={"description": "text, integer, relationship, nestedFields, ..."})
    multiplicity = ma.fields.Raw(metadata={"description": "one or many"})
    required = ma.fields.Raw()
    unique = ma.fields.Raw()
    indexable = ma.fields.Raw()
    defaultValue = ma.fields.Raw(allow_none=True)
    typeRules = ma.fields.Dict(allow_none=True, metadata={"description": "Rules of the type (free-form object)"})
    nestedFields = ma.fields.List(ma.fields.Raw(), allow_none=True,
                                  metadata={"description": "The inner fields of a nestedFields field"})
    recordLabel = ma.fields.Raw(allow_none=True)
    calculated = ma.fields.Raw(allow_none=True)
    renamedFrom = ma.fields.String(allow_none=True, metadata={"description": "The field's previous name"})

    @ma.validates_schema(skip_on_field_errors=False)
    def _inner(self, data: dict[str, Any], **_: Any) -> None:
        _check_fields(data.get("nestedFields"), "nestedFields")


class DefinitionSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    id = ma.fields.Raw()
    version = ma.fields.Raw()
    name = ma.fields.Raw(metadata={"description": "Letters and digits, starting with a letter"})
    label = ma.fields.Raw()
    description = ma.fields.Raw()
    fields = ma.fields.Raw(metadata={"description": "The field definitions (see FieldDefinition)"})
    recordLabel = ma.fields.Raw(allow_none=True)
    history = ma.fields.Raw(allow_none=True)
    globalSearch = ma.fields.Raw()
    actions = ma.fields.Raw()
    listeners = ma.fields.Raw()

    @ma.validates_schema(skip_on_field_errors=False)
    def _inner(self, data: dict[str, Any], **_: Any) -> None:
        _check_fields(data.get("fields"), "fields")

    @ma.validates_schema(pass_original=True, skip_on_field_errors=False)
    def _json_safe(self, _data: dict[str, Any], original: Any, **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        _walk(original, "", errors)
        if errors:
            raise ma.ValidationError(errors)


def _check_fields(value: Any, key: str) -> None:
    """Validate each object of a field list; the list's shape itself is parse_entity's to judge."""
    if not isinstance(value, list):
        return
    errors: dict[Any, Any] = {}
    for i, item in enumerate(value):
        if isinstance(item, dict):
            found = FieldDefinitionSchema().validate(item)
            if found:
                errors[i] = found
    if errors:
        raise ma.ValidationError({key: errors})


def _walk(value: Any, path: str, errors: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str) or key.startswith("$") or "." in key:
                errors.setdefault(where, []).append("Keys must not start with '$' or contain '.'")
            elif _lone_surrogate(key):
                errors.setdefault(path or "body", []).append("A key has a lone surrogate (not valid Unicode)")
            _walk(inner, where, errors)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _walk(inner, f"{path}[{i}]", errors)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            errors.setdefault(path, []).append("Integers must fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            errors.setdefault(path, []).append("Numbers must be finite")
    elif isinstance(value, str) and _lone_surrogate(value):
        errors.setdefault(path, []).append("Text has a lone surrogate (not valid Unicode)")


def _lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def definition_errors(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The definition's schema errors in core.errors' shape (``fields[0].typo``), or none."""
    return field_errors(DefinitionSchema().validate(raw))


class DefinitionBody(AnyBody):
    """The request body of ``POST``/``PUT /metadata/entities`` as documented; validation is parse_entity's
    (``definition_errors`` first, then the semantic checks), so the body reaches it unchanged."""

    name = ma.fields.String(required=True)
    label = ma.fields.String()
    fields = ma.fields.List(ma.fields.Nested(FieldDefinitionSchema))
    recordLabel = ma.fields.String()
    history = ma.fields.Raw()
    actions = ma.fields.List(ma.fields.Dict())
    listeners = ma.fields.List(ma.fields.Dict())
    globalSearch = ma.fields.Boolean()


class DefinitionList(ma.Schema):
    total = ma.fields.Integer()
    items = ma.fields.List(ma.fields.Dict())


class PutDefinitionQuery(QuerySchema):
    _dryRun = Flag(metadata={"description": "Only return the refactoring plan the change would run"})
    _onConversionError = ma.fields.String(metadata={"description": "null: a value that cannot be converted "
                                                                   "becomes null instead of refusing the change"})
