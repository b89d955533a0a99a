"""Groups' permission rules follow a change of the entity definition they are about.

A group names fields by path: in ``fields`` (its field levels) and in the query maps of ``when`` rules. When a
definition renames a field, those paths move with it; a removed field's level is dropped. A ``when`` rule that
still does not fit the new definition (it names a removed field, or the field is in a ``_query`` string) refuses
the change with a 400 naming the group, to change there first.

Field levels never lapse in between: before the definition is saved every moved level is held under its old
and its new path, and only once the save ended is the old one dropped (or, when the save failed, the new one).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from core.errors import ApiError
from entities.metadata import Entity
from entities.permissions.policy import FIELD_LEVELS, OPERATIONS
from entities.refactoring.planner import moved_path, renamed_query_map
from runtime.users.permissions_doc import entity_rules_errors

MAX_RETRIES = 20


class GroupRulesFollower:
    def __init__(self, groups: Any):
        self.groups = groups

    def _naming(self, entity_name: str) -> list[dict[str, Any]]:
        """The groups with rules about ``entity_name``."""
        found = self.groups.find({f"permissions.entities.{entity_name}": {"$exists": True}},
                                 {"name": 1, "version": 1, "permissions": 1})
        return [g for g in found if isinstance(_rules(g, entity_name), dict)]

    def check(self, entity_name: str, new_entity: Entity, moves: dict[str, str | None]) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        for group in self._naming(entity_name):
            found = entity_rules_errors(new_entity, followed(_rules(group, entity_name), moves, keep_old=False),
                                        f"permissions.entities.{entity_name}")
            for error in found:
                error["message"] = (f"Group '{group['name']}': {error['message']} (the change renames or removes a "
                                    f"field this rule uses: change the group first)")
                error["field"] = f"groups.{group['name']}.{error['field']}"
            errors += found
        return errors

    def follow(self, entity_name: str, moves: dict[str, str | None]) -> Callable[[bool], None]:
        before = {g["_id"]: _rules(g, entity_name) for g in self._naming(entity_name)}
        both = {group_id: followed(rules, moves, keep_old=True) for group_id, rules in before.items()}
        for group_id in before:
            self._rewrite(group_id, entity_name, lambda _, group_id=group_id: both[group_id])

        def finish(saved: bool) -> None:
            for group_id, rules in before.items():
                def make(current: dict[str, Any], rules: dict[str, Any] = rules, group_id: Any = group_id) -> Any:
                    if current != both[group_id]:  # changed meanwhile by someone else: theirs, followed
                        return followed(current, moves, keep_old=False) if saved else current
                    return followed(rules, moves, keep_old=False) if saved else rules
                self._rewrite(group_id, entity_name, make)
        return finish

    def _rewrite(self, group_id: Any, entity_name: str, make: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Set the group's rules about ``entity_name`` (compare-and-set on ``version``, which also makes every
        process compile its policies again)."""
        for _ in range(MAX_RETRIES):
            group = self.groups.find_one({"_id": group_id}, {"version": 1, "permissions": 1})
            current = _rules(group, entity_name) if group else None
            if not isinstance(current, dict):
                return  # deleted, or its rules about the entity taken out meanwhile
            rules = make(current)
            if rules == current:
                return
            permissions = copy.deepcopy(group.get("permissions") or {})
            permissions["entities"][entity_name] = rules
            version = group.get("version", 0)
            if self.groups.update_one({"_id": group_id, "version": version},
                                      {"$set": {"permissions": permissions}, "$inc": {"version": 1}}).matched_count:
                return
        raise ApiError(503, "A group changed too often to follow the definition change; try again")


def _rules(group: dict[str, Any], entity_name: str) -> Any:
    return (((group.get("permissions") or {}).get("entities")) or {}).get(entity_name)


def followed(rules: dict[str, Any], moves: dict[str, str | None], keep_old: bool) -> dict[str, Any]:
    """``rules`` with their field paths moved: field levels (also under the old path with ``keep_old``; a removed
    field's level is dropped unless ``keep_old``) and the query maps of ``when`` rules (not with ``keep_old``:
    a map names one set of paths)."""
    out = dict(rules)
    levels = rules.get("fields")
    if isinstance(levels, dict):
        moved: dict[str, Any] = {}
        for path, level in levels.items():
            targets = [path] if keep_old else []
            new_path = moved_path(path, moves) if isinstance(path, str) else path
            if new_path is not None:
                targets.append(new_path)
            for target in targets:  # two rules on one path (names swapped): the stricter holds meanwhile
                moved[target] = level if target not in moved else _stricter(moved[target], level)
        out["fields"] = moved
    if keep_old:
        return out
    for key in OPERATIONS:
        out[key] = _followed_rule(rules.get(key), moves)
    if isinstance(rules.get("actions"), dict):
        out["actions"] = {name: _followed_rule(rule, moves) for name, rule in rules["actions"].items()}
    return {k: v for k, v in out.items() if k in rules}


def _stricter(a: Any, b: Any) -> Any:
    return min(a, b, key=lambda level: FIELD_LEVELS.get(level, len(FIELD_LEVELS)))


def _followed_rule(rule: Any, moves: dict[str, str | None]) -> Any:
    if isinstance(rule, dict) and isinstance(rule.get("when"), dict):
        return {**rule, "when": renamed_query_map(rule["when"], moves)}
    return rule
