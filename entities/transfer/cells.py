"""One CSV cell ↔ one field value: each type's ``cell_in`` / ``cell_out`` (entities.types) does the work.

``parse_cell`` turns the text of a cell into the REST value the records service accepts (so validation,
defaults and relationship resolution stay in one place); ``format_cell`` turns a stored value into the
text an export writes. Multi-valued, nested and related columns are laid out by the callers: a cell
always holds one single value.
"""

from __future__ import annotations

from typing import Any

from entities.metadata import Field
from entities.types import plain_number

__all__ = ["format_cell", "importable", "parse_cell", "plain_number"]


def importable(f: Field) -> bool:
    """Whether an import writes this field (read-only, calculated and file fields are skipped)."""
    return f.type.importable and f.writable


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): export prefixes
# such a cell with ``'`` (and one that starts with ``'``, so the prefix can always be told apart), import strips it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_GUARDED_STARTS = (*FORMULA_STARTS, "'")


def guard_formula(text: str) -> str:
    """``'=1+1`` for ``=1+1``: the cell reads as text in a spreadsheet."""
    return "'" + text if text.startswith(_GUARDED_STARTS) else text


def unguard_formula(text: str) -> str:
    """The inverse of ``guard_formula`` (a lone leading ``'`` before anything else is data, kept)."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_GUARDED_STARTS) else text


def parse_cell(f: Field, text: str) -> Any:
    """The REST value of one cell; an empty cell is ``None``. Raises ``FieldInvalid`` on a malformed cell."""
    text = unguard_formula(text)
    if text.strip() == "":
        return None
    return f.type.cell_in(text, f)


def format_cell(f: Field, stored: Any) -> str:
    """The export text of one stored (single) value; text that a spreadsheet would run as a formula is guarded
    (numbers in numeric columns stay numbers, ``-2`` included)."""
    if stored is None:
        return ""
    text = f.type.cell_out(stored, f)
    return text if f.type.family in ("number", "boolean") else guard_formula(text)
