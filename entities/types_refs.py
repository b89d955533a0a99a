"""Field types whose values are more than one scalar: ``dynamicChoice`` (its own options), ``group`` (a reference
to a runtime group) and ``geoPoint`` (a point on the Earth) (platform-facts §3.2, §3.3, §5.3). They register
themselves into ``entities.types.TYPES`` on import (the last line of ``entities.types`` imports this module).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from core.ids import OBJECT_ID_SCHEMA, parse_object_id
from entities.types import (
    EQUALITY,
    TYPES,
    Errors,
    FieldInvalid,
    FieldType,
    References,
    RelationshipType,
    plain_number,
)

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

    calculable: ClassVar[bool] = False
    filter_key: ClassVar[str | None] = "selectedValue"
    index_allowed: ClassVar[bool] = False
    filter_example: ClassVar[str | None] = "AZ"

    def json_schema(self, field: Field, writing: bool) -> dict[str, Any] | None:
        example = {"options": [{"label": "Arizona", "name": "AZ"}], "selectedValue": "AZ"}
        value = {"type": "object", "required": ["options"], "example": example, "properties": {
            "options": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                "label": {"type": "string"}, "name": {"type": "string"}}}},
            "selectedValue": {"type": "string", "nullable": True, "description": "the name of one of the options"}}}
        if not writing:
            return value
        return {"description": "The options and the selected one, or a bare string: one option, selected",
                "anyOf": [{"type": "string"}, {k: v for k, v in value.items() if k != "example"}], "example": example}

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
        """The export's JSON text, the platform's JSON-ish form of it (``{options:[{label:Alabama,name:AL}],
        selectedValue:AL}``: keys and values unquoted), or a bare option name."""
        text = text.strip()
        if not text.startswith("{"):
            return text
        for candidate in (text, _BARE_WORD.sub(lambda m: m.group(1) + json.dumps(m.group(2).strip()), text)):
            try:
                return json.loads(candidate)
            except ValueError:
                continue
        raise FieldInvalid("Not a dynamic choice: use {\"options\": [{\"label\", \"name\"}], "
                           "\"selectedValue\"} or a bare option name")

    def cell_out(self, stored: Any, field: Field) -> str:
        return json.dumps(self.dump(stored, field), ensure_ascii=False, separators=(",", ":"))


# an unquoted key or value of the JSON-ish form: what follows ``{ [ , :`` up to the next ``, : } ]``
_BARE_WORD = re.compile(r'([{\[,:]\s*)([^\s"{}\[\],:][^{}\[\],:"]*?)(?=\s*[,:}\]])')


# --- group ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupType(RelationshipType):
    """A reference to a group of the runtime (``sys.groups``), stored like a relationship as ``{id, label}``; the
    label is the group's when the value is written (a group relabelled later keeps the old one in the records
    until the field is written again; filters look the group up as it is now).

    Written as ``{id}``, the bare id, or the group's name or label (``{name}`` / ``{label}`` too): an id wins,
    then a name, then a label (``entities.records.group_refs``). A bare filter value is looked up the same way
    and matches by id (``team=sales``); ``like`` reads the stored label; ``team.id`` / ``team.label`` filter one
    part."""

    finds_by_name: ClassVar[bool] = True
    filter_example: ClassVar[str | None] = "sales"

    def json_schema(self, field: Field, writing: bool) -> dict[str, Any] | None:
        example = {"id": OBJECT_ID_SCHEMA["example"], "label": "Sales"}
        if not writing:
            return {"type": "object", "required": ["id"], "example": example, "properties": {
                "id": {"type": "string"}, "label": {"type": "string", "nullable": True}}}
        ref = {"type": "object", "properties": {"id": OBJECT_ID_SCHEMA, "name": {"type": "string"},
                                                "label": {"type": "string"}}}
        return {"description": "A group: its id, name or label (an id wins, then a name, then a label), or "
                               "{\"id\"} / {\"name\"} / {\"label\"}", "anyOf": [{"type": "string"}, ref],
                "example": example}

    def load(self, value: Any, field: Field) -> Any:
        if isinstance(value, dict):
            if value.get("id") is not None:
                oid = parse_object_id(value["id"])
                if oid is None:
                    raise FieldInvalid("Not a valid group id")
                return {"id": oid}
            for key in ("name", "label"):
                if isinstance(value.get(key), str):
                    return {key: value[key]}
            raise FieldInvalid("A group is written as {id}, {name} or {label}")
        if isinstance(value, str) and value:
            return {"text": value}
        raise FieldInvalid("A group is written by id, name or label")

    def target_entity(self, field: Field) -> str | None:
        return None

    def check_rules(self, rules: dict[str, Any], path: str, errors: Errors, entity_names: set[str] | None) -> None:
        """A group field names no entity and has no rules of its own."""

    def index_keys(self, path: str, field: Field, top_level: bool) -> list[tuple[str, str, bool]]:
        return FieldType.index_keys(self, path, field, top_level)  # on the id, only when unique or indexable

    def resolve_one(self, field: Field, ref: dict[str, Any], path: str, refs: References, errors: Errors) -> Any:
        return refs.group(field, ref, path, errors)

    def named_ids(self, values: list[Any]) -> list[Any]:
        from core.services import services
        from entities.records.group_refs import named_group_ids

        return named_group_ids(services().store, [str(v) for v in values])


# --- geoPoint -----------------------------------------------------------------------------------

GEO_POINT_SHAPE = 'A geo point is {"latitude": <-90..90>, "longitude": <-180..180>}'
_CELL_POINT = re.compile(r"^\(?\s*([^,()\s]+)\s*,\s*([^,()\s]+)\s*\)?$")  # (lat,long), parentheses optional


def coordinate(value: Any, limit: int, name: str) -> int | float:
    """A latitude (``limit`` 90) or longitude (180): a finite number within ±limit."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or abs(value) > limit:
        raise FieldInvalid(f"{name} must be a number from -{limit} to {limit}")
    return value


