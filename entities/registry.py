"""Entity metadata stored in ``sys.entities``; the in-process cache is keyed by a stamp kept in Mongo.

Every change bumps the entity's ``version`` and the global stamp in ``sys.meta``; each request (and each
job) re-reads the stamp once, so every web and job worker process sees a change on its next request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pymongo
from bson import ObjectId
from flask import g, has_request_context
from pymongo.errors import DuplicateKeyError

from core.errors import ApiError, BadRequest, NotFound, ValidationFailed, field_error
from core.storage import Store
from entities.field_ids import assign_ids, with_ids
from entities.metadata import (
    DefinitionCheck,
    Entity,
    Field,
    PendingRefactoring,
    check_rules_and_history,
    lookup_problem,
    parse_entity,
)
from entities.query.parser import map_filter
from entities.query.values import problem_of

ENTITIES = "sys.entities"
META = "sys.meta"
_STAMP_ID = "entities"


def data_collection_name(entity_name: str) -> str:
    return f"data.{entity_name}"


class Registry:
    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._cached_stamp: int | None = None
        self._cached: dict[str, Entity] = {}
        self._referrers: tuple[dict[str, Entity], dict[str, list[tuple[Entity, Field]]]] = ({}, {})
        self._entities = store.collection(ENTITIES)
        self._meta = store.collection(META)
        # checks of a definition being saved: the metadata's own, then those the parts of entities that own
        # definition keys add (actions, listeners)
        self.checks: list[DefinitionCheck] = [check_rules_and_history]

    def ensure_indexes(self) -> None:
        self._entities.create_index("name", unique=True)

    # --- reading ---------------------------------------------------------------------------------

    def _stamp(self) -> int:
        ctx = g._get_current_object() if has_request_context() else None  # type: ignore[attr-defined]
        if ctx is not None:
            known = ctx.__dict__.get("_meta_stamp")
            if known is not None:
                return known
        stamp = self.store.read_cached(META, _STAMP_ID, self._read_stamp)
        if ctx is not None:
            ctx._meta_stamp = stamp
        return stamp

    def _read_stamp(self) -> int:
        doc = self._meta.find_one({"_id": _STAMP_ID})
        return int(doc["version"]) if doc else 0

    @staticmethod
    def stamp_lookup(into: str) -> dict[str, Any]:
        """A ``$lookup`` stage that brings the stamp along with another read (``into``: the field it fills), so
        a request's first read (its token) also says whether the metadata changed; see ``take_stamp``."""
        return {"$lookup": {"from": META, "pipeline": [{"$match": {"_id": _STAMP_ID}}, {"$project": {"version": 1}}],
                            "as": into}}

    @staticmethod
    def take_stamp(found: list[dict[str, Any]]) -> None:
        """Use the stamp a ``stamp_lookup`` brought for the rest of this request (no read of its own)."""
        g._meta_stamp = int(found[0]["version"]) if found else 0

    def all(self) -> dict[str, Entity]:
        stamp = self._stamp()
        if stamp == self._cached_stamp:
            return self._cached
        with self._lock:
            docs = list(self._entities.find({}))
            loaded = {}
            for d in docs:  # validated when saved; relationship targets may be applied later in a batch
                loaded[d["name"]] = entity = parse_entity(d["definition"], None, version=d["version"],
                                                          entity_id=str(d["_id"]))
                for step in d.get("refactorings") or []:
                    old = parse_entity(step["old"], None, version=step["to"] - 1, entity_id=str(d["_id"]))
                    new = parse_entity(step["new"], None, version=step["to"], entity_id=str(d["_id"]))
                    entity.pending.append(PendingRefactoring(step["to"], old, new, step.get("onError", "refuse")))
                entity.pending.sort(key=lambda p: p.to)
            for entity in loaded.values():
                link_copied(entity, loaded)
                for step in entity.pending:
                    link_copied(step.old, loaded)
                    link_copied(step.new, loaded)
            self._cached, self._cached_stamp = loaded, stamp
        return loaded

    def last_read(self) -> dict[str, Entity]:
        """The definitions as this process last read them, without asking whether they changed since (for
        background work that must not add a read, and can act on a definition a moment old)."""
        return self._cached

    def referrers_of(self, target: str) -> list[tuple[Entity, Field]]:
        """``referrers(self.all(), target)``, worked out once per metadata version (writes ask it every time)."""
        loaded = self.all()
        cached = self._referrers
        if cached[0] is not loaded:
            cached = self._referrers = (loaded, {})
        found = cached[1].get(target)
        if found is None:
            found = cached[1][target] = referrers(loaded, target)
        return found

    def get(self, name: str) -> Entity:
        entity = self.all().get(name)
        if entity is None:
            raise NotFound(f"Entity '{name}' does not exist")
        return entity

    def definition(self, name: str) -> dict[str, Any]:
        doc = self._entities.find_one({"name": name})
        if doc is None:
            raise NotFound(f"Entity '{name}' does not exist")
        return self._present(doc)

    def list_definitions(self) -> list[dict[str, Any]]:
        return [self._present(d) for d in self._entities.find({}).sort("name", pymongo.ASCENDING)]

    @staticmethod
    def _present(doc: dict[str, Any]) -> dict[str, Any]:
        out = {"id": str(doc["_id"]), "version": doc["version"]}
        out.update(doc["definition"])
        out["name"] = doc["name"]
        return out

    # --- writing ---------------------------------------------------------------------------------

    def prepare(self, raw: Any, name: str | None = None, known_names: set[str] | None = None,
                batch: dict[str, Entity] | None = None) -> tuple[dict[str, Any], Entity, dict[str, Any] | None]:
        """Validate a definition and give its fields ids: (raw with ids, entity, stored document or None).

        The stored document's ``definition`` is given ids too when it had none (the ones ``raw`` was matched to).
        ``batch``: entities validated with this one but not saved yet (a folder applied whole), which its
        relationships' rules may name as if they were stored."""
        if not isinstance(raw, dict):
            raise ValidationFailed([field_error("", "invalid", "An entity definition must be a JSON object")])
        raw = {k: v for k, v in raw.items() if k not in ("id", "version")}
        if name is not None:
            raw.setdefault("name", name)
        names = set(known_names or ()) | {d["name"] for d in self._entities.find({}, {"name": 1})}
        parse_entity(raw, names, expected_name=name, checks=self.checks)  # errors in the body's own terms first
        existing = self._entities.find_one({"name": raw["name"]})
        if existing is not None:
            existing["definition"] = with_ids(existing["definition"])
        raw = assign_ids(existing["definition"] if existing else None, raw)
        entity = parse_entity(raw, names, expected_name=name, checks=self.checks)
        self._check_targets(entity, batch or {})
        if existing is not None:
            self._check_referrers(entity, batch or {})
        return raw, entity, existing

    def create(self, raw: Any) -> Entity:
        """A new definition (``POST /metadata/entities``). An existing name is a 409: changing a definition goes
        through ``PUT``, which plans the refactoring its stored records need."""
        prepared = self.prepare(raw)
        _, entity, existing = prepared
        if existing is not None:
            raise ApiError(409, f"Entity '{entity.name}' already exists: use PUT /metadata/entities/{entity.name} "
                           "to change it", code="conflict")
        return self.save(raw, prepared=prepared)[0]

    def save(self, raw: Any, name: str | None = None, known_names: set[str] | None = None,
             refactoring: dict[str, Any] | None = None,
             prepared: tuple[dict[str, Any], Entity, dict[str, Any] | None] | None = None) -> tuple[Entity, bool]:
        """Create or replace a definition. Returns the entity and whether it was created.

        ``refactoring`` ({old, onError}) records a pending data migration together with the definition."""
        raw, entity, existing = prepared or self.prepare(raw, name, known_names)
        if existing is not None and existing["definition"] == raw:
            return self.get(entity.name), False
        if existing is None:
            try:
                self._entities.insert_one({"_id": ObjectId(), "name": entity.name, "version": 1, "definition": raw})
            except DuplicateKeyError:
                raise ApiError(409, f"Entity '{entity.name}' was created concurrently", code="conflict") from None
            created = True
        else:
            update: dict[str, Any] = {"$set": {"definition": raw}, "$inc": {"version": 1}}
            if refactoring is not None:
                update["$push"] = {"refactorings": {**refactoring, "new": raw, "to": existing["version"] + 1}}
            result = self._entities.update_one({"_id": existing["_id"], "version": existing["version"]}, update)
            if result.matched_count != 1:
                raise ApiError(409, f"Entity '{entity.name}' was changed concurrently; try again", code="conflict")
            created = False
        self._bump()
        saved = self.get(entity.name)
        ensure_data_indexes(self.store, saved)
        return saved, created

    def finish_refactoring(self, name: str, to: int) -> None:
        """Every record is migrated: reads no longer need the conversion of this step."""
        self._entities.update_one({"name": name}, {"$pull": {"refactorings": {"to": to}}})
        self._bump()

    def _check_targets(self, entity: Entity, batch: dict[str, Entity]) -> None:
        """The relationship rules that name fields of the related entity, checked against its definition:
        ``copiedFields``, ``lookupField`` and ``filter`` (a query map over its fields). A target not stored yet
        (one defined later in a batch apply) fails ``copiedFields``; its ``lookupField`` and ``filter`` are
        left to the writes (a filter that does not apply is a 400 on the field written)."""
        errors: list[dict[str, Any]] = []
        targets = {**self.all(), **batch, entity.name: entity}
        link_copied(entity, targets)  # a filter may name a copied field of the target's own relationships

        def target_of(f: Field) -> Entity | None:
            return targets.get(f.target or "")

        def walk(fields: list[Field]) -> None:
            for f in fields:
                if f.is_nested:
                    walk(f.nested)
                    continue
                if f.type.name != "relationship":
                    continue
                rules, target = f.type_rules, target_of(f)
                for cname in _uncopiable(f, target):
                    errors.append(field_error(f"{f.path}.typeRules.copiedFields", "invalid",
                                              f"'{cname}' is not a simple field of '{f.target}'", rejected=cname))
                if target is None:
                    continue
                lookup = rules.get("lookupField")
                problem = _lookup_problem(f, target)
                if problem:
                    errors.append(field_error(f"{f.path}.typeRules.lookupField", "invalid", problem, rejected=lookup))
                if isinstance(rules.get("filter"), dict):
                    try:
                        map_filter(target, rules["filter"])
                    except BadRequest as exc:
                        errors.append(field_error(f"{f.path}.typeRules.filter", "invalid",
                                                  f"Not a valid filter of '{f.target}' records: {problem_of(exc)}"))
        walk(entity.fields)
        if errors:
            raise ValidationFailed(errors, message="The entity definition is not valid")

    def _check_referrers(self, entity: Entity, batch: dict[str, Entity]) -> None:
        """The relationships of other stored entities that copy fields of ``entity`` or look its records up by a
        field must find them in its new definition: one renamed or removed there would leave their copies empty
        and their lookups failing. A 400 naming each, to change there first (a folder applied whole checks its
        own relationships against its own definitions)."""
        errors: list[dict[str, Any]] = []
        for other, f in self.referrers_of(entity.name):
            if other.name == entity.name or other.name in batch:
                continue
            where = f"{other.name}.{f.path}.typeRules"
            for cname in _uncopiable(f, entity):
                errors.append(field_error("fields", "invalid", f"'{cname}' is copied by {where}.copiedFields: "
                                          f"take it out there first", rejected=cname))
            if _lookup_problem(f, entity):
                lookup = f.type_rules["lookupField"]
                errors.append(field_error("fields", "invalid", f"'{lookup}' is the lookupField of {where}: "
                                          "change it there first", rejected=lookup))
            if isinstance(f.type_rules.get("filter"), dict):
                try:
                    map_filter(entity, f.type_rules["filter"])
                except BadRequest as exc:
                    errors.append(field_error("fields", "invalid", f"The filter of {where} no longer fits: "
                                              f"{problem_of(exc)}; change it there first"))
        if errors:
            raise ValidationFailed(errors, message="Other entities' relationships use fields this change removes")

    def delete(self, name: str) -> dict[str, Any]:
        doc = self._entities.find_one({"name": name})
        if doc is None:
            raise NotFound(f"Entity '{name}' does not exist")
        referrers = [e.name for e in self.all().values() if e.name != name and _refers_to(e, name)]
        if referrers:
            raise ApiError(400, f"Entity '{name}' is referenced by relationships in: {', '.join(referrers)}")
        self._entities.delete_one({"_id": doc["_id"]})
        self._bump()
        return self._present(doc)

    def _bump(self) -> None:
        self._meta.update_one({"_id": _STAMP_ID}, {"$inc": {"version": 1}}, upsert=True)
        if has_request_context():
            g.pop("_meta_stamp", None)


