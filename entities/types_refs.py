"""Field types whose values carry their own options or point outside the record: ``dynamicChoice``, ``group``
and ``geoPoint`` (platform-facts §3.2, §3.3, §5.3). Registered into ``entities.types.TYPES`` on import (the last
line of ``entities.types`` imports this module).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from entities.types import EQUALITY, TYPES, FieldInvalid, FieldType

if TYPE_CHECKING:
    from entities.metadata import Field

MAX_OPTIONS = 1000
_CHOICE_KEYS = frozenset({"options", "selectedValue"})


# --- dynamicChoice ------------------------------------------------------------------------------

def _option(raw: Any) -> dict[str, str]:
    """One option ``{label, name}``: a non-empty name; the label is text (the name when left out)."""
    if not isinstance(raw, dict) or set(raw) - {"label", "name"}:
        raise FieldInvalid("Each option is an object {label, name}")
    name, label = raw.get("name"), raw.get("label", raw.get("name"))
    if not isinstance(name, str) or not name:
        raise FieldInvalid("An option's name is a non-empty string")
    if not isinstance(label, str):
        raise FieldInvalid("An option's label is a string")
    return {"label": label, "name": name}


@dataclass(frozen=True)
class DynamicChoiceType(FieldType):
    """A choice that brings its own options: stored (and read) as ``{options: [{label, name}], selectedValue}``.
    Written as that object or as a bare string ``v`` (one option ``{label: v, name: v}``, selected). Filters
    and sorts read the selected option's name; its text is the selected option's label."""

    filter_key: ClassVar[str | None] = "selectedValue"
    index_allowed: ClassVar[bool] = False

    def load(self, value: Any, field: Field) -> Any:
        if isinstance(value, str):
            if not value:
                raise FieldInvalid("A dynamic choice is written as {options, selectedValue} or a non-empty string")
            return {"options": [{"label": value, "name": value}], "selectedValue": value}
        if not isinstance(value, dict) or set(value) - _CHOICE_KEYS:
            raise FieldInvalid("A dynamic choice is {options: [{label, name}], selectedValue} or a string")
        raw_options = value.get("options")
        if not isinstance(raw_options, list) or len(raw_options) > MAX_OPTIONS:
            raise FieldInvalid(f"options is a list of at most {MAX_OPTIONS} {{label, name}} objects")
        options = [_option(o) for o in raw_options]
        names = [o["name"] for o in options]
        if len(set(names)) != len(names):
            raise FieldInvalid("Option names must be unique")
        selected = value.get("selectedValue")
        if selected is not None and selected not in names:
            raise FieldInvalid("selectedValue must be null or the name of one of the options")
        return {"options": options, "selectedValue": selected}

    def dump(self, stored: Any, field: Field) -> Any:
        if stored is None:
            return None
        return {"options": [{"label": o.get("label"), "name": o.get("name")} for o in stored.get("options") or []],
                "selectedValue": stored.get("selectedValue")}

    def text(self, stored: Any, field: Field) -> str:
        """The selected option's label ("" when nothing is selected)."""
        if not stored or stored.get("selectedValue") is None:
            return ""
        selected = stored["selectedValue"]
        return next((o.get("label") or selected for o in stored.get("options") or [] if o.get("name") == selected),
                    selected)

    def parse_filter(self, raw: str, field: Field) -> Any:
        return raw

    def filter_value(self, value: Any, field: Field) -> Any:
        return value if isinstance(value, str) else str(value)

    def like_path(self, path: str) -> str:
        return f"{path}.{self.filter_key}"

    def cell_in(self, text: str, field: Field) -> Any:
        """The export's JSON text, or a bare option name."""
        text = text.strip()
        if not text.startswith("{"):
            return text
        try:
            return json.loads(text)
        except ValueError:
            raise FieldInvalid("Not a dynamic choice: use {\"options\": [{\"label\", \"name\"}], "
                               "\"selectedValue\"} or a bare option name") from None

    def cell_out(self, stored: Any, field: Field) -> str:
        return json.dumps(self.dump(stored, field), ensure_ascii=False, separators=(",", ":"))


# Every other spelling the platform's documents use ("Dynamic choice", ``dynamic-choice``, "Geo point",
# ``geo-point``) differs from these names only in case, spaces and dashes: ``field_type`` finds them without
# an entry in ``TYPE_ALIASES``.
TYPES.update({t.name: t for t in [
    DynamicChoiceType("dynamicChoice", "choice", EQUALITY | {"like"}, frozenset()),
]})
