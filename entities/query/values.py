"""Filter values: operator syntax ``op(args)``, quoted comma lists, and conversion by field type.

Values are always converted through the field's type, so user text can only ever become a string,
number, boolean or ObjectId in the Mongo filter, never an operator document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from bson.decimal128 import Decimal128

from core.errors import BadRequest, field_error
from core.ids import parse_object_id
from entities.types import FieldInvalid

OPERATORS = frozenset({"equals", "notEquals", "like", "between", "greater", "greaterOrEquals", "less",
                       "lessOrEquals", "empty", "notEmpty", "near"})
MAX_VALUES = 1000
MAX_INT = 2**63 - 1
_OPERATOR_SYNTAX = re.compile(r"^\s*([A-Za-z]+)\((.*)\)\s*$", re.DOTALL)


class QueryError(BadRequest):
    """A 400 whose message and one field error name the offending parameter (as ``core.http.invalid_param``);
    ``reason`` is the part after the name."""

    def __init__(self, param: str, reason: str):
        super().__init__(f"Invalid query parameter '{param}': {reason}", errors=[field_error(param, "invalid", reason)])
        self.param, self.reason = param, reason


def bad(param: str, reason: str) -> QueryError:
    return QueryError(param, reason)


def problem_of(exc: BadRequest) -> str:
    """What is wrong with a query map kept in a definition (no request parameter to name): ``'size': ...``."""
    return f"'{exc.param}': {exc.reason}" if isinstance(exc, QueryError) else exc.message


@dataclass(frozen=True)
class Operation:
    """One parsed filter value: ``greater(5)`` → ``Operation("greater", ["5"])``."""

    op: str
    args: list[str]


def parse_operation(raw: str, param: str, split: bool = True) -> Operation:
    """``v``, ``a,b``, ``op(args)``; ``split=False`` keeps a plain value whole (JSON objects)."""
    match = _OPERATOR_SYNTAX.match(raw)
    if match is None:
        return Operation("equals", split_values(raw, param) if split else [raw])
    op, body = match.group(1), match.group(2)
    if op not in OPERATORS:
        raise bad(param, f"unknown operator '{op}'")
    if op in ("empty", "notEmpty"):
        if body.strip():
            raise bad(param, f"{op}() takes no arguments")
        return Operation(op, [])
    if op == "like" and _is_regex(body.strip()):
        return Operation(op, [body.strip()])
    args = split_values(body, param) if split or op != "equals" else [body]
    if op == "between" and len(args) != 2:
        raise bad(param, "between() takes two values: between(from,to)")
    if op in ("greater", "greaterOrEquals", "less", "lessOrEquals") and len(args) != 1:
        raise bad(param, f"{op}() takes one value")
    return Operation(op, args)


def _is_regex(text: str) -> bool:
    return len(text) >= 2 and text.startswith("/") and text.endswith("/")


def split_values(raw: str, param: str) -> list[str]:
    """Comma-separated values; double quotes protect commas (``"ACME, Inc",Blogpad``); ``\\"`` escapes."""
    out: list[str] = []
    i, n = 0, len(raw)
    while True:
        while i < n and raw[i] == " ":
            i += 1
        if i < n and raw[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and raw[i] != '"':
                if raw[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(raw[i])
                i += 1
            if i >= n:
                raise bad(param, "unterminated double quote")
            i += 1
            while i < n and raw[i] == " ":
                i += 1
            if i < n and raw[i] != ",":
                raise bad(param, "a quoted value must be followed by a comma or the end")
            out.append("".join(chars))
        else:
            end = raw.find(",", i)
            end = n if end < 0 else end
            out.append(raw[i:end].strip())
            i = end
        if len(out) > MAX_VALUES:
            raise bad(param, f"at most {MAX_VALUES} values")
        if i >= n:
            return out
        i += 1  # the comma


Converter = Callable[[Any], Any]


def object_id(value: Any) -> ObjectId:
    oid = parse_object_id(value)
    if oid is None:
        raise FieldInvalid(f"'{value}' is not a valid record id")
    return oid


def text(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise FieldInvalid("Must be a string")
    return value if isinstance(value, str) else str(value)


def by_type(field: Any) -> Converter:
    """The converter for a field: its type's ``parse_filter`` for text, ``load`` for JSON scalars."""
    ftype = field.type

    def convert(value: Any) -> Any:
        if isinstance(value, dict | list) or value is None:
            raise FieldInvalid("Must be a single value")
        if isinstance(value, str):
            out = ftype.parse_filter(value, field)
        else:
            try:
                out = ftype.filter_value(value, field)
            except FieldInvalid:  # e.g. a number for a text field, a number for a read-only date
                out = ftype.parse_filter(str(value).lower() if isinstance(value, bool) else str(value), field)
        return _check_scalar(out)
    return convert


def _check_scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldInvalid("Must be a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise FieldInvalid("Number out of range")
    if not isinstance(value, str | int | float | bool | ObjectId | Decimal128):
        raise FieldInvalid("Not a valid filter value")
    return value


def convert_all(convert: Converter, values: list[Any], param: str) -> list[Any]:
    try:
        return [convert(v) for v in values]
    except FieldInvalid as exc:
        raise bad(param, exc.message) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise bad(param, str(exc)) from None
