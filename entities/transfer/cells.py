"""One CSV cell ↔ one field value, per field type (the platform's CSV formats).

``parse_cell`` turns the text of a cell into the REST value the records service accepts (so validation,
defaults and relationship resolution stay in one place); ``format_cell`` turns a stored value into the
text an export writes. Multi-valued, nested and related columns are laid out by the callers: a cell
always holds one single value.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from entities.metadata import Field
from entities.types import FieldInvalid

# Set by the runtime or derived, so an import ignores their columns (an export writes them).
READ_ONLY_TYPES = frozenset({"createdDate", "modifiedDate"})
NOT_IMPORTABLE_TYPES = READ_ONLY_TYPES | {"file"}
DECIMAL_TYPES = frozenset({"decimal", "money", "percentage"})
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_INTEGER = re.compile(r"^[+-]?\d+$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DATE_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d %H:%M:%S",
                      "%Y-%m-%d %H:%M", "%Y-%m-%d")


def importable(f: Field) -> bool:
    """Whether an import writes this field (read-only, calculated and file fields are skipped)."""
    return f.type.name not in NOT_IMPORTABLE_TYPES and f.writable


def parse_cell(f: Field, text: str) -> Any:
    """The REST value of one cell; an empty cell is ``None``. Raises ``FieldInvalid`` on a malformed cell."""
    if text.strip() == "":
        return None
    name = f.type.name
    if name == "integer":
        return _integer(text)
    if name in DECIMAL_TYPES:
        return _number(text)
    if name == "boolean":
        return _boolean(text)
    if name == "choice":
        return _choice(f, text.strip())
    if name == "dateTime":
        return _date_time(text.strip())
    if name in ("date", "time", "color", "email", "url", "phone"):
        return text.strip()
    return text  # text, long text, HTML, relationship label: as written


def format_cell(f: Field, stored: Any) -> str:
    """The export text of one stored (single) value."""
    if stored is None:
        return ""
    name = f.type.name
    if name == "boolean":
        return "true" if stored else "false"
    if name == "integer":
        return str(int(stored))
    if name in DECIMAL_TYPES:
        return plain_number(stored)
    if name in ("dateTime", "createdDate", "modifiedDate", "phone", "relationship", "file", "user"):
        return f.type.text(stored, f)  # ISO UTC / dashed phone / label / file name
    return str(stored)


def plain_number(value: float | int) -> str:
    """A number without exponent or trailing zeros: ``27810.0028``, ``1383``, ``0.00001``."""
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _integer(text: str) -> int:
    raw = text.strip()
    if _INTEGER.match(raw):
        return int(raw)
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise FieldInvalid(f"'{raw}' is not an integer") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise FieldInvalid(f"'{raw}' is not an integer")
    return int(number)


def _number(text: str) -> int | float:
    raw = text.strip()
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise FieldInvalid(f"'{raw}' is not a number") from None
    if not number.is_finite():
        raise FieldInvalid(f"'{raw}' is not a number")
    return int(raw) if _INTEGER.match(raw) else float(number)


def _date_time(raw: str) -> int:
    """Epoch millis from the export's ISO UTC form (``2017-01-16T14:53:00.000Z``), a UTC ``yyyy-MM-dd HH:mm``
    or plain millis. Integer arithmetic, so every millisecond survives."""
    if _INTEGER.match(raw):
        return int(raw)
    for fmt in _DATE_TIME_FORMATS:
        try:
            parsed = dt.datetime.strptime(raw, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        return (parsed - _EPOCH) // dt.timedelta(milliseconds=1)
    raise FieldInvalid(f"'{raw}' is not a date-time (use yyyy-MM-ddTHH:mm:ss.SSSZ, UTC)")


def _boolean(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise FieldInvalid(f"'{text.strip()}' is not a boolean (use true/false, 1/0 or yes/no)")


def _choice(f: Field, text: str) -> str:
    """Option name first, then its label; both case-insensitive. Unknown text is left for validation to reject."""
    names = f.choice_names()
    if text in names:
        return text
    low = text.lower()
    for name in names:
        if name.lower() == low:
            return name
    for label, name in f.choice_label_map().items():
        if label.lower() == low:
            return name
    return text
