"""Decimal128 on the embedded store as MongoDB treats it: a number, compared and aggregated exactly
(part of ``core.embedded_index.install``).

mongomock-ng compares two Decimal128 values through ``float`` (``1.0000000000000000001`` equals ``1``; a Decimal128
beside an int or a float raises), its ``$sum`` adds them in Python's default 28-digit context, and its ``$avg``,
``$min`` and ``$max`` skip or refuse them. Here, when a Decimal128 takes part:

* ``bson_compare`` (filters ``$gt``/``$lt``..., sorts, ``$group`` keys) compares the exact decimals, and ints and
  floats exactly beside them;
* ``$sum`` and ``$avg`` compute in Decimal128's own arithmetic (34 significant digits) and answer a Decimal128, as
  MongoDB does; ``$min`` and ``$max`` pick by that comparison.

Values without a Decimal128 take mongomock's own paths, unchanged (tests/runtime/test_embedded_decimal.py). On a
MongoDB server the patch is installed too: mongomock's filter still evaluates conditions in the process (permission
``when`` rules, listener conditions), which must compare as the server does.
"""

from __future__ import annotations

import decimal
import functools
import numbers
from collections.abc import Callable
from typing import Any

from bson.decimal128 import Decimal128, create_decimal128_context

_ARITHMETIC = create_decimal128_context()  # MongoDB's: 34 digits, rounded half even past them
_ARITHMETIC.traps[decimal.Inexact] = False
_installed = False


def install(replace: Callable[[Any, str, Any], None]) -> None:
    """Patch mongomock once per process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    from mongomock_ng import aggregate, filtering

    upstream_compare = filtering.bson_compare

    def bson_compare(op: Callable[[Any, Any], bool], a: Any, b: Any, can_compare_types: bool = True) -> bool:
        if (type(a) is Decimal128 or type(b) is Decimal128) and _number(a) and _number(b):
            x, y = _exact(a), _exact(b)
            if _is_nan(x) or _is_nan(y):  # NaN is unordered, as a float NaN is for mongomock
                return op(float(x), float(y))
            return op(x, y)
        return upstream_compare(op, a, b, can_compare_types)

    replace(filtering, "bson_compare", bson_compare)
    operators = aggregate._GROUPING_OPERATOR_MAP
    for name, exact in (("$sum", _sum), ("$avg", _avg), ("$min", _extreme(min)), ("$max", _extreme(max))):
        replace(operators, name, _when_decimal(exact, operators[name]))


def _number(value: Any) -> bool:
    return type(value) is Decimal128 or (isinstance(value, numbers.Number) and not isinstance(value, bool))


def _exact(value: Any) -> Any:
    """A Decimal128 as its ``Decimal``; ints and floats as they are (Python compares them with decimals exactly)."""
    return value.to_decimal() if type(value) is Decimal128 else value


def _is_nan(value: Any) -> bool:
    return value != value


def _when_decimal(exact: Callable[[list[Any]], Any], upstream: Callable[[list[Any]], Any]) -> Callable[[Any], Any]:
    def accumulate(values: Any) -> Any:
        return exact(values) if isinstance(values, list) and _holds_decimal(values) else upstream(values)
    return accumulate


def _holds_decimal(values: list[Any]) -> bool:
    """Whether a Decimal128 is among the values or in an array among them (one pass, nothing copied)."""
    for v in values:
        kind = type(v)
        if kind is Decimal128 or (kind is list and any(type(x) is Decimal128 for x in v)):
            return True
    return False


def _flat(values: list[Any]) -> list[Any]:
    """The values with arrays spread, as ``$sum`` reads them."""
    out: list[Any] = []
    for v in values:
        if isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out


def _decimals(values: list[Any]) -> list[decimal.Decimal]:
    """The numbers among ``values`` as exact decimals (a float by its shortest text, as MongoDB converts it)."""
    return [_exact(v) if type(v) is Decimal128 else decimal.Decimal(repr(v) if isinstance(v, float) else v)
            for v in values if _number(v)]


def _sum(values: list[Any]) -> Decimal128:
    return Decimal128(functools.reduce(_ARITHMETIC.add, _decimals(_flat(values)), decimal.Decimal(0)))


def _avg(values: list[Any]) -> Decimal128 | None:
    found = _decimals(values)
    if not found:
        return None
    total = functools.reduce(_ARITHMETIC.add, found, decimal.Decimal(0))
    return Decimal128(_ARITHMETIC.divide(total, len(found)))


def _extreme(pick: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    """``$min``/``$max``: nulls left out, the rest ordered as ``bson_compare`` orders them."""
    def extreme(values: list[Any]) -> Any:
        from mongomock_ng.filtering import BsonComparable

        present = [v for v in values if v is not None]
        return pick(present, key=BsonComparable) if present else None
    return extreme
