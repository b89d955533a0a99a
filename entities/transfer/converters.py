"""The import's fast path: CSV cells straight to the values ``RecordValidator._load`` would give.

The general path turns a row into a REST body (``rows.build_body``), prunes it, and loads it through the
entity's schema: per cell that is a header lookup, a ``put``, a prune and a marshmallow field. Here the
columns of an import are compiled once into one converter per field (its cells' positions, ``tags[0]`` and
``tags[1]`` collected in index order), each the same ``cell_in`` then ``load`` of the field type that the
general path runs, so a row costs a loop over its cells.

A row is only taken when every cell converts; any cell the converters refuse (or anything unexpected) makes
``loaded`` return None and the row goes through the general path, which reports it exactly as before. Plans
the converters do not cover (related columns, nested groups, reserved names) get no fast path at all.
Defaults, calculated values, references, required fields, the label and unique checks are not done here:
``RecordValidator.build_new`` does them for a ``Loaded`` body as for any other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from entities.metadata import RESERVED, Entity, Field
from entities.transfer.cells import unguard_formula
from entities.transfer.headers import ImportPlan
from entities.types import ChoiceType, DecimalType, IntegerType, TextType, limit_decimals, stored_decimal

_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")
_ASCII_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")  # Decimal(text) is finite and float(Decimal) == float(text)
_INT64 = 2**63 - 1

Converter = Callable[[str], Any]  # the stored value of one non-empty (unguarded) cell; raises when refused


class RowConverter:
    """``loaded(cells)``: the stored values of a row's non-empty cells, by field name in field order, or None."""

    def __init__(self, fields: list[tuple[str, Converter, int | tuple[int, ...]]]):
        # (field name, converter, position of its cell | positions of its indexed cells in index order)
        self.fields = fields

    def loaded(self, cells: list[str]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        try:
            for name, convert, where in self.fields:
                if where.__class__ is int:
                    text = cells[where]  # type: ignore[index]
                    if text.startswith("'"):
                        text = unguard_formula(text)
                    if text and not text.isspace():
                        out[name] = convert(text)
                    continue
                values = []
                for position in where:  # type: ignore[union-attr]
                    text = cells[position]
                    if text.startswith("'"):
                        text = unguard_formula(text)
                    if text and not text.isspace():
                        values.append(convert(text))
                if values:
                    out[name] = values
        except Exception:  # the general path reports the row (or fails it) as it always did
            return None
        return out


def row_converter(entity: Entity, plan: ImportPlan) -> RowConverter | None:
    """The fast path of ``plan``'s columns, or None when they need the general path."""
    columns: dict[str, list[tuple[int | None, int]]] = {}  # field name → [(index, position)]
    fields: dict[str, Field] = {}
    for c in plan.columns:
        if c.related or c.target is not None or len(c.steps) != 1:
            return None
        f = c.steps[0].field
        if f.is_nested or f.name in RESERVED or not f.writable or f.many != (c.steps[0].index is not None):
            return None
        fields[f.name] = f
        columns.setdefault(f.name, []).append((c.steps[0].index, c.position))
    out: list[tuple[str, Converter, int | tuple[int, ...]]] = []
    for f in entity.fields:  # field order: the order ``load_fast`` gives its values in
        if f.name not in fields:
            continue
        cells = columns[f.name]
        where = cells[0][1] if not f.many else tuple(p for _, p in sorted(cells, key=lambda ip: ip[0] or 0))
        out.append((f.name, converter(f), where))
    if len(out) != len(fields):  # a column whose field is not the entity's own (never, for a plan of it)
        return None
    return RowConverter(out)


def converter(f: Field) -> Converter:
    """The stored value of one non-empty cell of ``f``: ``f.type.load(f.type.cell_in(text, f), f)``, as the
    general path computes it. For the common types the usual shapes of a cell are read here with the rules
    looked up once; any other text is left to the type's own ``cell_in`` and ``load`` (booleans and dates go
    there directly: ``parse_bool`` and ``DateType.load`` read their usual shapes fast already)."""
    kind = type(f.type)
    rules = f.type_rules
    general = _general(f)
    if kind is TextType and not rules.get("pattern"):  # cell_in keeps the text; load checks its length
        return _text(rules.get("maxLength", f.type.default_max), rules.get("minLength"))  # type: ignore[attr-defined]
    if kind is ChoiceType:  # an option's name is kept as is by cell_in and load
        names = frozenset(n for n in f.choice_names() if isinstance(n, str))

        def choice(text: str) -> Any:
            name = text.strip()
            return name if name in names else general(text)
        return choice
    if kind is IntegerType:  # cell_in reads plain digits with int(); load checks the range
        low, high = rules.get("min"), rules.get("max")

        def integer(text: str) -> Any:
            raw = text.strip()
            if _ASCII_INTEGER.fullmatch(raw):
                value = int(raw)
                if -_INT64 <= value <= _INT64 and (low is None or value >= low) and (high is None or value <= high):
                    return value
            return general(text)
        return integer
    if kind is DecimalType:
        return _decimal(f, general)
    return general


def _decimal(f: Field, general: Converter) -> Converter:
    """cell_in gives int(text) for digits, float(Decimal(text)) (= float(text)) for a plain decimal; load rounds
    it to the field's decimals, refuses extra decimals when told to and checks the range."""
    rules = f.type_rules
    most = f.type.max_decimals  # type: ignore[attr-defined]
    try:
        decimals = min(int(rules.get("decimals", most)), most)
    except (TypeError, ValueError):
        return general
    mode = rules.get("extraDecimals")
    strict = mode == "error"
    low, high = rules.get("min"), rules.get("max")

    def decimal(text: str) -> Any:
        raw = text.strip()
        m = _ASCII_DECIMAL.fullmatch(raw)
        if m is None:
            return general(text)
        value: int | float = float(raw) if m.group(1) else int(raw)
        number = float(value)  # an OverflowError (too many digits) sends the row to the general path
        if not math.isfinite(number):
            return general(text)
        rounded = limit_decimals(number, decimals, mode)
        if strict and rounded != number:
            return general(text)
        if (low is not None and rounded < low) or (high is not None and rounded > high):
            return general(text)
        return stored_decimal(rounded, isinstance(value, int))
    return decimal


def _general(f: Field) -> Converter:
    cell_in, load = f.type.cell_in, f.type.load
    return lambda text: load(cell_in(text, f), f)


def _text(max_len: int | None, min_len: int | None) -> Converter:
    def text(value: str) -> str:
        if (max_len is not None and len(value) > max_len) or (min_len is not None and len(value) < min_len):
            raise ValueError("refused")  # the general path words the error
        return value
    return text
