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


def parse_cell(f: Field, text: str) -> Any:
    """The REST value of one cell; an empty cell is ``None``. Raises ``FieldInvalid`` on a malformed cell."""
    if text.strip() == "":
        return None
    return f.type.cell_in(text, f)


def format_cell(f: Field, stored: Any) -> str:
    """The export text of one stored (single) value."""
    return "" if stored is None else f.type.cell_out(stored, f)
