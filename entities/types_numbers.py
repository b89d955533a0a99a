"""Number types beyond integer and decimal (platform-facts §3.2, §3.3, §3.6, §5.3), registered into ``TYPES``:

* ``bigNumber``: exact decimals of up to 34 significant digits, stored as BSON ``Decimal128`` (so the store compares,
  sorts and sums them as numbers) and read and written as text (``"8.997738199773819977381"``);
* ``timeDuration``: milliseconds; also written, exported and shown as ``1d 2h 3m 4s``;
* ``autoIncrement``: the runtime gives each new record the next number of a counter (``entities.records.counters``);
  clients never write it.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from bson.decimal128 import Decimal128

from entities.types import (
    _INT64,
    _RULES_CHECKED,
    NO_LIKE,
    NUMERIC_ACC,
    TYPE_ALIASES,
    TYPES,
    Errors,
    FieldInvalid,
    FieldType,
    IntegerType,
    check_extra_decimals,
    rule_error,
)

if TYPE_CHECKING:
    from entities.metadata import Field

# --- bigNumber ---------------------------------------------------------------------------------

MAX_DIGITS = 34  # what a Decimal128 holds exactly
MAX_TEXT = 1000  # longer text is refused before it is parsed (leading and trailing zeros are all it could add)
_NUMBER_TEXT = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_ROUNDING = {"truncate": ROUND_DOWN}  # any other extraDecimals rounds half up


def exact_decimal(value: Any) -> Decimal:
    """The exact number a REST value, cell or filter value stands for: a string (``"8.99"``, ``"-1.5e3"``), an
    integer, or a float read from JSON (by the text it was written with when it carried more digits than a float
    holds, ``core.http``). ``FieldInvalid`` for anything else."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldInvalid("Must be a number written as a string, e.g. \"8.997738199773819977381\"")
    if isinstance(value, int):
        return Decimal(value)
    text = value.strip() if isinstance(value, str) else getattr(value, "text", None) or repr(value)
    if len(text) > MAX_TEXT:
        raise FieldInvalid(f"A number is at most {MAX_TEXT} characters long")
    if not _NUMBER_TEXT.match(text):
        raise FieldInvalid(f"'{value}' is not a number")
    return Decimal(text)


def to_decimal128(number: Decimal) -> Decimal128:
    """``number`` as stored: without trailing zeros (``10.50`` and ``1.05E+1`` are one stored value, so equality
    holds on every store) and with at most 34 significant digits."""
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # a finite number (exact_decimal reads no NaN or Infinity)
    count = len(digits)
    while count > 1 and digits[count - 1] == 0:
        count -= 1
        exponent += 1
    if count > MAX_DIGITS:
        raise FieldInvalid(f"Must have at most {MAX_DIGITS} significant digits")
    if count == 1 and digits[0] == 0:
        return Decimal128("0")
    try:
        return Decimal128(Decimal((sign, digits[:count], exponent)))
    except decimal.DecimalException:  # an exponent past what the store holds (1e9999)
        raise FieldInvalid("Number out of range") from None


def plain_text(stored: Any) -> str:
    """A stored big number as plain text, without exponent or trailing zeros: ``8.997738199773819977381``, ``1000``."""
    if isinstance(stored, Decimal128):
        number = stored.to_decimal()
    elif isinstance(stored, int | float) and not isinstance(stored, bool):  # written by something else: as exact
        number = exact_decimal(stored)
    else:
        return str(stored)  # a value stored by something else (a calculated text): shown as it is
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _limited(number: Decimal, field: Field) -> Decimal:
    """``number`` with at most the field's ``decimals``: rounded half up, or cut toward zero for ``truncate``;
    refused for ``error`` (unless type rules are off, when it is rounded)."""
    decimals = field.type_rules.get("decimals")
    exponent = number.as_tuple().exponent
    if decimals is None or not isinstance(exponent, int) or exponent >= -decimals:
        return number
    mode = field.type_rules.get("extraDecimals")
    if mode == "error" and _RULES_CHECKED.get():
        raise FieldInvalid(f"At most {decimals} decimals are allowed")
    context = decimal.Context(prec=len(number.as_tuple().digits) + 1, rounding=_ROUNDING.get(mode, ROUND_HALF_UP))
    return number.quantize(Decimal(1).scaleb(-decimals), context=context)


