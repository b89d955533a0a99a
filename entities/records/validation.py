"""The validate stage of the record lifecycle: a REST body becomes a stored document.

Loading with the entity's schema, defaults, required fields, references (relationships by id, label or
lookup fields, meeting the field's filter; files), nested item ids and labels, calculated values, the record
label and unique checks. Nothing here writes: ``entities.records.lifecycle`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from marshmallow import ValidationError

from core.errors import BadRequest, ValidationFailed, field_error, top_field
from core.storage import Store
from entities.history.recorder import OUTBOX_FIELD, now_ms
from entities.metadata import Entity, Field, lookup_problem
from entities.query import map_filter
from entities.query.values import problem_of
from entities.records.counters import Counters, NumberSource
from entities.records.events import LinkFilter
from entities.records.group_refs import resolve_group_ref
from entities.records.render import render_fields
from entities.records.schema import flatten_errors, load_fast, schema_for
from entities.records.upgrade import UPGRADED_KEY, VERSION_KEY
from entities.records.user_refs import resolve_user_ref
from entities.records.values import compute_label, label_sources, path_text
from entities.registry import Registry, data_collection_name
from entities.types import FieldInvalid, FieldType
from files.service import complete_ref as complete_file_ref

EMPTY = (None, "", [])
# the highest value of each ``sequenced`` field, by (entity, field) name, in the batch of creates being built
# (``RecordValidator.batch``): the store does not hold the batch's records until all are built
_BATCH_HIGHEST: ContextVar[dict[tuple[str, str], Any] | None] = ContextVar("batch_highest", default=None)


class Loaded:
    """A create body already turned into stored values: exactly what ``RecordValidator._load`` gives for it (the
    import's per-column converters make them, ``entities.transfer.converters``). ``build_new`` takes one in place
    of a REST body and does everything after loading (defaults, references, required, label, unique) as usual."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any]):
        self.values = values


class RecordValidator:
    def __init__(self, store: Store, registry: Registry):
        self.store = store
        self.registry = registry  # the entities relationships point at (lookup fields, filters)
        self.counters = Counters(store)  # the numbers of autoIncrement fields

    def _collection(self, entity: Entity) -> Any:
        return self.store.collection(data_collection_name(entity.name))

    def collection(self, entity_name: str) -> Any:
        """A data collection, for resolving references (``entities.types.References``)."""
        return self.store.collection(data_collection_name(entity_name))

    def complete_file(self, ref: dict[str, Any]) -> str | None:
        """Fill a file reference's name from the stored file; a problem text when it cannot be used."""
        return complete_file_ref(self.store, ref)

    def user(self, f: Field, ref: dict[str, Any], path: str, errors: list[dict[str, Any]]) -> Any:
        return resolve_user_ref(self.store, f, ref, path, errors)

    def group(self, f: Field, ref: dict[str, Any], path: str, errors: list[dict[str, Any]]) -> Any:
        return resolve_group_ref(self.store, f, ref, path, errors)

    # --- validation ------------------------------------------------------------------------------

    def check_body(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object")
        return {k: v for k, v in body.items() if k not in ("id", "version", "label", "entity")}

    def _load(self, entity: Entity, body: dict[str, Any]) -> dict[str, Any]:
        loaded, failed = self._load_partly(entity, body)
        if failed is not None:
            raise failed
        return loaded

    def _load_partly(self, entity: Entity, body: dict[str, Any]) -> tuple[dict[str, Any], ValidationFailed | None]:
        """The stored values of ``body``; when some are refused, the values that did load and the 400 of the rest."""
        loaded = load_fast(entity, body)
        if loaded is not None:
            return loaded, None
        try:
            return schema_for(entity).load(body, partial=True), None
        except ValidationError as exc:
            return exc.valid_data or {}, ValidationFailed(flatten_errors(exc.messages, entity, sent=body))

    def _merge_for_update(self, entity: Entity, current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Nested groups in a partial update: items with a known ``id`` are merged into the stored item."""
        merged = dict(body)
        if not entity.derived("_finish_plan", _finish_plan).nested:
            return merged
        unknown = _repeated_item_ids(entity.fields, body, "")
        current_json: dict[str, Any] | None = None
        for name, value in body.items():
            f = entity.field(name)
            if f is None or not f.is_nested or value is None:
                continue
            if current_json is None:
                current_json = render_fields(entity, current)
            existing = current_json.get(name)
            if not f.many and isinstance(value, dict):
                unknown.extend(_foreign_item_id(f, existing, value))
            if f.many and isinstance(value, list):
                by_id = {item["id"]: item for item in existing or [] if isinstance(item, dict)}
                for i, item in enumerate(value):
                    if isinstance(item, dict) and item.get("id") is not None and item["id"] not in by_id:
                        unknown.append(field_error(f"{name}[{i}].id", "invalid", f"No item of '{name}' has this id; "
                                                   "leave id out to add an item", f.label, rejected=str(item["id"])))
                merged[name] = [_merge_item(by_id.get(item.get("id")), item) if isinstance(item, dict) else item
                                for item in value]
            elif not f.many and isinstance(value, dict) and isinstance(existing, dict):
                merged[name] = _merge_item(existing, value)
        if unknown:
            raise ValidationFailed(unknown)
        return merged

    def _finish(self, entity: Entity, doc: dict[str, Any], created: bool, errors: list[dict[str, Any]],
                touched: Iterable[str] | None = None, uploader: str | None = None,
                links: LinkFilter | None = None, current: dict[str, Any] | None = None,
                defaults: bool = True, numbers: NumberSource | None = None) -> None:
        """Defaults (on create, unless ``defaults`` is False), required checks, relationships, nested labels,
        numbers of autoIncrement fields (on create, from ``numbers``, else the field's counter), calculated values,
        record label.

        Only the relationships in ``touched`` (all on create) are resolved: a link an update leaves out is kept
        as stored, even one left dangling by the delete of its record; ``current``: the stored record an update
        changes."""
        now = now_ms()
        plan = entity.derived("_finish_plan", _finish_plan)
        for f in plan.preset:
            if f.type.stamp(created):
                doc[f.name] = now
            elif created and f.type.sequenced:
                doc[f.name] = self._sequenced(entity, f, doc.get(f.name))
            elif created and defaults and doc.get(f.name) is None and f.default is not None:
                try:
                    given = f.default if f.many and isinstance(f.default, list) else [f.default]
                    loaded = [f.type.load(d, f) for d in given]
                    doc[f.name] = loaded if f.many else loaded[0]
                except Exception:
                    pass
            if not f.many and doc.get(f.name) is None and f.type.missing_value() is not None:
                doc[f.name] = f.type.missing_value()  # an unset boolean is stored false; a list of them unset
        if plan.resolved:
            names = None if touched is None else set(touched)
            self.resolve_references([f for f in plan.resolved if names is None or f.name in names], doc, "", errors,
                                    uploader, links, current)
        for f in plan.nested:
            if doc.get(f.name) is not None:
                items = doc[f.name] if f.many else [doc[f.name]]
                for item in items:
                    _finish_nested(f, item, fresh_ids=created)
        if created and plan.numbered and not errors:  # before calculated values and the label, which may show it
            take = numbers or self.counters.source(entity)
            for f in plan.numbered:
                doc[f.name] = take(f)
        derive(entity, doc, None if created else current, touched)
        for f in plan.required:
            value = doc.get(f.name)
            if value is None or value == [] or value == "":
                errors.append(field_error(f.name, "required", "This field is required", f.label))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Build the records of one batch of creates, written together once all are built: a ``sequenced``
        field's highest value is read once, then kept up to date with the batch's own records."""
        token = _BATCH_HIGHEST.set({})
        try:
            yield
        finally:
            _BATCH_HIGHEST.reset(token)

    def next_in_sequence(self, entity: Entity, f: Field) -> Any:
        """The value a record without one gets for the ``sequenced`` field ``f`` (a rank after the highest)."""
        return self._sequenced(entity, f, None)

    def _sequenced(self, entity: Entity, f: Field, value: Any) -> Any:
        """A new record's value of a ``sequenced`` field: ``value`` when given, else the one after the highest the
        entity's records (and the records built before it in this batch) hold; one at a time, the counter's claim
        gives writers creating at once each their own."""
        batch = _BATCH_HIGHEST.get()
        if batch is None:
            if value is not None:
                return value
            return self.counters.claim_after(entity, f, self._highest(entity, f), f.type.value_after)
        key = (entity.name, f.name)
        if key not in batch:
            batch[key] = self._highest(entity, f)
        if value is None:
            value = f.type.value_after(batch[key])
        if batch[key] is None or value > batch[key]:
            batch[key] = value
        return value

    def _highest(self, entity: Entity, f: Field) -> Any:
        """The highest value of ``f`` among the entity's records (one read, on the field's index)."""
        found = self._collection(entity).find({f.name: f.type.sequence_filter}, {f.name: 1}).sort(f.name, -1).limit(1)
        return next(iter(found), {}).get(f.name)

    def resolve_references(self, fields: list[Field], values: dict[str, Any], prefix: str,
                           errors: list[dict[str, Any]], uploader: str | None = None,
                           links: LinkFilter | None = None, current: dict[str, Any] | None = None) -> None:
        """Relationships resolved to stored values (among the records ``links`` allows), file refs completed
        (inline uploads owned by ``uploader``). ``current``: the stored record an update changes, whose links
        are kept without meeting their field's filter again."""
        refs = self if uploader is None and links is None and current is None else \
            _WriterRefs(self, uploader, links, current)
        for f in fields:
            value = values.get(f.name)
            if value is None:
                continue
            path = prefix + f.name
            if f.is_nested:
                items = value if f.many else [value]
                for i, item in enumerate(items):
                    p = f"{path}[{i}]." if f.many else f"{path}."
                    self.resolve_references(f.nested, item, p, errors, uploader, links, current)
            else:
                values[f.name] = f.type.resolve(f, value, path, refs, errors)

    def relationship(self, f: Field, ref: dict[str, Any], path: str, errors: list[dict[str, Any]],
                     links: LinkFilter | None = None, current: dict[str, Any] | None = None) -> Any:
        """The stored value of a relationship written by id, label or lookup fields (``RelationshipType.load``),
        found with one query that holds the field's ``filter`` too. With ``links``, only the records it allows
        are looked at: one outside it gets the error of a record that does not exist (its id never shows).
        A record that ``current`` (the record an update changes) already links to here need not meet the
        filter again."""
        target_name = f.type_rules.get("entity")
        col = self.store.collection(data_collection_name(target_name))
        projection = dict.fromkeys(["label", *f.type_rules.get("copiedFields", [])], 1)
        scope = links(target_name) if links is not None else {}
        rule = self._filter(f, path, errors, current)
        if rule is None:
            return None
        if "id" in ref:
            selector = {"_id": ref["id"]}
            found = None if scope is None else col.find_one(_within(selector, scope, rule), projection)
            if found is not None:
                return reference_value(f, found)
            if not self._misses_filter(f, col, selector, scope, rule, path, errors, f"id '{ref['id']}'", None):
                errors.append(field_error(path, "invalid", f"Record '{ref['id']}' does not exist in '{target_name}'",
                                          f.label, rejected=str(ref["id"])))
            return None
        wanted = self._wanted(f, ref, path, errors, links)
        if wanted is None:
            return None
        matches: list[dict[str, Any]] = []
        for selector in wanted.selectors:  # a bare value: its label first, then its lookup field
            matches = [] if scope is None else list(col.find(_within(selector, scope, rule), projection).limit(2))
            if matches:
                break
        if len(matches) == 1:
            return reference_value(f, matches[0])
        if matches:
            errors.append(field_error(path, "invalid", f"More than one record in '{target_name}' has {wanted.what}",
                                      f.label, rejected=wanted.rejected))
        elif not self._misses_filter(f, col, _any_of(wanted.selectors), scope, rule, path, errors, wanted.what,
                                     wanted.rejected):
            errors.append(field_error(path, "invalid", f"No record in '{target_name}' has {wanted.what}", f.label,
                                      rejected=wanted.rejected))
        return None

    def _wanted(self, f: Field, ref: dict[str, Any], path: str, errors: list[dict[str, Any]],
                links: LinkFilter | None) -> _Wanted | None:
        """What a reference by label or lookup fields asks for; None (and errors) when a lookup cannot be made."""
        if "label" in ref:
            label, lookup_field = ref["label"], f.type_rules.get("lookupField")
            if ref.get("bare") and lookup_field:  # a bare value that matches no label: the lookup field's value
                by_field = self._lookup_selector(f, {lookup_field: label}, path, [], links)
                if by_field is not None:
                    return _Wanted([{"label": label}, by_field], f"label or {lookup_field} '{label}'", label)
            return _Wanted([{"label": label}], f"label '{label}'", label)
        lookup: dict[str, Any] = ref.get("lookup") or {}
        selector = self._lookup_selector(f, lookup, path, errors, links)
        if selector is None:
            return None
        what = " and ".join(f"{key} '{value}'" for key, value in lookup.items())
        return _Wanted([selector], what, next(iter(lookup.values())) if len(lookup) == 1 else lookup)

    def _lookup_selector(self, f: Field, lookup: dict[str, Any], path: str, errors: list[dict[str, Any]],
                         links: LinkFilter | None) -> dict[str, Any] | None:
        """The query for the records of the target whose fields hold ``lookup``'s values, each value converted by
        its field's type (numbers and choices compare as stored); None (and errors) when a key is not a field
        that can find a record. A field hidden from the writer (``links``) is answered as one that does not
        exist, so a lookup cannot probe what it holds."""
        target = self.registry.get(f.type_rules.get("entity", ""))
        selector: dict[str, Any] = {}
        failed = False
        for key, value in lookup.items():
            hidden = links is not None and links.hidden(f"{f.path}.{key}")
            problem = f"'{key}' is not a field of '{target.name}'" if hidden else lookup_problem(target, key)
            if problem is not None:
                errors.append(field_error(path, "invalid", problem, f.label, rejected=key))
                failed = True
                continue
            lookup_field = target.field(key)
            assert lookup_field is not None  # lookup_problem found it
            try:
                selector[key] = lookup_field.type.filter_value(value, lookup_field)
            except FieldInvalid as exc:
                errors.append(field_error(path, "invalid", f"'{key}': {exc.message}", f.label, rejected=value))
                failed = True
        return None if failed else selector

    def _filter(self, f: Field, path: str, errors: list[dict[str, Any]],
                current: dict[str, Any] | None) -> dict[str, Any] | None:
        """The field's ``filter`` as a Mongo filter on its target (``{}`` without one), letting through the
        records ``current`` links to here; None (and an error) when it no longer fits the target's definition."""
        raw = f.type_rules.get("filter")
        if not raw:
            return {}
        target = self.registry.get(f.type_rules.get("entity", ""))
        compiled: dict[str, dict[str, Any]] = target.derived("_relationship_filters", lambda _: {})
        key = json.dumps(raw, sort_keys=True, default=str)
        if key not in compiled:  # once per filter and metadata version of the target
            try:
                compiled[key] = map_filter(target, raw)
            except BadRequest as exc:
                errors.append(field_error(path, "invalid", f"The filter of this field does not fit '{target.name}' "
                                          f"any more: {problem_of(exc)}", f.label))
                return None
        kept = _linked_ids(current, f.path) if current is not None else []
        return {"$or": [compiled[key], {"_id": {"$in": kept}}]} if kept else compiled[key]

    def _misses_filter(self, f: Field, col: Any, selector: dict[str, Any], scope: dict[str, Any] | None,
                       rule: dict[str, Any], path: str, errors: list[dict[str, Any]], what: str,
                       rejected: Any) -> bool:
        """Whether ``selector`` found nothing only because of the field's filter; then the error says so. A
        second read, made only when a filtered write fails, among the records ``scope`` allows."""
        if not rule or scope is None:
            return False
        found = [d["_id"] for d in col.find(_within(selector, scope), {"_id": 1}).limit(2)]
        target_name = f.type_rules.get("entity")
        if len(found) == 1:
            errors.append(field_error(path, "invalid", f"Record '{found[0]}' in '{target_name}' does not meet the "
                                      "filter of this field", f.label, rejected=str(found[0])))
        elif found:
            errors.append(field_error(path, "invalid", f"No record in '{target_name}' that has {what} meets the "
                                      "filter of this field", f.label, rejected=rejected))
        return bool(found)

    def _check_unique(self, entity: Entity, doc: dict[str, Any], changed: Iterable[str], record_id: ObjectId | None,
                      errors: list[dict[str, Any]]) -> None:
        unique = entity.derived("_finish_plan", _finish_plan).unique
        if not unique:
            return
        for name in changed:
            f = unique.get(name)
            if f is None or doc.get(name) in (None, "", []):
                continue
            ref = f.type.reference_key
            values = [v[ref] if ref else v for v in (doc[name] if f.many else [doc[name]]) if v not in (None, "")]
            if not values:
                continue
            # a multi-valued field's values are each taken: any of them held by another record is a duplicate
            query: dict[str, Any] = {f.type.key_path(name): values[0] if len(values) == 1 else {"$in": values}}
            if record_id is not None:
                query["_id"] = {"$ne": record_id}
            if self._collection(entity).find_one(query, {"_id": 1}) is not None:
                errors.append(field_error(name, "duplicate", "Another record already has this value", f.label,
                                          rejected=path_text(entity, doc, name)))

    def _check_loaded(self, entity: Entity, values: dict[str, Any], failed: ValidationFailed,
                      current: dict[str, Any] | None, uploader: str | None, links: LinkFilter | None) -> None:
        """The ``values`` that loaded of a body some of whose values were refused: their references resolved and
        unique values checked as a valid body's are, the errors added to ``failed``'s (``current``: the record
        an update changes)."""
        plan = entity.derived("_finish_plan", _finish_plan)
        self.resolve_references([f for f in plan.resolved if f.name in values], values, "", failed.errors,
                                uploader, links, current)
        self._check_unique(entity, values, values.keys(), current["_id"] if current else None, failed.errors)

    def validated_values(self, entity: Entity, body: dict[str, Any], uploader: str | None = None) -> dict[str, Any]:
        """Stored values for a partial body (validated, references resolved); None means clear the field."""
        loaded = self._load(entity, self.check_body(body))
        errors: list[dict[str, Any]] = []
        self.resolve_references(entity.fields, loaded, "", errors, uploader)
        for name, value in loaded.items():
            f = entity.field(name)
            if f is not None and f.required and value in (None, "", []):
                errors.append(field_error(name, "required", "This field is required", f.label))
        if errors:
            raise ValidationFailed(errors)
        return loaded

    # --- documents ------------------------------------------------------------------------------

    def build_new(self, entity: Entity, body: Any, record_id: ObjectId | None = None,
                  uploader: str | None = None, links: LinkFilter | None = None,
                  defaults: bool = True, numbers: NumberSource | None = None) -> dict[str, Any]:
        """Validate a create body (a REST body or ``Loaded``) into a stored document (not yet written);
        ``record_id`` presets its id; ``links`` limits the records relationships may point at; ``defaults``
        False leaves the fields the body does not give without their default values; ``numbers`` gives the
        numbers of autoIncrement fields (a batch's, taken together)."""
        if isinstance(body, Loaded):
            loaded = values = body.values  # field names only, in field order
        else:
            body = self.check_body(body)
            loaded, failed = self._load_partly(entity, body)
            if failed is not None:  # one 400 for every problem: those of the values that loaded, missing fields
                self._check_loaded(entity, loaded, failed, None, uploader, links)
                _add_missing_required(entity, failed, lambda f: body.get(f.name) in EMPTY
                                      and (f.default is None or not defaults) and f.calculated is None)
                raise failed
            values = {f.name: loaded[f.name] for f in entity.fields if f.name in loaded}
        doc: dict[str, Any] = {"_id": record_id or ObjectId(), "version": 0, "label": None,
                               VERSION_KEY: entity.version, **values}
        errors: list[dict[str, Any]] = []
        self._finish(entity, doc, created=True, errors=errors, uploader=uploader, links=links, defaults=defaults,
                     numbers=numbers)
        self._check_unique(entity, doc, loaded.keys(), None, errors)
        if errors:
            raise ValidationFailed(errors)
        return compact(doc)

    def updated(self, entity: Entity, current: dict[str, Any], changes: dict[str, Any],
                uploader: str | None = None, links: LinkFilter | None = None) -> dict[str, Any]:
        """The stored document after applying a partial body to ``current`` (validated)."""
        merged = _unchanged_read_only_dropped(entity, current, self._merge_for_update(entity, current, changes))
        loaded, failed = self._load_partly(entity, merged)
        if failed is not None:
            self._check_loaded(entity, loaded, failed, current, uploader, links)
            _add_missing_required(entity, failed, lambda f: (changes[f.name] if f.name in changes
                                                             else current.get(f.name)) in EMPTY)
            raise failed
        doc = {k: v for k, v in current.items() if k != OUTBOX_FIELD}
        for name, value in loaded.items():
            doc[name] = value
        errors: list[dict[str, Any]] = []
        self._finish(entity, doc, created=False, errors=errors, touched=loaded.keys(), uploader=uploader,
                     links=links, current=current)
        self._check_unique(entity, doc, loaded.keys(), current["_id"], errors)
        if errors:
            raise ValidationFailed(errors)
        return doc


def derive(entity: Entity, doc: dict[str, Any], current: dict[str, Any] | None = None,
           touched: Iterable[str] | None = None) -> None:
    """The values a record's other values make: its calculated fields, then its label. An update (``current``
    the stored record, ``touched`` the fields it sets) keeps the stored label when none of the fields the label
    reads changed and this definition wrote it."""
    for f in entity.derived("_finish_plan", _finish_plan).calculated:
        text = f.calculated.render(lambda p: path_text(entity, doc, p))  # type: ignore[union-attr]
        doc[f.name] = calculated_value(f, text)
    if current is not None and touched is not None and _label_unchanged(entity, current, touched):
        doc["label"] = current["label"]
        return
    doc["label"] = compute_label(entity, doc)


def _label_unchanged(entity: Entity, current: dict[str, Any], touched: Iterable[str]) -> bool:
    reads = entity.derived("_label_reads", _label_reads)
    return (reads is not None and "label" in current and current.get(VERSION_KEY) == entity.version
            and UPGRADED_KEY not in current and reads.isdisjoint(touched))


def _label_reads(entity: Entity) -> frozenset[str] | None:
    """The top-level fields a record's label is made of; None when a write may change it without changing
    them (it reads a calculated value or a value the write sets: a stamp, a default, a number, a ``setOn``
    user)."""
    if entity.record_label is not None:
        reads = {path.split(".", 1)[0].split("[", 1)[0] for path in entity.record_label.paths}
    else:
        reads = {f.name for f, _ in label_sources(entity)}
    plan = entity.derived("_finish_plan", _finish_plan)
    set_by_write = [f for f in entity.fields if f.type.name == "user" and f.type_rules.get("setOn")]
    if any(f.name in reads for f in (*plan.calculated, *plan.preset, *plan.numbered, *set_by_write)):
        return None
    return frozenset(reads)


def calculated_value(f: Field, text: str) -> Any:
    """The stored value of calculated field ``f`` whose template gave ``text``: the text read as the field's type
    reads a CSV cell (``5`` for an integer, a date for a date-time); None when empty or not a value of the type
    (``abc`` for an integer), so filters, sorts and sums meet values of the field's type only. A text field keeps
    its text even past its own rules (a length, a pattern): they are for what clients write."""
    if not text or not text.strip():
        return None
    try:
        value = f.type.load(f.type.cell_in(text, f), f)
    except Exception:  # FieldInvalid, or a type's parser refusing the text in its own way
        if f.type.family != "text":
            return None
        value = text
    return [value] if f.many else value


def _unchanged_read_only_dropped(entity: Entity, current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without the values of read-only fields (``Field.read_only``) that are what ``current`` holds, as
    REST JSON: a record sent back as it was read does not try to change them. Any other value is left for the
    schema to refuse (``readOnly``)."""
    holding = entity.derived("_holds_read_only", _holds_read_only)
    names = [name for name in body if name in holding] if holding else []
    if not names:
        return body
    return _without_read(entity.fields, body, render_fields(entity, current, names))


def _holds_read_only(entity: Entity) -> set[str]:
    """The top-level fields that are read-only or hold read-only fields in their nested groups."""
    def holds(f: Field) -> bool:
        return f.read_only or (f.is_nested and any(holds(inner) for inner in f.nested))
    return {f.name for f in entity.fields if holds(f)}


def _without_read(fields: list[Field], body: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a record or a nested item) without read-only values equal to ``read`` (the same as REST JSON);
    nested items are compared with the read item of the same id (a single group: with its item)."""
    by_name = {f.name: f for f in fields}
    out: dict[str, Any] = {}
    for name, value in body.items():
        f = by_name.get(name)
        if f is not None and value is not None:
            if f.read_only and _same_as_read(f, value, read.get(name)):
                continue
            if f.is_nested:
                value = _nested_without_read(f, value, read.get(name))
        out[name] = value
    return out


def _nested_without_read(f: Field, value: Any, read: Any) -> Any:
    if not f.many:
        return _without_read(f.nested, value, read if isinstance(read, dict) else {}) \
            if isinstance(value, dict) else value
    if not isinstance(value, list):
        return value
    by_id = {item.get("id"): item for item in read or [] if isinstance(item, dict)}
    return [_without_read(f.nested, item, by_id.get(item.get("id")) or {}) if isinstance(item, dict) else item
            for item in value]


def _same_as_read(f: Field, sent: Any, read: Any) -> bool:
    """Whether a value sent for ``f`` is the one read: the same JSON, or for a reference the same ids."""
    if sent == read:
        return True
    key = f.type.reference_key
    if key is None or read is None:
        return False

    def keys(value: Any) -> list[Any]:
        return [v.get(key) if isinstance(v, dict) else v for v in (value if isinstance(value, list) else [value])]
    return keys(sent) == keys(read)


@dataclass(frozen=True)
class _FinishPlan:
    """The fields each stage of ``_finish`` has work for (the others are skipped: same result, less looping)."""

    preset: list[Field]  # stamped, defaulted or with a missing value
    resolved: list[Field]  # nested groups and types that resolve a value against the store
    nested: list[Field]
    calculated: list[Field]
    numbered: list[Field]  # autoIncrement: numbered on create
    required: list[Field]
    unique: dict[str, Field]  # by name (``_check_unique``)


def _finish_plan(entity: Entity) -> _FinishPlan:
    """Worked out once per list of fields (``Entity.derived``)."""
    fields = entity.fields
    return _FinishPlan(
        preset=[f for f in fields if f.type.stamp(True) or f.type.stamp(False) or f.default is not None
                or f.type.missing_value() is not None or f.type.sequenced],
        resolved=[f for f in fields if f.is_nested or type(f.type).resolve is not FieldType.resolve],
        nested=[f for f in fields if f.is_nested], calculated=[f for f in fields if f.calculated is not None],
        numbered=[f for f in fields if f.type.numbered], required=[f for f in fields if f.required],
        unique={f.name: f for f in fields if f.unique})


class _WriterRefs:
    """The validator as ``References`` for one write: inline uploads owned by ``uploader``, relationships only to
    the records ``links`` allows, links ``current`` (the record an update changes) holds kept."""

    def __init__(self, validator: RecordValidator, uploader: str | None, links: LinkFilter | None,
                 current: dict[str, Any] | None = None):
        self.validator, self.uploader, self.links, self.current = validator, uploader, links, current

    def relationship(self, f: Field, ref: dict[str, Any], path: str, errors: list[dict[str, Any]]) -> Any:
        return self.validator.relationship(f, ref, path, errors, self.links, self.current)

    def user(self, f: Field, ref: dict[str, Any], path: str, errors: list[dict[str, Any]]) -> Any:
        return self.validator.user(f, ref, path, errors)

    def group(self, f: Field, ref: dict[str, Any], path: str, errors: list[dict[str, Any]]) -> Any:
        return self.validator.group(f, ref, path, errors)

    def complete_file(self, ref: dict[str, Any]) -> str | None:
        return complete_file_ref(self.validator.store, ref, self.uploader)


@dataclass(frozen=True)
class _Wanted:
    """What a relationship written by label or lookup fields asks for: the queries to try in turn, how errors
    name it and the value they reject."""

    selectors: list[dict[str, Any]]
    what: str
    rejected: Any


def _within(query: dict[str, Any], *filters: dict[str, Any]) -> dict[str, Any]:
    """``query`` and every non-empty filter of ``filters``."""
    extra = [f for f in filters if f]
    return {"$and": [query, *extra]} if extra else query


def _any_of(selectors: list[dict[str, Any]]) -> dict[str, Any]:
    return selectors[0] if len(selectors) == 1 else {"$or": selectors}


def _linked_ids(doc: dict[str, Any], path: str) -> list[ObjectId]:
    """The record ids a stored document links to at a relationship's path (``members.firm``: in every item)."""
    values: list[Any] = [doc]
    for part in path.split("."):
        values = [v for item in values if isinstance(item, dict) and item.get(part) is not None
                  for v in (item[part] if isinstance(item[part], list) else [item[part]])]
    return [v["id"] for v in values if isinstance(v, dict) and isinstance(v.get("id"), ObjectId)]


def reference_value(f: Field, target: dict[str, Any]) -> dict[str, Any]:
    """The stored value of relationship ``f`` pointing at ``target``: id, label and the copied fields."""
    out = {"id": target["_id"], "label": target.get("label")}
    for name in f.type_rules.get("copiedFields", []):
        if target.get(name) is not None:
            out[name] = target[name]
    return out


def _repeated_item_ids(fields: list[Field], body: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``duplicate`` errors for an item id given twice in one list of a multi-valued nested group (at any depth)
    of an update body: each id names one item to change."""
    errors: list[dict[str, Any]] = []
    for f in fields:
        value = body.get(f.name)
        if not f.is_nested or not isinstance(value, list if f.many else dict):
            continue
        seen: set[str] = set()
        for i, item in enumerate(value if f.many else [value]):
            if not isinstance(item, dict):
                continue
            path = f"{prefix}{f.name}[{i}]" if f.many else f"{prefix}{f.name}"
            key = str(item["id"]).lower() if f.many and item.get("id") is not None else None
            if key is not None and key in seen:
                errors.append(field_error(f"{path}.id", "duplicate", "Another item of this list has this id",
                                          f.label, rejected=str(item["id"])))
            elif key is not None:
                seen.add(key)
            errors.extend(_repeated_item_ids(f.nested, item, f"{path}."))
    return errors


def _foreign_item_id(f: Field, existing: Any, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The error of an item of single group ``f`` sent with an ``id`` that is not its stored item's (``existing``,
    as REST JSON): as for a multi-valued group, an unknown id is refused rather than given a new item id."""
    sent = item.get("id")
    if sent is None or (isinstance(existing, dict) and str(sent) == existing.get("id")):
        return []
    return [field_error(f"{f.name}.id", "invalid", f"The item of '{f.name}' does not have this id; leave id out",
                        f.label, rejected=str(sent))]


def _merge_item(existing: dict[str, Any] | None, incoming: dict[str, Any]) -> dict[str, Any]:
    if existing is None:
        return {k: v for k, v in incoming.items() if k != "id"}
    merged = {k: v for k, v in existing.items() if k != "label"}
    merged.update({k: v for k, v in incoming.items() if k != "label"})
    return merged


def _finish_nested(f: Field, item: dict[str, Any], fresh_ids: bool) -> None:
    """Inner calculated values, id and label of a nested item. ``fresh_ids`` (a new record): every item gets a new
    id whatever the body sent, so an id names one item of one record."""
    for inner in f.nested:
        if inner.is_nested and item.get(inner.name) is not None:
            for sub in item[inner.name] if inner.many else [item[inner.name]]:
                _finish_nested(inner, sub, fresh_ids)
        if inner.calculated is not None:
            item[inner.name] = inner.calculated.render(lambda p: _nested_text(f, item, p)) or None
    if fresh_ids:
        item["id"] = ObjectId()
    else:
        item.setdefault("id", ObjectId())
    if f.nested_label is not None:
        item["label"] = f.nested_label.render(lambda p: _nested_text(f, item, p))
    else:
        item["label"] = f.label
    for key in [k for k, v in item.items() if v is None]:
        del item[key]


def _nested_text(f: Field, item: dict[str, Any], path: str) -> str:
    from entities.records.values import text_of, value_at
    inner = f.inner(path.split(".")[0])
    return text_of(inner if "." not in path else None, value_at(item, path))


def compact(doc: dict[str, Any]) -> dict[str, Any]:
    """Unset fields are not stored (so sparse unique indexes ignore them)."""
    return {k: v for k, v in doc.items() if v is not None or k in ("_id", "version", "label")}


def _add_missing_required(entity: Entity, exc: ValidationFailed, unset: Callable[[Field], bool]) -> None:
    """Add ``required`` errors for required fields left empty, so one 400 lists every problem of a body, in the
    order of the entity's fields (as the platform's sample: a missing ``name`` before a refused ``state``)."""
    named = {top_field(e) for e in exc.errors}
    for f in entity.fields:
        if f.required and f.name not in named and unset(f):
            exc.errors.append(field_error(f.name, "required", "This field is required", f.label))
    position = {f.name: i for i, f in enumerate(entity.fields)}
    exc.errors.sort(key=lambda e: position.get(top_field(e), len(position)))