def _uncopiable(f: Field, target: Entity | None) -> list[str]:
    """The ``copiedFields`` of relationship ``f`` that are not simple fields of ``target`` (all, without one)."""
    names = f.type_rules.get("copiedFields") or []
    return [n for n in names if (cf := target.field(n) if target else None) is None or cf.is_nested
            or cf.type.name in ("relationship", "file")]


def _lookup_problem(f: Field, target: Entity) -> str | None:
    """Why the ``lookupField`` of relationship ``f`` cannot find ``target``'s records (None: it can, or has none)."""
    lookup = f.type_rules.get("lookupField")
    return lookup_problem(target, lookup) if isinstance(lookup, str) else None


def link_copied(entity: Entity, entities: dict[str, Entity]) -> None:
    """Give relationship fields the definitions of their copied fields (read, filtered, aggregated by type)."""
    def walk(fields: list[Field]) -> None:
        for f in fields:
            if f.is_nested:
                walk(f.nested)
            elif f.type.name == "relationship" and f.type_rules.get("copiedFields"):
                target = entities.get(f.target or "")
                f.copied = []
                for cname in f.type_rules["copiedFields"]:
                    cf = target.field(cname) if target else None
                    if cf is not None and not cf.is_nested:
                        f.copied.append(replace(cf, path=f"{f.path}.{cname}", copied=[]))
    walk(entity.fields)