def _check_big_range(number: Decimal, field: Field) -> None:
    if not _RULES_CHECKED.get():
        return
    rules = field.type_rules
    low, high = rules.get("min"), rules.get("max")
    if low is not None and number < _rule_number(low):
        raise FieldInvalid(f"Must be greater than or equal to {low}")
    if high is not None and number > _rule_number(high):
        raise FieldInvalid(f"Must be less than or equal to {high}")


def _rule_number(value: int | float) -> Decimal:
    """A ``min``/``max`` of the definition (a JSON number) as the float it is stored as, whatever text it was
    written with: the same bound in every process, before and after the definition is read back."""
    return Decimal(value) if isinstance(value, int) else Decimal(repr(float(value)))


@dataclass(frozen=True)
class BigNumberType(FieldType):
    """Exact decimals read and written as text; limited to the field's ``decimals`` (``extraDecimals`` as for a
    decimal field) and to ``min``/``max``. Filters compare numbers: ``amount=greater(10.5)``."""

    totals_keep_type: ClassVar[bool] = True  # a sum or an average is a big number too, read as text

    def load(self, value: Any, field: Field) -> Any:
        number = _limited(exact_decimal(value), field)
        stored = to_decimal128(number)
        _check_big_range(number, field)
        return stored

    def dump(self, stored: Any, field: Field) -> Any:
        return None if stored is None else plain_text(stored)

    def text(self, stored: Any, field: Field) -> str:
        return "" if stored is None else plain_text(stored)

    def parse_filter(self, raw: str, field: Field) -> Any:
        return to_decimal128(exact_decimal(raw))  # a filter value is compared, not limited by the field's rules

    def filter_value(self, value: Any, field: Field) -> Any:
        return to_decimal128(exact_decimal(value))

    def check_rules(self, rules: dict[str, Any], path: str, errors: Errors, entity_names: set[str] | None) -> None:
        check_extra_decimals(rules, path, errors)

    def cell_in(self, text: str, field: Field) -> Any:
        return text.strip()

    def cell_out(self, stored: Any, field: Field) -> str:
        return plain_text(stored)

    def json_schema(self, field: Field, writing: bool) -> dict[str, Any] | None:
        out: dict[str, Any] = {"type": "string", "format": "decimal", "pattern": _NUMBER_TEXT.pattern,
                               "description": f"an exact number of up to {MAX_DIGITS} significant digits, as text",
                               "example": "8.997738199773819977381"}
        if writing:
            return {"anyOf": [out, {"type": "number"}], "example": out["example"]}
        return out


# --- timeDuration ------------------------------------------------------------------------------

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
_DURATION = re.compile(r"^(?:([0-9]+)\s*d)?\s*(?:([0-9]+)\s*h)?\s*(?:([0-9]+)\s*m)?\s*(?:([0-9]+)\s*s)?\s*"
                       r"(?:([0-9]+)\s*ms)?$", re.IGNORECASE)
_MILLIS = re.compile(r"^[0-9]+$")
MAX_DURATION_TEXT = 100  # past any duration a 64-bit count of milliseconds holds (and the digits int() reads)
DURATION_HINT = "milliseconds or a duration like 1d 2h 3m 4s"


def duration_millis(text: str) -> int:
    """``4h 30m`` → 16200000; plain digits are milliseconds. ``FieldInvalid`` for anything else."""
    raw = text.strip()
    if len(raw) > MAX_DURATION_TEXT:
        raise FieldInvalid(f"A duration is at most {MAX_DURATION_TEXT} characters long")
    if _MILLIS.match(raw):
        return int(raw)
    found = _DURATION.match(raw)
    if not raw or found is None:
        raise FieldInvalid(f"'{raw}' is not a duration (use {DURATION_HINT})")
    return sum(int(amount) * size for amount, (_, size) in zip(found.groups(), _UNITS, strict=True) if amount)


def duration_text(millis: int) -> str:
    """16200000 → ``4h 30m``; 0 → ``0s``; milliseconds past whole seconds as ``ms`` (``1s 500ms``)."""
    parts = []
    for unit, size in _UNITS:
        amount, millis = divmod(millis, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts) or "0s"


