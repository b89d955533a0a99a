"""Field types whose value is text of a fixed shape: date-times without a timezone, year-months and month-days
(``TextDateType``), masked text (``MaskedTextType``) and ranks (``RankType``).

Imported at the end of ``entities.types``, which it registers them into (``TYPES``, ``TYPE_ALIASES``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from entities.types import (
    ALL_OPERATORS,
    NO_LIKE,
    TYPE_ALIASES,
    TYPES,
    DateType,
    Errors,
    FieldInvalid,
    FieldType,
    TextType,
    _require_str,
    rule_error,
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

    def json_schema(self, field: Field, writing: bool = False) -> dict[str, Any]:
        return {"type": "string", "pattern": self.pattern, "description": self.label, "example": self.example}


# --- masked text ---------------------------------------------------------------------------------

# the mask characters that take a character of a value → which characters they take
_MASK_SLOTS: dict[str, Callable[[str], bool]] = {
    "9": lambda c: "0" <= c <= "9",
    "a": lambda c: c.isascii() and c.isalpha(),
    "w": lambda c: c.isascii() and c.isalnum(),
}
_SLOT_EXAMPLES = {"9": "123456789", "a": "ABCDEFGHIJ", "w": "A1B2C3D4E5"}


def _slots(mask: str) -> str:
    """The characters of ``mask`` that take a character of a value (``999aaa`` of ``999-aaa``)."""
    return "".join(c for c in mask if c in _MASK_SLOTS)


def _fits(value: str, slots: str) -> bool:
    """Whether ``value`` has one character of the kind each mask character of ``slots`` takes."""
    return len(value) == len(slots) and all(_MASK_SLOTS[s](c) for s, c in zip(slots, value, strict=True))


@dataclass(frozen=True)
class MaskedTextType(TextType):
    """Text that fits ``typeRules.mask``: ``9`` takes a digit, ``a`` a letter, ``w`` a letter or a digit, and any
    other character of the mask is fixed. A value is written with or without the fixed characters (``123-ABC``
    or ``123ABC`` for ``999-aaa``), stored without them and read (JSON, plain text, CSV) with them. ``like``
    runs on the stored value; an ``equals`` (or comparison) value that has the fixed characters loses them."""

    def check_rules(self, rules: dict[str, Any], path: str, errors: Errors, entity_names: set[str] | None) -> None:
        mask = rules.get("mask")
        if not isinstance(mask, str) or not _slots(mask):
            errors.append(rule_error(f"{path}.mask", "A masked text needs typeRules.mask, with at least one 9 "
                                     "(digit), a (letter) or w (letter or digit)", mask))

    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        stored = self._stored(value, field)
        if stored is None:
            raise FieldInvalid(f"Must fit the mask {field.type_rules.get('mask')}")
        return stored

    @staticmethod
    def _stored(value: str, field: Field) -> str | None:
        """``value`` without the mask's fixed characters when it fits the mask with or without them, else None."""
        mask = str(field.type_rules.get("mask") or "")
        slots = _slots(mask)
        if len(value) == len(mask) and all(m in _MASK_SLOTS or m == c for m, c in zip(mask, value, strict=True)):
            value = "".join(c for m, c in zip(mask, value, strict=True) if m in _MASK_SLOTS)
        return value if slots and _fits(value, slots) else None

    def dump(self, stored: Any, field: Field) -> Any:
        """The stored value with the mask's fixed characters put back (as stored when it does not fit the
        mask: one written under an earlier mask)."""
        mask = str(field.type_rules.get("mask") or "")
        if not isinstance(stored, str) or not _fits(stored, _slots(mask)):
            return stored
        chars = iter(stored)
        return "".join(next(chars) if m in _MASK_SLOTS else m for m in mask)

    def parse_filter(self, raw: str, field: Field) -> Any:
        stored = self._stored(raw, field)
        return raw if stored is None else stored  # part of a value (greater(12)) is compared as given

    def cell_in(self, text: str, field: Field) -> Any:
        return text.strip()

    def cell_out(self, stored: Any, field: Field) -> str:
        return str(self.dump(stored, field))

    def json_schema(self, field: Field, writing: bool = False) -> dict[str, Any]:
        mask = str(field.type_rules.get("mask") or "")
        shown = {slot: iter(chars * len(mask)) for slot, chars in _SLOT_EXAMPLES.items()}
        example = "".join(next(shown[m]) if m in shown else m for m in mask)
        return {"type": "string", "description": f"fits the mask {mask}, with or without its fixed characters",
                "example": example}


# --- rank ----------------------------------------------------------------------------------------

