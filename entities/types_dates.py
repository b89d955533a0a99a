"""Field types whose value is text of a fixed shape: date-times without a timezone, year-months and month-days
(``TextDateType``).

Imported at the end of ``entities.types``, which it registers them into (``TYPES``, ``TYPE_ALIASES``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from entities.types import (
    NO_LIKE,
    TYPE_ALIASES,
    TYPES,
    DateType,
    FieldInvalid,
    _require_str,
)

if TYPE_CHECKING:
    from entities.metadata import Field


# --- dates kept as text --------------------------------------------------------------------------

@dataclass(frozen=True)
class TextDateType(DateType):
    """A date or time written, stored and read as text of one fixed-width format (``fmt``): the same text for
    every reader (never moved to a timezone, in ``plainText`` neither), so the stored text sorts and compares
    chronologically. A format without a year (``%m-%d``) is read in a leap year, so ``02-29`` is a month-day."""

    pattern: str = ""  # the canonical text as a regex, for the API document
    example: str = ""

    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        yearless = "%Y" not in self.fmt
        try:  # strptime's default year, 1900, has no 29 February
            parsed = dt.datetime.strptime(f"2000-{value}" if yearless else value,
                                          f"%Y-{self.fmt}" if yearless else self.fmt)
        except ValueError:
            raise FieldInvalid(f"Must be a date in the format {self.label}") from None
        return parsed.strftime(self.fmt.replace("%Y", f"{parsed.year:04d}"))  # strftime drops a short year's zeros

    def json_schema(self, field: Field) -> dict[str, Any]:
        return {"type": "string", "pattern": self.pattern, "description": self.label, "example": self.example}


TYPES.update({t.name: t for t in [
    TextDateType("dateTimeNoTimezone", "date", NO_LIKE, fmt="%Y-%m-%d %H:%M", label="yyyy-MM-dd HH:mm",
                 pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$", example="2016-11-05 19:00"),
    TextDateType("dateYearMonth", "date", NO_LIKE, fmt="%Y-%m", label="yyyy-MM", pattern="^[0-9]{4}-[0-9]{2}$",
                 example="2016-07"),
    TextDateType("dateMonthDay", "date", NO_LIKE, fmt="%m-%d", label="MM-dd", pattern="^[0-9]{2}-[0-9]{2}$",
                 example="04-16"),
]})
TYPE_ALIASES.update({"datetimewithouttimezone": "dateTimeNoTimezone", "yearmonth": "dateYearMonth",
                     "monthday": "dateMonthDay"})
