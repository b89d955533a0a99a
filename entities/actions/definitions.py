"""Action definitions in entity metadata, validated when the metadata is saved.

An action is ``{name, label, type: oneRecord|manyRecords|global, parameters: [fields], precondition: {query
map}, async: bool, customResponse: bool}`` plus what it does: a declarative ``update`` (field → value, where
``"#{x}"`` or ``{"param": "x"}`` takes parameter ``x``, and ``#{x}`` inside a longer text puts its text there) or a
Python ``handler`` named ``module:function`` in a module listed in ``APP_MODULES``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from core.config import Config
from core.errors import field_error
from core.handlers import resolve_handler
from entities.metadata import NAME_RE, Entity, Field, _parse_fields

TYPES = ("oneRecord", "manyRecords", "global")
PARAM_REF = re.compile(r"#\{\s*([^{}]*?)\s*\}")  # ``#{name}`` in an update value: the parameter ``name``


@dataclass
class Action:
    name: str
    label: str
    type: str
    parameters: list[Field] = field(default_factory=list)
    precondition: dict[str, Any] | None = None
    run_async: bool = False
    custom_response: bool = False
    update: dict[str, Any] | None = None
    handler: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def allowed_modules() -> tuple[str, ...]:
    try:
        from flask import current_app
        return tuple(current_app.config["RUNTIME"].app_modules)
    except (RuntimeError, KeyError):
        return Config.from_env().app_modules


def parse_action(raw: Any, index: int, field_names: set[str], errors: list[dict[str, Any]]) -> Action | None:
    path = f"actions[{index}]"
    if not isinstance(raw, dict):
        errors.append(field_error(path, "invalid", "An action is an object"))
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or name in ("aggregate", "export", "import", "history"):
        errors.append(field_error(f"{path}.name", "invalid", "Action names are letters and digits (not reserved)"))
        return None
    kind = raw.get("type", "oneRecord")
    if kind not in TYPES:
        errors.append(field_error(f"{path}.type", "invalid", f"type is one of {TYPES}"))
    params_raw = raw.get("parameters", [])
    params = _parse_fields(params_raw, f"{path}.parameters", errors, None) if isinstance(params_raw, list) else []
    if not isinstance(params_raw, list):
        errors.append(field_error(f"{path}.parameters", "invalid", "parameters is a list of fields"))
    precondition = raw.get("precondition")
    if precondition is not None:
        if not isinstance(precondition, dict) or kind != "oneRecord":
            errors.append(field_error(f"{path}.precondition", "invalid",
                                      "A precondition is a query map, on oneRecord actions only"))
        else:
            unknown = [k for k in precondition if k.split(".")[0] not in field_names | {"id"}]
            if unknown:
                errors.append(field_error(f"{path}.precondition", "invalid", f"Unknown fields: {unknown}"))
    update, handler = raw.get("update"), raw.get("handler")
    if (update is None) == (handler is None):
        errors.append(field_error(path, "invalid", "An action has either an 'update' or a 'handler'"))
    if update is not None:
        if not isinstance(update, dict) or not update or kind == "global":
            errors.append(field_error(f"{path}.update", "invalid",
                                      "update is a non-empty map of field values (not on global actions)"))
        else:
            param_names = {p.name for p in params}
            for key, value in update.items():
                if key not in field_names:
                    errors.append(field_error(f"{path}.update", "invalid", f"Unknown field: {key}"))
                for ref in param_refs(value):
                    if ref not in param_names:
                        errors.append(field_error(f"{path}.update.{key}", "invalid", f"Unknown parameter: {ref}"))
    if handler is not None:
        try:
            if not isinstance(handler, str):
                raise ValueError("A handler is named 'module:function'")
            resolve_handler(handler, allowed_modules())
        except ValueError as exc:
            errors.append(field_error(f"{path}.handler", "invalid", str(exc)))
    for flag in ("async", "customResponse"):
        if flag in raw and not isinstance(raw[flag], bool):
            errors.append(field_error(f"{path}.{flag}", "invalid", f"{flag} must be true or false"))
    return Action(name=name, label=str(raw.get("label") or name), type=kind, parameters=params,
                  precondition=precondition, run_async=bool(raw.get("async", False)),
                  custom_response=bool(raw.get("customResponse", kind == "manyRecords")), update=update,
                  handler=handler, raw=raw)


def check_definition(raw: dict[str, Any], errors: list[dict[str, Any]]) -> None:
    actions = raw.get("actions")
    if not isinstance(actions, list):
        return
    fields = raw.get("fields") if isinstance(raw.get("fields"), list) else []
    names = {f.get("name") for f in fields if isinstance(f, dict)}
    seen: set[str] = set()
    for i, a in enumerate(actions):
        action = parse_action(a, i, names, errors)
        if action is not None:
            if action.name in seen:
                errors.append(field_error(f"actions[{i}].name", "duplicate", f"Duplicate action: {action.name}"))
            seen.add(action.name)


def action_of(entity: Entity, name: str) -> Action | None:
    raw = entity.action(name)
    if raw is None:
        return None
    names = {f.name for f in entity.fields}
    return parse_action(raw, 0, names, [])



def param_refs(value: Any) -> list[str]:
    """The parameters an ``update`` value refers to: ``{"param": "x"}``, or each ``#{x}`` of a text."""
    if isinstance(value, dict) and set(value) == {"param"}:
        return [str(value["param"])]
    return PARAM_REF.findall(value) if isinstance(value, str) else []


def update_values(action: Action, params: dict[str, Any]) -> dict[str, Any]:
    """The field values an ``update`` action sets, given its parameters (their REST JSON): a value that is one
    reference (``{"param": "x"}`` or ``"#{x}"``) is the parameter's value as it is (a number stays a number),
    and a reference inside a longer text is replaced by the parameter's text."""
    body: dict[str, Any] = {}
    for key, value in (action.update or {}).items():
        if isinstance(value, dict) and set(value) == {"param"}:
            body[key] = params.get(value["param"])
        elif isinstance(value, str) and (whole := PARAM_REF.fullmatch(value)) is not None:
            body[key] = params.get(whole.group(1))
        elif isinstance(value, str):
            body[key] = PARAM_REF.sub(lambda m: _text(params.get(m.group(1))), value)
        else:
            body[key] = value
    return body


def _text(value: Any) -> str:
    """A parameter's JSON value as text in a longer value: nothing for null, a related record by its label."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict) and "label" in value:
        return _text(value["label"])
    return json.dumps(value)