_RANK = re.compile(r"^[0-9a-z]+$")
_RANK_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
RANK_WIDTH = 10
RANK_FIRST = "i" + "0" * (RANK_WIDTH - 1)
_RANK_STEP = 36 ** 4  # 36^4 - 1 ranks of the same width fit between two ranks given in a row
MAX_RANK_LENGTH = 255


def rank_after(highest: str | None) -> str:
    """A rank that sorts after ``highest`` (the first one, ``i000000000``, when there is none).

    Ranks are base-36 digits (``0-9a-z``, in their ASCII order) compared as text. ``highest``, padded with
    ``0`` to a multiple of ten digits (which sorts the same or after it), is counted up by 36^4 (by 1 when that
    would not fit); the result keeps that width, so it sorts after it. When neither fits (``zzzzzzzzzz``), the
    padded rank gets ten more digits (``i000000000``)."""
    if not highest:
        return RANK_FIRST
    width = -(-len(highest) // RANK_WIDTH) * RANK_WIDTH
    padded = highest.ljust(width, "0")
    number = next((n for n in (int(padded, 36) + step for step in (_RANK_STEP, 1)) if n < 36 ** width), None)
    if number is None:
        return padded + RANK_FIRST
    digits = []
    while number:
        number, digit = divmod(number, 36)
        digits.append(_RANK_DIGITS[digit])
    return "".join(reversed(digits)).rjust(width, "0")


@dataclass(frozen=True)
class RankType(FieldType):
    """A position among the records of an entity: text of ``0-9a-z`` compared (sorted, filtered) as text.

    A record created without one gets ``rank_after`` the highest rank the entity holds (the records service
    asks ``value_after``); a client moves a record by writing any other rank, e.g. one between two others
    (``i00000g`` sorts between ``i000000000`` and ``i000010000``). Single-valued and top-level only; never
    required, defaulted or calculated."""

    sequenced: ClassVar[bool] = True
    sequence_filter: ClassVar[dict[str, Any]] = {"$regex": _RANK.pattern}

    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        if not _RANK.match(value) or len(value) > MAX_RANK_LENGTH:
            raise FieldInvalid(f"A rank is 1 to {MAX_RANK_LENGTH} digits or lowercase letters (0-9, a-z)")
        return value

    def parse_filter(self, raw: str, field: Field) -> Any:
        return raw

    def value_after(self, highest: Any) -> Any:
        return rank_after(highest if isinstance(highest, str) else None)

    def check_field(self, field: Field, path: str, errors: Errors) -> None:
        given = "the runtime gives one to a record created without it"
        refused = {"multiplicity": (field.many, "A rank field is single-valued"),
                   "required": (field.required, f"A rank field cannot be required: {given}"),
                   "defaultValue": (field.default is not None, f"A rank field has no default value: {given}"),
                   "calculated": (field.calculated is not None, "A rank field cannot be calculated: it is written "
                                  "to move a record")}
        errors.extend(rule_error(f"{path}.{option}", message) for option, (set_, message) in refused.items() if set_)
        if "." in field.path:
            errors.append(rule_error(f"{path}.type", "A rank field cannot be inside a nested group", self.name))

    def index_keys(self, path: str, field: Field, top_level: bool) -> list[tuple[str, str, bool]]:
        """Always indexed: a create reads the highest rank."""
        return [(path, f"unique_{path}" if field.unique else f"idx_{path}", field.unique)]

    def json_schema(self, field: Field, writing: bool = False) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[0-9a-z]+$", "maxLength": MAX_RANK_LENGTH, "example": RANK_FIRST,
                "description": "compared as text; set after the highest rank when a record is created without one"}


TYPES.update({t.name: t for t in [
    TextDateType("dateTimeNoTimezone", "date", NO_LIKE, fmt="%Y-%m-%d %H:%M", label="yyyy-MM-dd HH:mm",
                 pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$", example="2016-11-05 19:00"),
    TextDateType("dateYearMonth", "date", NO_LIKE, fmt="%Y-%m", label="yyyy-MM", pattern="^[0-9]{4}-[0-9]{2}$",
                 example="2016-07"),
    TextDateType("dateMonthDay", "date", NO_LIKE, fmt="%m-%d", label="MM-dd", pattern="^[0-9]{2}-[0-9]{2}$",
                 example="04-16"),
    MaskedTextType("maskedText", "text", ALL_OPERATORS, unique_allowed=True, text_search=True),
    RankType("rank", "rank", ALL_OPERATORS, unique_allowed=True),
]})
TYPE_ALIASES.update({"datetimewithouttimezone": "dateTimeNoTimezone", "yearmonth": "dateYearMonth",
                     "monthday": "dateMonthDay"})