@dataclass(frozen=True)
class GeoPointType(FieldType):
    """A point on the Earth, read and written as ``{latitude, longitude}`` and stored as a GeoJSON point
    (``{type: "Point", coordinates: [longitude, latitude]}``) under a 2dsphere index, so MongoDB's geo queries
    (``near``, the ``geoNear`` stage) work on it. Its text and CSV cell are ``(lat,long)``."""

    calculable: ClassVar[bool] = False
    index_kind: ClassVar[int | str] = "2dsphere"
    many_allowed: ClassVar[bool] = False
    filter_example: ClassVar[str | None] = "-34.6037,-58.3816,0,5000"

    def json_schema(self, field: Field, writing: bool) -> dict[str, Any] | None:
        return {"type": "object", "required": ["latitude", "longitude"], "additionalProperties": False,
                "example": {"latitude": -34.6037, "longitude": -58.3816},
                "properties": {"latitude": {"type": "number", "minimum": -90, "maximum": 90},
                               "longitude": {"type": "number", "minimum": -180, "maximum": 180}}}

    def load(self, value: Any, field: Field) -> Any:
        if not isinstance(value, dict) or set(value) != {"latitude", "longitude"}:
            raise FieldInvalid(GEO_POINT_SHAPE)
        latitude = coordinate(value["latitude"], 90, "latitude")
        return {"type": "Point", "coordinates": [coordinate(value["longitude"], 180, "longitude"), latitude]}

    def dump(self, stored: Any, field: Field) -> Any:
        if stored is None:
            return None
        longitude, latitude = stored["coordinates"][:2]
        return {"latitude": latitude, "longitude": longitude}

    def text(self, stored: Any, field: Field) -> str:
        if stored is None:
            return ""
        longitude, latitude = stored["coordinates"][:2]
        return f"({plain_number(latitude)},{plain_number(longitude)})"

    def index_keys(self, path: str, field: Field, top_level: bool) -> list[tuple[str, str, bool]]:
        return [(path, f"geo_{path}", False)]  # always: near and geoNear need it

    def cell_in(self, text: str, field: Field) -> Any:
        """``(lat,long)``, as exported."""
        found = _CELL_POINT.match(text.strip())
        try:
            if found is None:
                raise ValueError
            latitude, longitude = (float(n) if not n.lstrip("+-").isdigit() else int(n) for n in found.groups())
        except ValueError:
            raise FieldInvalid(f"'{text.strip()}' is not a geo point: use (latitude,longitude)") from None
        return {"latitude": latitude, "longitude": longitude}

    def cell_out(self, stored: Any, field: Field) -> str:
        return self.text(stored, field)


# Every other spelling the platform's documents use ("Dynamic choice", ``dynamic-choice``, "Geo point",
# ``geo-point``) differs from these names only in case, spaces and dashes: ``field_type`` finds them without
# an entry in ``TYPE_ALIASES``.
TYPES.update({t.name: t for t in [
    DynamicChoiceType("dynamicChoice", "choice", EQUALITY | {"like"}, frozenset()),
    GroupType("group", "reference", EQUALITY | {"like"}, frozenset({"first", "last"}), unique_allowed=True),
    GeoPointType("geoPoint", "geo", frozenset({"near"}), frozenset(), sortable=False),
]})
