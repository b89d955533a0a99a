"""A regular user's permissions on one entity: the union of their groups' rules, compiled once.

A group's ``permissions`` document (``sys.groups``, managed through ``/groups``)::

    {"api": {"data": true, "files": true, "uploadFiles": true, "jobs": true},
     "entities": {"companies": {"access": "always", "create": "always", "edit": {"when": {"state": "active"}},
                                "delete": "never", "history": "always", "import": false, "export": true,
                                "fields": {"notes": "none", "rating": "readOnly"},
                                "actions": {"logSomething": "always"}}}}

A rule is ``"always"``, ``"never"`` or ``{"when": <query map>}``; missing means never (a new group can do
nothing). Across groups the most permissive wins: ``always`` over ``when`` (whose filters are OR-ed) over
``never``; a field is ``readWrite`` unless every group that has the entity says less. ``when`` maps are in
the query language of ``GET /data/{entity}``; ``"currentUser()"`` stands for the caller's id and
``"currentUser().email"`` for their email.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mongomock_ng.filtering import filter_applies

from entities.metadata import Entity
from entities.query import map_filter

OPERATIONS = ("access", "create", "edit", "delete", "history")
FLAGS = ("import", "export")
CURRENT_USER, CURRENT_USER_EMAIL = "currentUser()", "currentUser().email"
FIELD_LEVELS = {"none": 0, "readOnly": 1, "readWrite": 2}
API_FLAGS = ("data", "files", "uploadFiles", "jobs")


@dataclass(frozen=True)
class Rule:
    """``always``, ``never`` or a Mongo filter the record must match."""

    always: bool = False
    filter: dict[str, Any] | None = None  # None with always=False: never

    @property
    def never(self) -> bool:
        return not self.always and self.filter is None

    def mongo(self) -> dict[str, Any] | None:
        """The filter to AND into a query: ``{}`` for always, None for never."""
        return {} if self.always else self.filter

    def allows(self, doc: dict[str, Any] | None) -> bool:
        if self.always:
            return True
        if self.filter is None or doc is None:
            return False
        return filter_applies(self.filter, doc)

    def both(self, other: Rule) -> Rule:
        """A record must satisfy this rule and ``other``."""
        if self.never or other.never:
            return NEVER
        if self.always:
            return other
        if other.always:
            return self
        return Rule(filter={"$and": [self.filter, other.filter]})


ALWAYS, NEVER = Rule(always=True), Rule()


@dataclass(frozen=True)
class EntityPolicy:
    """What the caller may do with the records of one entity."""

    access: Rule = ALWAYS
    create: Rule = ALWAYS
    edit: Rule = ALWAYS
    delete: Rule = ALWAYS
    history: Rule = ALWAYS
    can_import: bool = True
    can_export: bool = True
    fields: dict[str, str] = field(default_factory=dict)  # path → none | readOnly (readWrite is not listed)
    actions: dict[str, Rule] | None = None  # None: every action always
    unrestricted: bool = True

    def field_level(self, path: str) -> str:
        """A field's level; nested fields inherit their parent's unless set."""
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            level = self.fields.get(".".join(parts[:end]))
            if level is not None:
                return level
        return "readWrite"

    def hidden(self) -> list[str]:
        return [p for p, level in self.fields.items() if level == "none"]

    def not_writable(self) -> list[str]:
        return [p for p, level in self.fields.items() if level in ("none", "readOnly")]

    def action(self, name: str) -> Rule:
        if self.actions is None:
            return ALWAYS
        return self.actions.get(name, NEVER)


UNRESTRICTED = EntityPolicy()


def substitute(value: Any, user: dict[str, Any]) -> Any:
    """Replace ``currentUser()`` / ``currentUser().email`` placeholders in a ``when`` map."""
    if isinstance(value, str):
        if value == CURRENT_USER:
            return str(user.get("_id"))
        if value == CURRENT_USER_EMAIL:
            return user.get("email")
        return value
    if isinstance(value, dict):
        return {k: substitute(v, user) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, user) for v in value]
    return value


def _merge_rules(entity: Entity, raws: Iterable[Any], user: dict[str, Any]) -> Rule:
    filters: list[dict[str, Any]] = []
    for raw in raws:
        if raw == "always":
            return ALWAYS
        if isinstance(raw, dict) and isinstance(raw.get("when"), dict):
            filters.append(map_filter(entity, substitute(raw["when"], user)))
    if not filters:
        return NEVER
    return Rule(filter=filters[0] if len(filters) == 1 else {"$or": filters})


def compile_policy(entity: Entity, documents: list[dict[str, Any]], user: dict[str, Any]) -> EntityPolicy:
    """The union of the groups' ``entities.<name>`` documents for ``user``."""
    docs = [d for d in documents if isinstance(d, dict)]
    rules = {op: _merge_rules(entity, (d.get(op) for d in docs), user) for op in OPERATIONS}
    access = rules["access"]
    fields: dict[str, str] = {}
    if docs:
        paths = set().union(*((d.get("fields") or {}).keys() for d in docs))
        for path in paths:
            level = max(FIELD_LEVELS.get((d.get("fields") or {}).get(path, "readWrite"), 2) for d in docs)
            if level < 2:
                fields[path] = "none" if level == 0 else "readOnly"
    action_names = set().union(*((d.get("actions") or {}).keys() for d in docs)) if docs else set()
    actions = {name: access.both(_merge_rules(entity, ((d.get("actions") or {}).get(name) for d in docs), user))
               for name in action_names}
    return EntityPolicy(
        access=access, create=rules["create"], edit=access.both(rules["edit"]),
        delete=access.both(rules["delete"]), history=access.both(rules["history"]),
        can_import=any(d.get("import") is True for d in docs) and not rules["create"].never,
        can_export=any(d.get("export") is True for d in docs) and not access.never,
        fields=fields, actions=actions, unrestricted=False)
