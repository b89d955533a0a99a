"""Field paths → where the value lives in a stored record, checked against metadata only.

A path never reaches Mongo as typed: it is split on dots, every part must be a field of the entity
(or ``id``/``label`` of a relationship, ``id``/``name`` of a file, ``id`` of a nested element), and
the stored keys are taken from the metadata. So ``$where``, ``a.$b`` or ``.a`` cannot get through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from entities.metadata import Field
from entities.query.values import Converter, bad, by_type, object_id, text
from entities.types import ALL_OPERATORS

_PART = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
ID_OPERATORS = ALL_OPERATORS - {"like"}
LABEL_OPERATORS = ALL_OPERATORS


@dataclass(frozen=True)
class Segment:
    key: str
    array: bool


@dataclass(frozen=True)
class Target:
    """A resolved filter path: the stored key chain, the value converter and the allowed operators."""

    param: str
    chain: tuple[Segment, ...]
    convert: Converter
    operators: frozenset[str]
    field: Field | None = None
    like_digits: bool = False  # phone: strip non-digits from like() text
    id_chain: tuple[Segment, ...] | None = None  # bare relationship value: an id matches the id too
    whole: int | None = None  # how much of the chain a projection keeps (a copied field's relationship)
    markup: bool = False  # html: compared on its visible text (``entities.visible_text``), not the stored value

    @property
    def is_group(self) -> bool:
        return self.field is not None and self.field.is_nested and self.chain[-1].key == self.field.name

    def equal_forms(self, values: list[Any]) -> list[Any]:
        """Every stored value ``equals`` matches for ``values`` (a phone number with and without its ``+``)."""
        if self.field is None:
            return values
        return [form for value in values for form in self.field.type.equal_forms(value)]

    @property
    def is_boolean(self) -> bool:
        """A single boolean: one never set reads false (a multi-valued one reads ``[]``, holding no false)."""
        return self.field is not None and not self.field.many and self.field.type.missing_value() is False


def resolve(fields: list[Field], path: str, param: str, prefix: tuple[Segment, ...] = (),
            top_level: bool = True) -> Target:
    """Resolve ``path`` among ``fields`` (the entity's, or a nested group's inner fields)."""
    parts = path.split(".")
    if not all(_PART.match(p) for p in parts):
        raise bad(param, f"unknown field '{path}'")
    if parts == ["id"]:
        return Target(param, (*prefix, Segment("_id" if top_level else "id", False)), object_id, ID_OPERATORS)
    if parts == ["label"] and top_level:
        return Target(param, (*prefix, Segment("label", False)), text, LABEL_OPERATORS)
    chain = list(prefix)
    scope = fields
    for i, part in enumerate(parts):
        f = next((x for x in scope if x.name == part), None)
        if f is None:
            raise bad(param, f"unknown field '{path}'")
        rest = parts[i + 1:]
        if f.is_nested:
            chain.append(Segment(f.name, f.many))
            if not rest:
                return Target(param, tuple(chain), text, f.type.operators, f)
            if rest == ["id"]:
                return Target(param, (*chain, Segment("id", False)), object_id, ID_OPERATORS, f)
            scope = f.nested
            continue
        if f.type.is_reference:
            return _reference(f, rest, tuple(chain), path, param)
        if rest:
            raise bad(param, f"unknown field '{path}'")
        chain.append(Segment(f.name, f.many))
        if f.type.filter_key is not None:  # compared by one key of its value (a dynamic choice's selected value)
            return Target(param, (*chain, Segment(f.type.filter_key, False)), by_type(f), f.type.operators, f,
                          whole=len(chain))
        return Target(param, tuple(chain), by_type(f), f.type.operators, f, like_digits=f.type.like_digits,
                      markup=f.type.visible_text is not None)
    raise bad(param, f"unknown field '{path}'")  # pragma: no cover - the loop always returns


def _reference(f: Field, rest: list[str], chain: tuple[Segment, ...], path: str, param: str) -> Target:
    """``company`` / ``company.label`` compare the label, ``company.id`` the id; files use ``name``. A bare value of a
    type that looks names up (a group) is compared by the ids of the targets it names."""
    text_key = f.type.text_key or "label"
    own = (*chain, Segment(f.name, f.many))
    if not rest and f.type.name == "user":  # ``owner=<id>``: a user reference is compared by id
        return Target(param, (*own, Segment("id", False)), object_id, f.type.operators - {"like"}, f)
    if not rest and (f.type.target_entity(f) is not None or f.type.finds_by_name):
        return Target(param, (*own, Segment(text_key, False)), text, f.type.operators, f,
                      id_chain=(*own, Segment("id", False)))
    if not rest or rest == [text_key]:
        return Target(param, (*own, Segment(text_key, False)), text, f.type.operators, f)
    if rest == [f.type.reference_key]:
        return Target(param, (*own, Segment(f.type.reference_key, False)), object_id, f.type.operators - {"like"},
                      f)
    copied = f.copied_field(rest[0]) if len(rest) == 1 else None
    if copied is not None:
        return Target(param, (*own, Segment(copied.name, copied.many)), by_type(copied), copied.type.operators,
                      copied, like_digits=copied.type.like_digits, whole=len(own))
    names = ", ".join(f"{f.name}.{n}" for n in ["id", text_key, *(c.name for c in f.copied)])
    raise bad(param, f"unknown field '{path}' (only {names} can be filtered)")