@dataclass(frozen=True)
class TimeDurationType(FieldType):
    """Milliseconds (``10800000``), also written as ``3h`` or ``1d 2h 3m 4s``; never negative."""

    def load(self, value: Any, field: Field) -> Any:
        if isinstance(value, str):
            millis = duration_millis(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            millis = value
        elif isinstance(value, float) and value.is_integer():
            millis = int(value)
        else:
            raise FieldInvalid(f"Must be {DURATION_HINT}")
        if millis < 0:
            raise FieldInvalid("A duration cannot be negative")
        if millis > _INT64:
            raise FieldInvalid("Duration out of range")
        return millis

    def parse_filter(self, raw: str, field: Field) -> Any:
        return self.load(raw, field)

    def text(self, stored: Any, field: Field) -> str:
        return "" if stored is None else self.cell_out(stored, field)

    def cell_in(self, text: str, field: Field) -> Any:
        return text.strip()

    def cell_out(self, stored: Any, field: Field) -> str:
        """The ``1d 2h`` form; a value stored as text (a calculated field's) as it is."""
        return duration_text(stored) if isinstance(stored, int) else str(stored)

    def json_schema(self, field: Field, writing: bool) -> dict[str, Any] | None:
        millis = {"type": "integer", "format": "int64", "minimum": 0, "description": "milliseconds",
                  "example": 16200000}
        if writing:
            return {"anyOf": [millis, {"type": "string", "example": "4h 30m"}], "description": DURATION_HINT,
                    "example": 16200000}
        return millis


# --- autoIncrement -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AutoIncrementType(IntegerType):
    """The next number of the field's counter, given by the runtime to each record it creates (records created
    before the field existed get theirs in creation order, from the refactoring). ``typeRules.min`` is the least
    next number (default 1): raising it moves the counter up, lowering it never moves it back."""

    numbered: ClassVar[bool] = True
    importable: ClassVar[bool] = False

    def load(self, value: Any, field: Field) -> Any:
        raise FieldInvalid("This field is read-only", code="readOnly")

    def filter_value(self, value: Any, field: Field) -> Any:
        if isinstance(value, str):
            return self.parse_filter(value, field)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise FieldInvalid("Must be an integer")

    def check_rules(self, rules: dict[str, Any], path: str, errors: Errors, entity_names: set[str] | None) -> None:
        low = rules.get("min")
        if low is not None and (isinstance(low, bool) or not isinstance(low, int) or abs(low) > _INT64):
            errors.append(rule_error(f"{path}.min", "min (the least next number) must be an integer", low))

    def check_field(self, field: Field, path: str, errors: Errors) -> None:
        refused = [("." in field.path, "type", "cannot be inside a nested group"),
                   (field.many, "multiplicity", "is single-valued: multiplicity is 'one'"),
                   (field.required, "required", "is set by the runtime: it cannot be required"),
                   (field.default is not None, "defaultValue", "is set by the runtime: it has no default value"),
                   (field.calculated is not None, "calculated", "is set by the runtime: it cannot be calculated")]
        for wrong, key, why in refused:
            if wrong:
                errors.append(rule_error(f"{path}.{key}", f"An autoIncrement field {why}"))

    def check_default(self, value: Any, field: Field) -> None:
        """Refused by ``check_field``."""

    def index_keys(self, path: str, field: Field, top_level: bool) -> list[tuple[str, str, bool]]:
        """Its numbers are unique by construction (``unique`` is accepted and changes nothing): a plain index serves
        lookups and sorts (a unique one would refuse the moves of a renumbering in between)."""
        return [(path, f"idx_{path}", False)] if top_level else []

    def json_schema(self, field: Field, writing: bool) -> dict[str, Any] | None:
        return {"type": "integer", "format": "int64", "description": "numbered by the runtime", "example": 1}


TYPES.update({t.name: t for t in [
    BigNumberType("bigNumber", "number", NO_LIKE, NUMERIC_ACC),
    TimeDurationType("timeDuration", "number", NO_LIKE, NUMERIC_ACC),
    AutoIncrementType("autoIncrement", "number", NO_LIKE, NUMERIC_ACC, unique_allowed=True, writable=False),
]})
# big-number, time-duration and auto-increment are found by spelling; "duration" is the platform's metadata name
TYPE_ALIASES.update({"duration": "timeDuration"})