def referrers(entities: dict[str, Entity], target: str) -> list[tuple[Entity, Field]]:
    """Every (entity, relationship field) pointing at ``target``, nested ones included."""
    return fields_where(entities, lambda f: f.type.name == "relationship" and f.target == target)


def fields_where(entities: dict[str, Entity], keep: Callable[[Field], bool]) -> list[tuple[Entity, Field]]:
    """Every (entity, field) that ``keep`` accepts, fields of nested groups included."""
    out: list[tuple[Entity, Field]] = []

    def walk(entity: Entity, fields: list[Field]) -> None:
        for f in fields:
            if f.is_nested:
                walk(entity, f.nested)
            elif keep(f):
                out.append((entity, f))
    for e in entities.values():
        walk(e, e.fields)
    return out


def _refers_to(entity: Entity, target: str) -> bool:
    def walk(fields) -> bool:
        for f in fields:
            if f.type.target_entity(f) == target:
                return True
            if f.is_nested and walk(f.nested):
                return True
        return False
    return walk(entity.fields)


# Index names this package gives the fields of a data collection (``FieldType.index_keys``).
_FIELD_INDEX_PREFIXES = ("idx_", "unique_")


def ensure_data_indexes(store: Store, entity: Entity) -> None:
    """Make the indexes of an entity's data collection what its metadata asks for (idempotent).

    An index's name comes from its field's path, its key and options from the field's type and rules: an index
    of the same name that differs (a field that changed type or lost ``unique``) is dropped and made again, and
    one of a field that is no longer indexed is dropped, so no stale unique index refuses values."""
    col = store.collection(data_collection_name(entity.name))
    wanted: dict[str, tuple[list[tuple[str, Any]], dict[str, Any]]] = {"label": ([("label", pymongo.ASCENDING)], {})}
    if not store.embedded:  # the embedded store writes history without an outbox (``HistoryRecorder.direct``),
        # and its index upkeep would serve no query: the repair's ``$exists`` is a scan there either way
        wanted["history_outbox"] = ([("_hist._id", pymongo.ASCENDING)], {"sparse": True})

    def walk(fields, prefix: str) -> None:
        for f in fields:
            path = prefix + f.name
            if f.is_nested:
                walk(f.nested, path + ".")
                continue
            for key, name, unique in f.type.index_keys(path, f, top_level=not prefix):
                wanted[name] = ([(key, f.type.index_kind)], f.type.unique_index_options(key) if unique else {})
    walk(entity.fields, "")
    present: set[str] = set()
    for name, info in col.index_information().items():
        want = wanted.get(name)
        if want is not None and _same_index(info, *want):
            present.add(name)
        elif want is not None or name.startswith(_FIELD_INDEX_PREFIXES):
            col.drop_index(name)
    for name, (keys, options) in wanted.items():
        if name not in present:
            col.create_index(keys, name=name, **options)


def _same_index(info: dict[str, Any], keys: list[tuple[str, Any]], options: dict[str, Any]) -> bool:
    """Whether an index as ``index_information`` describes it has these keys and options."""
    def kind(value: Any) -> Any:
        return int(value) if isinstance(value, int | float) else value
    stored = [(k, kind(v)) for k, v in info.get("key", [])]
    return (stored == [(k, kind(v)) for k, v in keys] and bool(info.get("unique")) == bool(options.get("unique"))
            and bool(info.get("sparse")) == bool(options.get("sparse"))
            and info.get("partialFilterExpression") == options.get("partialFilterExpression"))
