"""A regular user's permissions on one entity: the union of their groups' rules, compiled once.

A group's ``permissions`` document (``sys.groups``, managed through ``/groups``)::

    {"api": {"data": true, "files": true, "uploadFiles": true, "jobs": true},
     "entities": {"companies": {"access": "always", "create": "always", "edit": {"when": {"state": "active"}},
                                "delete": "never", "history": "always", "import": false, "export": true,
                                "fields": {"notes": "none", "rating": "readOnly"},
                                "actions": {"logSomething": "always"}}}}

A rule is ``"always"``, ``"never"`` or ``{"when": <query map>}``; missing means never (a new group can do
nothing). A user may do what one of their groups allows: ``always`` over ``when`` (whose filters are OR-ed)
over ``never``, where a group allows edit, delete, history and actions only on the records it may access.
``when`` maps are in the query language of ``GET /data/{entity}``; ``"currentUser()"`` stands for the
caller's id and ``"currentUser().email"`` for their email.

Field levels are worked out per group, then the highest wins. In a group, a field takes the level the group
names for it or for the nearest nested group above it (``Parent``); a field it names nowhere is ``readWrite``
when the group can create or edit the entity and ``readOnly`` when it can only access it (the platform gives a
new field exactly these levels). A group with no permission on the entity grants nothing on its fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from mongomock_ng.filtering import filter_applies

from entities.metadata import Entity, Field
from entities.query import map_filter
from entities.query.conditions import Literal

OPERATIONS = ("access", "create", "edit", "delete", "history")
FLAGS = ("import", "export")
CURRENT_USER, CURRENT_USER_EMAIL = "currentUser()", "currentUser().email"
FIELD_LEVELS = {"none": 0, "readOnly": 1, "readWrite": 2}
LEVEL_NAMES = tuple(FIELD_LEVELS)
REFERENCE_KEYS = ("id", "label")  # a relationship value's own keys: shown whenever the relationship is
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
class LinkedFields:
    """The caller's field levels on the entity a relationship points at: its value's copied fields (and the
    related record fetched with it) show only what the caller may see on that entity."""

    fields: dict[str, str] = field(default_factory=dict)
    default: str = "readWrite"
    hidden: tuple[str, ...] = ()  # the target's fields hidden from the caller that a relationship value may hold

    def level(self, path: str) -> str:
        return _level(self.fields, self.default, path)


@dataclass(frozen=True)
class EntityPolicy:
    """What the caller may do with the records of one entity."""

    access: Rule = ALWAYS
    create: Rule = ALWAYS
    edit: Rule = ALWAYS
    delete: Rule = ALWAYS
    history: Rule = ALWAYS
    export: Rule = ALWAYS  # the records an export may write: those the groups that grant export may access
    can_import: bool = True
    fields: dict[str, str] = field(default_factory=dict)  # path → level, for every path a group names
    default_field: str = "readWrite"  # the level of a field no group names
    links: dict[str, LinkedFields] = field(default_factory=dict)  # relationship path → its target's levels
    actions: dict[str, Rule] | None = None  # None: every action always
    unrestricted: bool = True

    @property
    def can_export(self) -> bool:
        return not self.export.never

    def field_level(self, path: str) -> str:
        """A field's level; nested fields inherit their parent's unless set. Below a relationship
        (``company.type``: a copied field, or a field of the related record) the target entity's level counts too."""
        own = _level(self.fields, self.default_field, path)
        if not self.links or own == "none":
            return own
        parts = path.split(".")
        for end in range(len(parts) - 1, 0, -1):
            linked = self.links.get(".".join(parts[:end]))
            if linked is not None:
                if parts[end] in REFERENCE_KEYS:
                    return own
                return LEVEL_NAMES[min(FIELD_LEVELS[own], FIELD_LEVELS[linked.level(".".join(parts[end:]))])]
        return own

    @cached_property
    def _hidden(self) -> tuple[str, ...]:
        own = [p for p, level in self.fields.items() if level == "none"]
        shown_links = [(path, link) for path, link in self.links.items() if self.field_level(path) != "none"]
        return (*own, *(f"{path}.{h}" for path, link in shown_links for h in link.hidden))

    def hidden(self) -> list[str]:
        """The paths a response drops: hidden fields, and hidden fields of related entities in relationship values."""
        return list(self._hidden)

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
            return Literal(str(user.get("_id")))
        if value == CURRENT_USER_EMAIL:  # an email may hold ``,`` or ``(``: never read as the REST syntax
            email = user.get("email")
            return Literal(email) if isinstance(email, str) else email
        return value
    if isinstance(value, dict):
        return {k: substitute(v, user) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, user) for v in value]
    return value


def _group_rule(entity: Entity, raw: Any, user: dict[str, Any]) -> Rule:
    """One group's rule for one operation."""
    if raw == "always":
        return ALWAYS
    if isinstance(raw, dict) and isinstance(raw.get("when"), dict):
        return Rule(filter=map_filter(entity, substitute(raw["when"], user)))
    return NEVER


def _either(rules: Iterable[Rule]) -> Rule:
    """A record may be handled when one of ``rules`` allows it."""
    filters: list[dict[str, Any]] = []
    for rule in rules:
        if rule.always:
            return ALWAYS
        if rule.filter is not None:
            filters.append(rule.filter)
    if not filters:
        return NEVER
    return Rule(filter=filters[0] if len(filters) == 1 else {"$or": filters})


