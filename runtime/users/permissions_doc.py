"""Validation of a group's ``permissions`` document (enforced by the permissions layer, checked here).

```
{"api": {"data": bool, "files": bool, "uploadFiles": bool, "jobs": bool},
 "entities": {"<entity>": {"access"|"create"|"edit"|"delete"|"history": <rule>, "import"|"export": bool,
                           "fields": {"<field path>": "readWrite"|"readOnly"|"none"},
                           "actions": {"<action>": <rule>}}}}
```
A rule is ``"always"``, ``"never"`` or ``{"when": <query map>}``; a query-map value may be the placeholder
``"currentUser()"`` (the caller's id) or ``"currentUser().email"``. Unknown names are field errors.
"""

from __future__ import annotations

from typing import Any

from core.errors import ApiError, field_error
from entities.metadata import Entity
from entities.permissions.policy import API_FLAGS, FIELD_LEVELS, FLAGS, OPERATIONS, substitute
from entities.query.parser import map_filter
from entities.registry import Registry

FIELD_RULES = tuple(reversed(FIELD_LEVELS))  # readWrite, readOnly, none
# The placeholders replaced by a sample user, so the query parser can check a ``when`` filter.
_SAMPLE_USER = {"_id": "000000000000000000000000", "email": "user@example.com"}


def validate_permissions(raw: Any, registry: Registry) -> list[dict[str, Any]]:
    """Field errors (``permissions.<path>``) for everything wrong in ``raw``; an empty list when it is valid."""
    errors: list[dict[str, Any]] = []
    if raw is None:
        return errors
    if not isinstance(raw, dict):
        return [field_error("permissions", "invalid", "permissions must be an object")]
    for key in raw:
        if key not in ("api", "entities"):
            errors.append(field_error(f"permissions.{key}", "invalid", f"Unknown permissions section '{key}'"))
    api = raw.get("api", {})
    if not isinstance(api, dict):
        errors.append(field_error("permissions.api", "invalid", "api must be an object of flags"))
    else:
        for key, value in api.items():
            if key not in API_FLAGS:
                errors.append(field_error(f"permissions.api.{key}", "invalid",
                                          f"Unknown API flag '{key}' (one of {', '.join(API_FLAGS)})"))
            elif not isinstance(value, bool):
                errors.append(field_error(f"permissions.api.{key}", "invalid", "must be true or false"))
    entities = raw.get("entities", {})
    if not isinstance(entities, dict):
        errors.append(field_error("permissions.entities", "invalid", "entities must be an object"))
        return errors
    known = registry.all()
    for name, rules in entities.items():
        path = f"permissions.entities.{name}"
        entity = known.get(name)
        if entity is None:
            errors.append(field_error(path, "invalid", f"Unknown entity '{name}'", rejected=name))
        elif not isinstance(rules, dict):
            errors.append(field_error(path, "invalid", "entity permissions must be an object"))
        else:
            _entity_rules(entity, rules, path, errors)
    return errors


def entity_rules_errors(entity: Entity, rules: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """Field errors (``<path>.<key>``) for a group's rules about ``entity``."""
    errors: list[dict[str, Any]] = []
    _entity_rules(entity, rules, path, errors)
    return errors


def _entity_rules(entity: Entity, rules: dict[str, Any], path: str, errors: list[dict[str, Any]]) -> None:
    for key, value in rules.items():
        p = f"{path}.{key}"
        if key in OPERATIONS:
            _rule(entity, value, p, errors)
        elif key in FLAGS:
            if not isinstance(value, bool):
                errors.append(field_error(p, "invalid", "must be true or false"))
        elif key == "fields":
            if not isinstance(value, dict):
                errors.append(field_error(p, "invalid", "fields must be an object of field rules"))
                continue
            for field, rule in value.items():
                if entity.resolve(field) is None:
                    errors.append(field_error(f"{p}.{field}", "invalid", f"Unknown field '{field}' in "
                                              f"'{entity.name}'", rejected=field))
                elif rule not in FIELD_RULES:
                    errors.append(field_error(f"{p}.{field}", "invalid",
                                              f"A field rule is one of {', '.join(FIELD_RULES)}", rejected=rule))
        elif key == "actions":
            if not isinstance(value, dict):
                errors.append(field_error(p, "invalid", "actions must be an object of rules"))
                continue
            for action, rule in value.items():
                if entity.action(action) is None:
                    errors.append(field_error(f"{p}.{action}", "invalid", f"Unknown action '{action}' in "
                                              f"'{entity.name}'", rejected=action))
                else:
                    _rule(entity, rule, f"{p}.{action}", errors)
        else:
            errors.append(field_error(p, "invalid", f"Unknown permission '{key}'", rejected=key))


def _rule(entity: Entity, rule: Any, path: str, errors: list[dict[str, Any]]) -> None:
    if rule in ("always", "never"):
        return
    if not isinstance(rule, dict) or set(rule) != {"when"} or not isinstance(rule["when"], dict) or not rule["when"]:
        errors.append(field_error(path, "invalid", 'A rule is "always", "never" or {"when": {<filter>}}'))
        return
    try:
        map_filter(entity, substitute(rule["when"], _SAMPLE_USER))
    except ApiError as exc:
        errors.append(field_error(f"{path}.when", "invalid", exc.message))
