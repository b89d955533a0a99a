"""Entity definitions as data: parsing and validating the metadata format into ``Entity``/``Field``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.errors import ValidationFailed, field_error
from core.regex import SafeRegexError, compile_safe
from entities.schemas import definition_errors
from entities.templates import Template, TemplateError
from entities.types import FIELD_NAME_RE, FieldType, field_type

NAME_RE = FIELD_NAME_RE
RESERVED = {"id", "version", "label", "entity"}
HISTORY_EVENTS = ("USER_RECORD_CREATED", "USER_RECORD_CHANGED", "USER_RECORD_DELETED", "USER_ACTION_PERFORMED",
                  "SCRIPT_RECORD_CREATED", "SCRIPT_RECORD_CHANGED", "SCRIPT_RECORD_DELETED",
                  "SCRIPT_ACTION_PERFORMED", "SYSTEM_CASCADE_UPDATE", "SYSTEM_REFACTORING")


# Other packages (actions) register extra checks of a raw definition: fn(raw, errors) appends errors.
# A check of a raw definition that other parts of entities add (actions, listeners): appends field errors.
T = TypeVar("T")
DefinitionCheck = Callable[[dict[str, Any], list[dict[str, Any]]], None]


@dataclass
class Field:
    name: str
    label: str
    type: FieldType
    many: bool = False
    required: bool = False
    unique: bool = False
    indexable: bool = False
    default: Any = None
    type_rules: dict[str, Any] = field(default_factory=dict)
    nested: list[Field] = field(default_factory=list)
    nested_label: Template | None = None
    calculated: Template | None = None
    path: str = ""
    id: str = ""
    copied: list[Field] = field(default_factory=list)  # relationship: the target's copied fields (registry)

    @property
    def target(self) -> str | None:
        return self.type_rules.get("entity") if self.type.name == "relationship" else None

    def copied_field(self, name: str) -> Field | None:
        return next((c for c in self.copied if c.name == name), None)

    @property
    def on_delete(self) -> str:
        return self.type_rules.get("onDelete") or "none"

    @property
    def update_label(self) -> bool:
        return self.type_rules.get("updateLabel", True) is not False

    @property
    def update_copied(self) -> bool:
        return self.type_rules.get("updateCopiedFields", True) is not False

    @property
    def type_name(self) -> str:
        return self.type.name

    @property
    def is_nested(self) -> bool:
        return self.type.is_nested

    @property
    def writable(self) -> bool:
        return self.type.writable and self.calculated is None

    @property
    def read_only(self) -> bool:
        """Its values are set by the runtime (a stamp, a calculated value, a ``setOn`` user): a client may send
        back the value it read, nothing else."""
        return self.calculated is not None or self.type.set_by_runtime(self)

    def inner(self, name: str) -> Field | None:
        for f in self.nested:
            if f.name == name:
                return f
        return None

    def choice_names(self) -> list[str]:
        out = []
        for v in self.type_rules.get("possibleValues", []):
            out.append(v["name"] if isinstance(v, dict) else v)
        return out

    def choice_label_map(self) -> dict[str, str]:
        out = {}
        for v in self.type_rules.get("possibleValues", []):
            if isinstance(v, dict):
                out[str(v.get("label", v["name"]))] = v["name"]
            else:
                out[v] = v
        return out


@dataclass
class HistorySettings:
    enabled: bool = False
    events: frozenset[str] = frozenset(HISTORY_EVENTS)
    ignored_fields: frozenset[str] = frozenset()
    keep_days: int | None = None
    on_record_deleted: str = "keep"  # keep | delete
    keep_deleted_days: int | None = None


@dataclass
class Entity:
    name: str
    label: str
    fields: list[Field]
    record_label: Template | None
    history: HistorySettings
    actions: list[dict[str, Any]]
    version: int
    id: str
    raw: dict[str, Any]
    global_search: bool = True
    pending: list[PendingRefactoring] = field(default_factory=list)  # set by the registry

    def derived(self, name: str, build: Callable[[Entity], T]) -> T:
        """``build(self)``, worked out once for this list of fields (and again when the list grows or is
        replaced): what the hot paths look up per record instead of looping over the fields each time."""
        fields = self.fields
        cached = self.__dict__.get(name)
        if cached is None or cached[0] is not fields or cached[1] != len(fields):
            cached = self.__dict__[name] = (fields, len(fields), build(self))
        return cached[2]

    def field(self, name: str) -> Field | None:
        return self.derived("_by_name", _fields_by_name).get(name)

    def resolve(self, path: str) -> Field | None:
        """The field at a dot path (``addresses.state``), or None."""
        parts = path.split(".")
        current: Field | None = self.field(parts[0])
        for part in parts[1:]:
            if current is None or not current.is_nested:
                return None
            current = current.inner(part)
        return current

    def action(self, name: str) -> dict[str, Any] | None:
        for a in self.actions:
            if a.get("name") == name:
                return a
        return None

    def text_fields(self) -> list[str]:
        """Dot paths of every text-like field, for global search."""
        out: list[str] = []

        def walk(fields: list[Field], prefix: str) -> None:
            for f in fields:
                if f.is_nested:
                    walk(f.nested, f"{prefix}{f.name}.")
                elif (path := f.type.search_path(f"{prefix}{f.name}")) is not None:
                    out.append(path)
        walk(self.fields, "")
        return out


def lookup_problem(entity: Entity, name: str) -> str | None:
    """Why field ``name`` of ``entity`` cannot find a record of it for a relationship written as
    ``{"<name>": value}`` (or as the bare value of ``lookupField``), or None when it can: a single value
    compared as stored, so not a nested group, a reference, a multi-valued field, nor a value compared by one of
    its keys (a dynamic choice) or not compared at all (a geo point)."""
    f = entity.field(name)
    if f is None:
        return f"'{name}' is not a field of '{entity.name}'"
    if f.is_nested or f.type.is_reference or f.many or f.type.filter_key is not None \
            or "equals" not in f.type.operators:
        return (f"'{name}' of '{entity.name}' cannot be used to find a record (nested groups, relationships, users, "
                "groups, files, dynamic choices, geo points and multi-valued fields cannot)")
    return None


def _fields_by_name(entity: Entity) -> dict[str, Field]:
    by_name: dict[str, Field] = {}
    for f in entity.fields:
        by_name.setdefault(f.name, f)  # the first of a name, as a scan finds it
    return by_name


@dataclass
class PendingRefactoring:
    """A definition change whose data migration is not finished: records written before ``to`` are read
    through ``old`` → ``new`` conversion until the REFACTORING job has rewritten them."""

    to: int
    old: Entity
    new: Entity
    on_error: str = "refuse"  # refuse | null


def _parse_field(raw: Any, index_path: str, errors: list[dict[str, Any]], entity_names: set[str] | None,
                 prefix: str = "") -> Field | None:
    if not isinstance(raw, dict):
        errors.append(field_error(index_path, "invalid", "A field definition must be an object"))
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or name in RESERVED:
        errors.append(field_error(f"{index_path}.name", "invalid",
                                  "Field names are letters and digits, start with a letter and are not "
                                  "id, version, label or entity", rejected=name))
        return None
    type_name = raw.get("type")
    ftype = field_type(type_name) if isinstance(type_name, str) else None
    if ftype is None:
        errors.append(field_error(f"{index_path}.type", "invalid", f"Unknown field type: {type_name!r}",
                                  rejected=type_name))
        return None
    multiplicity = raw.get("multiplicity", "one")
    if multiplicity not in ("one", "many"):
        errors.append(field_error(f"{index_path}.multiplicity", "invalid", "multiplicity is 'one' or 'many'"))
    rules = raw.get("typeRules") or {}
    if not isinstance(rules, dict):
        errors.append(field_error(f"{index_path}.typeRules", "invalid", "typeRules must be an object"))
        rules = {}
    _check_rules(rules, ftype, f"{index_path}.typeRules", errors, entity_names)
    for flag in ("required", "unique", "indexable"):
        if flag in raw and not isinstance(raw[flag], bool):
            errors.append(field_error(f"{index_path}.{flag}", "invalid", f"{flag} must be true or false"))
    if raw.get("unique") and not ftype.unique_allowed:
        errors.append(field_error(f"{index_path}.unique", "invalid", f"Type {ftype.name} cannot be unique"))
    if raw.get("indexable") and not ftype.index_allowed:
        errors.append(field_error(f"{index_path}.indexable", "invalid", f"Type {ftype.name} cannot be indexed"))
    if multiplicity == "many" and not ftype.many_allowed:
        errors.append(field_error(f"{index_path}.multiplicity", "invalid", f"Type {ftype.name} is single-valued"))
    if raw.get("calculated") is not None and not ftype.calculable:
        errors.append(field_error(f"{index_path}.calculated", "invalid", f"Type {ftype.name} cannot be calculated"))
    if entity_names is not None:  # a definition being saved (stored ones load as they were accepted)
        if raw.get("required") is True and not ftype.required_allowed:
            errors.append(field_error(f"{index_path}.required", "invalid", f"Type {ftype.name} cannot be required"))
        if raw.get("defaultValue") is not None and not ftype.default_allowed:
            errors.append(field_error(f"{index_path}.defaultValue", "invalid",
                                      f"Type {ftype.name} has no default value"))
    f = Field(name=name, label=str(raw.get("label") or _humanize(name)), type=ftype, many=multiplicity == "many",
              required=bool(raw.get("required")), unique=bool(raw.get("unique")),
              indexable=bool(raw.get("indexable")), type_rules=rules, path=prefix + name,
              id=str(raw.get("id") or ""))
    for key, attr in (("calculated", "calculated"), ("recordLabel", "nested_label")):
        if raw.get(key) is not None:
            try:
                setattr(f, attr, Template(raw[key]))
            except TemplateError as exc:
                errors.append(field_error(f"{index_path}.{key}", "invalid", str(exc)))
    if f.is_nested:
        inner_raw = raw.get("nestedFields")
        if not isinstance(inner_raw, list) or not inner_raw:
            errors.append(field_error(f"{index_path}.nestedFields", "invalid",
                                      "A nestedFields field needs a non-empty list of nestedFields"))
        else:
            f.nested = _parse_fields(inner_raw, f"{index_path}.nestedFields", errors, entity_names, f.path + ".")
    if "defaultValue" in raw and raw["defaultValue"] is not None:
        f.default = raw["defaultValue"]
        try:
            values = f.default if f.many and isinstance(f.default, list) else [f.default]
            for v in values:
                f.type.check_default(v, f)
        except Exception as exc:  # FieldInvalid or a type's own error
            errors.append(field_error(f"{index_path}.defaultValue", "invalid",
                                      f"Default value does not fit the field: {exc}"))
    ftype.check_field(f, index_path, errors)
    return f


def _check_rules(rules: dict[str, Any], ftype: FieldType, path: str, errors: list[dict[str, Any]],
                 entity_names: set[str] | None) -> None:
    for key in ("min", "max"):
        if key in rules and (isinstance(rules[key], bool) or not isinstance(rules[key], int | float)):
            errors.append(field_error(f"{path}.{key}", "invalid", f"{key} must be a number"))
    for key in ("minLength", "maxLength", "decimals"):
        if key in rules and (isinstance(rules[key], bool) or not isinstance(rules[key], int) or rules[key] < 0):
            errors.append(field_error(f"{path}.{key}", "invalid", f"{key} must be a non-negative integer"))
    if "pattern" in rules:
        try:
            compile_safe(rules["pattern"])
        except SafeRegexError as exc:
            errors.append(field_error(f"{path}.pattern", "invalid", f"Invalid regular expression: {exc}"))
    ftype.check_rules(rules, path, errors, entity_names)
    if "setOn" in rules and (ftype.name != "user" or rules["setOn"] not in ("create", "write")):
        errors.append(field_error(f"{path}.setOn", "invalid", 'setOn is "create" or "write", on user fields only',
                                  rejected=rules["setOn"]))


def _parse_fields(raw_fields: list[Any], path: str, errors: list[dict[str, Any]], entity_names: set[str] | None,
                  prefix: str = "") -> list[Field]:
    fields: list[Field] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_fields):
        f = _parse_field(raw, f"{path}[{i}]", errors, entity_names, prefix)
        if f is None:
            continue
        if f.name in seen:
            errors.append(field_error(f"{path}[{i}].name", "duplicate", f"Duplicate field name: {f.name}"))
            continue
        seen.add(f.name)
        fields.append(f)
    return fields


def _humanize(name: str) -> str:
    spaced = re.sub(r"(?<!^)(?=[A-Z])", " ", name)
    return spaced[:1].upper() + spaced[1:].lower()


def _parse_history(raw: Any, errors: list[dict[str, Any]]) -> HistorySettings:
    if raw is None or raw is False:
        return HistorySettings(enabled=False)
    if raw is True:
        return HistorySettings(enabled=True)
    if not isinstance(raw, dict):
        errors.append(field_error("history", "invalid", "history is true, false or an object"))
        return HistorySettings()
    settings = HistorySettings(enabled=bool(raw.get("enabled", True)))
    events = raw.get("events")
    if events is not None:
        if not isinstance(events, list) or any(e not in HISTORY_EVENTS for e in events):
            errors.append(field_error("history.events", "invalid", f"events must be a list of {HISTORY_EVENTS}"))
        else:
            settings.events = frozenset(events)
    ignored = raw.get("ignoredFields")
    if ignored is not None:
        if not isinstance(ignored, list) or not all(isinstance(x, str) for x in ignored):
            errors.append(field_error("history.ignoredFields", "invalid", "ignoredFields must be a list of names"))
        else:
            settings.ignored_fields = frozenset(ignored)
    for key, attr in (("keepDays", "keep_days"), ("keepDeletedDays", "keep_deleted_days")):
        value = raw.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                errors.append(field_error(f"history.{key}", "invalid", f"{key} must be a positive integer"))
            else:
                setattr(settings, attr, value)
    on_delete = raw.get("onRecordDeleted", "keep")
    if on_delete not in ("keep", "delete"):
        errors.append(field_error("history.onRecordDeleted", "invalid", "onRecordDeleted is 'keep' or 'delete'"))
    else:
        settings.on_record_deleted = on_delete
    return settings


HISTORY_KEYS = ("enabled", "events", "ignoredFields", "keepDays", "keepDeletedDays", "onRecordDeleted")
RANGES = (("min", "max"), ("minLength", "maxLength"))


def check_rules_and_history(raw: dict[str, Any], errors: list[dict[str, Any]]) -> None:
    """Checks of a definition being saved (a ``Registry`` check; stored definitions load as they were accepted):
    ``typeRules`` no value can meet (``min`` above ``max``, ``minLength`` above ``maxLength``), and ``history``
    settings with an unknown key or ``ignoredFields`` naming no field of the entity."""
    fields = raw.get("fields") if isinstance(raw.get("fields"), list) else []
    _check_ranges(fields, "fields", errors)
    history = raw.get("history")
    if not isinstance(history, dict):
        return
    for key in history:
        if key not in HISTORY_KEYS:
            errors.append(field_error(f"history.{key}", "unknown", f"Unknown history setting; the settings are "
                                      f"{', '.join(HISTORY_KEYS)}", rejected=key))
    ignored = history.get("ignoredFields")
    names = {f.get("name") for f in fields if isinstance(f, dict)}
    for i, name in enumerate(ignored if isinstance(ignored, list) else []):
        if isinstance(name, str) and name not in names:
            errors.append(field_error(f"history.ignoredFields[{i}]", "invalid",
                                      f"'{name}' is not a field of this entity", rejected=name))


def _check_ranges(fields: list[Any], path: str, errors: list[dict[str, Any]]) -> None:
    for i, raw in enumerate(fields):
        if not isinstance(raw, dict):
            continue
        rules = raw.get("typeRules")
        for low, high in RANGES if isinstance(rules, dict) else ():
            lo, hi = rules.get(low), rules.get(high)
            if _is_number(lo) and _is_number(hi) and lo > hi:
                errors.append(field_error(f"{path}[{i}].typeRules.{high}", "invalid",
                                          f"{high} ({hi}) is below {low} ({lo}): no value could meet both",
                                          rejected=hi))
        if isinstance(raw.get("nestedFields"), list):
            _check_ranges(raw["nestedFields"], f"{path}[{i}].nestedFields", errors)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_entity(raw: Any, entity_names: set[str] | None = None, version: int = 0, entity_id: str = "",
                 expected_name: str | None = None, checks: Iterable[DefinitionCheck] = ()) -> Entity:
    """Validate a raw definition; raise ``ValidationFailed`` listing every problem found."""
    errors: list[dict[str, Any]] = []
    if not isinstance(raw, dict):
        raise ValidationFailed([field_error("", "invalid", "An entity definition must be a JSON object")])
    errors = definition_errors(raw)
    if errors:
        raise ValidationFailed(errors, message="The entity definition is not valid")
    name = raw.get("name", expected_name)
    if not isinstance(name, str) or not NAME_RE.match(name):
        errors.append(field_error("name", "invalid", "Entity names are letters and digits and start with a letter",
                                  rejected=name))
        name = ""
    elif expected_name is not None and name != expected_name:
        errors.append(field_error("name", "invalid", "The name in the body differs from the one in the URL"))
    raw_fields = raw.get("fields", [])
    if not isinstance(raw_fields, list):
        errors.append(field_error("fields", "invalid", "fields must be a list"))
        raw_fields = []
    names = set(entity_names or ()) | ({name} if name else set())
    fields = _parse_fields(raw_fields, "fields", errors, names if entity_names is not None else None)
    record_label = None
    if raw.get("recordLabel") is not None:
        try:
            record_label = Template(raw["recordLabel"])
            unknown = [p for p in record_label.paths if not _resolve_in(fields, p)]
            if unknown:
                errors.append(field_error("recordLabel", "invalid", f"Unknown fields in recordLabel: {unknown}"))
        except TemplateError as exc:
            errors.append(field_error("recordLabel", "invalid", str(exc)))
    history = _parse_history(raw.get("history"), errors)
    actions = raw.get("actions", [])
    if not isinstance(actions, list):
        errors.append(field_error("actions", "invalid", "actions must be a list"))
        actions = []
    for check in checks:
        check(raw, errors)
    if errors:
        raise ValidationFailed(errors, message="The entity definition is not valid")
    return Entity(name=name, label=str(raw.get("label") or _humanize(name)), fields=fields,
                  record_label=record_label, history=history, actions=actions, version=version, id=entity_id,
                  raw=raw, global_search=bool(raw.get("globalSearch", True)))


def _resolve_in(fields: list[Field], path: str) -> bool:
    parts = path.split(".")
    current = next((f for f in fields if f.name == parts[0]), None)
    for part in parts[1:]:
        if current is None:
            return False
        if current.type.is_reference and part in (current.type.reference_key, current.type.text_key):
            return True
        current = current.inner(part)
    return current is not None