def _level(named: dict[str, Any], default: Any, path: str) -> Any:
    """The level ``named`` gives ``path`` or the nearest nested group above it, else ``default``."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        level = named.get(".".join(parts[:end]))
        if level is not None:
            return level
    return default


def _grants(raw: Any) -> bool:
    """Whether a group's rule lets it do something (``always`` or a ``when``)."""
    return raw == "always" or (isinstance(raw, dict) and isinstance(raw.get("when"), dict))


def _group_fields(doc: dict[str, Any]) -> tuple[dict[str, int], int] | None:
    """One group's field levels on an entity: the paths it names, and the level of the others (``readWrite``
    when it can create or edit, ``readOnly`` when it can only access); None when it has no permission there."""
    creates = _grants(doc.get("create"))
    edits = _grants(doc.get("access")) and _grants(doc.get("edit"))
    if not (creates or edits or _grants(doc.get("access"))):
        return None
    named = {path: FIELD_LEVELS[level] for path, level in (doc.get("fields") or {}).items() if level in FIELD_LEVELS}
    return named, FIELD_LEVELS["readWrite" if creates or edits else "readOnly"]


def merge_fields(docs: list[dict[str, Any]]) -> tuple[dict[str, str], str]:
    """The highest level any group gives, at every path a group names, and for the fields none names.

    A path no group names takes the level of its nearest named parent, which is what every group gives it too:
    so these two are enough for ``field_level`` of any path."""
    groups = [g for g in map(_group_fields, docs) if g is not None]
    if not groups:
        return {}, "none"
    paths = set().union(*(named for named, _ in groups))
    fields = {path: LEVEL_NAMES[max(_level(named, default, path) for named, default in groups)] for path in paths}
    return fields, LEVEL_NAMES[max(default for _, default in groups)]


def _relationships(fields: list[Field]) -> Iterator[Field]:
    """The relationship fields (to an entity: not users), nested ones included."""
    for f in fields:
        if f.is_nested:
            yield from _relationships(f.nested)
        elif f.target is not None:
            yield f


def _links(entity: Entity, linked_docs: Callable[[str], list[dict[str, Any]]]) -> dict[str, LinkedFields]:
    """Per relationship: the caller's field levels on its target, and the target's hidden fields its value may
    hold (copied fields, and fields of a related record fetched with it)."""
    out: dict[str, LinkedFields] = {}
    for f in _relationships(entity.fields):
        fields, default = merge_fields(linked_docs(f.target or ""))
        hidden = {path for path, level in fields.items() if level == "none"}
        hidden.update(c for c in f.type_rules.get("copiedFields") or [] if _level(fields, default, c) == "none")
        out[f.path] = LinkedFields(fields, default, tuple(sorted(hidden - set(REFERENCE_KEYS))))
    return out


def compile_policy(entity: Entity, documents: list[dict[str, Any]], user: dict[str, Any],
                   linked_docs: Callable[[str], list[dict[str, Any]]] = lambda name: []) -> EntityPolicy:
    """The union of the groups' ``entities.<name>`` documents for ``user``; ``linked_docs(name)``: the groups'
    documents for another entity (the target of a relationship)."""
    docs = [d for d in documents if isinstance(d, dict)]
    # Each group allows edit, delete, history and actions only on the records it may access itself: the user may
    # do what one of their groups allows, never one group's access combined with another group's edit.
    access = [_group_rule(entity, d.get("access"), user) for d in docs]
    create = [_group_rule(entity, d.get("create"), user) for d in docs]

    def union(rules: Iterable[Any]) -> Rule:
        return _either(a.both(_group_rule(entity, raw, user)) for a, raw in zip(access, rules, strict=True))

    action_names = set().union(*((d.get("actions") or {}).keys() for d in docs)) if docs else set()
    actions = {name: union((d.get("actions") or {}).get(name) for d in docs) for name in action_names}
    fields, default_field = merge_fields(docs)
    compiled = EntityPolicy(
        access=_either(access), create=_either(create), edit=union(d.get("edit") for d in docs),
        delete=union(d.get("delete") for d in docs), history=union(d.get("history") for d in docs),
        can_import=any(d.get("import") is True and not c.never for d, c in zip(docs, create, strict=True)),
        export=_either(a for d, a in zip(docs, access, strict=True) if d.get("export") is True),
        fields=fields, default_field=default_field, links=_links(entity, linked_docs), actions=actions,
        unrestricted=False)
    showing = _calculated_from_hidden(entity, compiled)
    return replace(compiled, fields={**fields, **dict.fromkeys(showing, "none")}) if showing else compiled


def _calculated_from_hidden(entity: Entity, p: EntityPolicy) -> list[str]:
    """The record's calculated fields whose template reads a field hidden from the caller (or another such
    calculated field): their values would show it, so they are hidden too."""
    calculated = [f for f in entity.fields if f.calculated is not None and p.field_level(f.name) != "none"]
    hidden: list[str] = []
    changed = True
    while changed:
        changed = False
        for f in calculated:
            if f.name not in hidden and any(p.field_level(path) == "none" or path.split(".", 1)[0] in hidden
                                            for path in f.calculated.paths):  # type: ignore[union-attr]
                hidden.append(f.name)
                changed = True
    return hidden
