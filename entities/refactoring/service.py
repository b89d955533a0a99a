"""``PUT /metadata/entities/{name}`` with data: plan, check (conversions, new unique rules), preview or start.

The new definition and its pending refactoring are stored in one update; from then on every read and
write converts records not yet migrated (``entities.records.upgrade``) while the ``REFACTORING`` job
rewrites them in batches. A change whose values cannot all be converted is refused (400 listing the
first 100) unless ``onConversionError`` is ``null``.
"""

from __future__ import annotations

from typing import Any

from core.errors import ApiError, ValidationFailed, field_error
from entities.metadata import Entity, Field, PendingRefactoring, parse_entity
from entities.records.upgrade import Collector, match_old, migrate, upgrade
from entities.records.values import value_at
from entities.refactoring.cascade import CASCADE_UPDATE
from entities.refactoring.planner import Change, moved_paths, plan
from entities.registry import link_copied

MAX_LISTED = 100


def put_definition(svc: Any, name: str, body: Any, dry_run: bool = False, on_error: str = "refuse",
                   user: dict[str, Any] | None = None) -> dict[str, Any]:
    registry = svc.registry
    prepared = registry.prepare(body, name=name)
    raw, new_entity, existing = prepared
    if existing is None:
        if dry_run:
            return _dry_run([])
        registry.save(raw, name=name, prepared=prepared)
        return registry.definition(name)
    current = registry.get(name)
    old_raw = existing["definition"]
    old_entity = parse_entity(old_raw, None, version=existing["version"], entity_id=str(existing["_id"]))
    entities = dict(registry.all())
    link_copied(old_entity, entities)
    link_copied(new_entity, {**entities, name: new_entity})
    changes = plan(old_entity, new_entity) if old_raw != raw else []
    col = svc.records.collection(current)
    refreshes = [(c, col.count_documents(c.count_filter)) for c in _copy_changes(old_entity.fields, new_entity.fields)]
    if not changes:
        if dry_run:
            return _dry_run([c.as_json(n) for c, n in refreshes])
        registry.save(raw, name=name, prepared=prepared)
        jobs = _refresh_copies(svc, name, refreshes, user)
        out = registry.definition(name)
        if jobs:  # only copied fields changed: the job that refreshes the stored links, as a refactoring's
            out["refactoring"] = {**svc.jobs.job_link(jobs[0]), "changes": [c.as_json(n) for c, n in refreshes],
                                  "jobs": [svc.jobs.job_link(j) for j in jobs]}
        return out
    moves = moved_paths(old_entity, new_entity)
    followers = svc.plugins.definition_followers if moves else []
    refused = [e for follower in followers for e in follower.check(name, new_entity, moves)]
    if refused:
        raise ValidationFailed(refused, message="Permission rules use fields this change renames or removes in a "
                                                "way they cannot follow; nothing was changed")
    step = PendingRefactoring(existing["version"] + 1, old_entity, new_entity, on_error)
    errors, duplicates, copies = _scan(svc, current, step, changes, _copied_parts(svc, name))
    planned = [c.as_json(col.count_documents(c.count_filter)) for c in changes] + [c.as_json(n) for c, n in refreshes]
    if dry_run:
        return _dry_run(planned, errors, duplicates)
    if duplicates:
        raise ApiError(400, "Records have duplicate values for a field that becomes unique; nothing was changed",
                       code="validationErrors", errors=[
                           {**field_error(d["field"], "duplicate", "Several records have this value",
                                          rejected=d["value"]), "additionalInfo": d} for d in duplicates])
    if errors.count and on_error != "null":
        raise ApiError(400, f"{errors.count} values cannot be converted; nothing was changed "
                            "(send ?_onConversionError=null to set them to null)", code="conversionErrors",
                       errors=[{"field": e.field, "fieldLabel": e.field, "code": "conversion", "message": e.reason,
                                "additionalInfo": {"recordId": str(e.record_id), "oldValue": e.old_value}}
                               for e in errors.first], conversionErrorsCount=errors.count)
    data: dict[str, Any] = {"entityName": name, "to": step.to}
    reserved = _reserve_numbers(svc, new_entity, changes, col)
    if reserved:
        data["numbers"] = reserved
    finishers = [follower.follow(name, moves) for follower in followers]
    try:
        registry.save(raw, name=name, prepared=prepared, refactoring={"old": old_raw, "onError": on_error})
    except BaseException:
        for finish in finishers:
            finish(False)
        raise
    for finish in finishers:
        finish(True)
    out = registry.definition(name)
    job = svc.jobs.submit("REFACTORING", f"Refactoring {name} to version {step.to}", data, user or {})
    out["refactoring"] = {**svc.jobs.job_link(job), "changes": planned}
    _refresh_copies(svc, name, refreshes, user)
    _refresh_referrers(svc, name, copies, user)
    return out


def _dry_run(planned: list[dict[str, Any]], errors: Collector | None = None,
             duplicates: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The answer of ``?_dryRun=true``: always the same keys."""
    errors = errors or Collector(MAX_LISTED)
    return {"dryRun": True, "changes": planned, "conversionErrors": [e.as_json() for e in errors.first],
            "conversionErrorsCount": errors.count, "duplicates": duplicates or []}


def _copy_changes(olds: list[Field], news: list[Field], old_prefix: str = "") -> list[Change]:
    """Relationships (kept from the old definition) whose copied fields were added or removed: the stored
    values holding a link are refreshed (``count_filter``, old names)."""
    changes: list[Change] = []
    for nf in news:
        of = match_old(olds, nf)
        if of is None:
            continue  # a new field holds no stored values
        old_path = old_prefix + of.name
        if of.is_nested and nf.is_nested:
            changes += _copy_changes(of.nested, nf.nested, old_path + ".")
        elif nf.type.name == "relationship" and (
                (of.type_rules.get("copiedFields") or []) != (nf.type_rules.get("copiedFields") or [])):
            copied = nf.type_rules.get("copiedFields") or []
            changes.append(Change("copiedFields", nf.path, f"the values' copied fields become {copied}: a "
                                  f"{CASCADE_UPDATE} job refreshes every stored link",
                                  {f"{old_path}.id": {"$exists": True}},
                                  extra={"targetEntity": nf.target, "copied": copied}))
    return changes


def _refresh_copies(svc: Any, name: str, refreshes: list[tuple[Change, int]],
                    user: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Relationships whose copied fields changed: a CASCADE_UPDATE job refreshes every stored value (when some
    record holds one). The jobs submitted."""
    return [svc.jobs.submit(CASCADE_UPDATE, f"Copy {change.extra['copied']} into {name}.{change.field}",
                            {"entityName": name, "fieldPath": change.field,
                             "targetEntity": change.extra["targetEntity"], "targetId": None}, user or {})
            for change, count in refreshes if count]


def _reserve_numbers(svc: Any, entity: Entity, changes: list[Change], col: Any) -> dict[str, list[int]]:
    """For each field the refactoring numbers (``number`` changes), the numbers of the records stored now, taken
    before the definition is saved: records created from then on are numbered after them, as they were created
    after them. ``{field name: [first, last]}``, handed to the REFACTORING job."""
    fields = [f for c in changes if c.kind == "number" and (f := entity.field(c.field or "")) is not None]
    count = col.count_documents({}) if fields else 0
    reserved = {}
    for f in fields if count else []:
        first = svc.records.counters.take(entity, f, count)
        reserved[f.name] = [first, first + count - 1]
    return reserved


def _copied_parts(svc: Any, name: str) -> set[str]:
    """What records pointing at ``name``'s records keep a copy of: the label, and their copied fields."""
    parts = {"label"}
    for _, f in svc.registry.referrers_of(name):
        parts.update(f.type_rules.get("copiedFields") or [])
    return parts


def _refresh_referrers(svc: Any, name: str, changed: set[str], user: dict[str, Any] | None) -> None:
    """The refactoring changes labels or copied values (a new label template, a field it uses converted or
    renamed, a copied field converted): one CASCADE_UPDATE job per relationship field pointing at ``name``
    rewrites the stale copies in every referencing record (not one job per changed record)."""
    for entity, f in svc.registry.referrers_of(name):
        copied = set(f.type_rules.get("copiedFields") or [])
        if not (("label" in changed and f.update_label) or (f.update_copied and copied & changed)):
            continue
        if svc.records.collection(entity).find_one({f"{f.path}.id": {"$exists": True}}, {"_id": 1}) is None:
            continue
        svc.jobs.submit(CASCADE_UPDATE, f"Update {entity.name}.{f.path} for the changed {name} records",
                        {"entityName": entity.name, "fieldPath": f.path, "targetEntity": name, "targetId": None},
                        user or {})


def _unique_checks(new: Entity, changes: list[Change]) -> list[str]:
    """The unique fields whose stored values the change may make equal: those that become unique, and unique
    ones whose values are converted (``"1"`` and ``"01"`` as integers) or become lists or single values."""
    touched = {c.field for c in changes if c.kind in ("unique", "convert", "multiplicity") and c.field}
    return [path for path in touched if (f := new.resolve(path)) is not None and f.unique]


def _unique_key(value: Any) -> str:
    return str(value.get("id")) if isinstance(value, dict) else repr(value)


def _scan(svc: Any, current: Entity, step: PendingRefactoring, changes: list[Change],
          copied: set[str]) -> tuple[Collector, list[dict[str, Any]], set[str]]:
    """Convert every record in memory: the conversion errors, duplicates of fields that become unique, and which
    of the ``copied`` parts (label, copied fields) the conversion changes in some record."""
    errors = Collector(MAX_LISTED)
    changed: set[str] = set()
    unique_paths = _unique_checks(step.new, changes)
    seen: dict[str, dict[Any, list[str]]] = {p: {} for p in unique_paths}
    for doc in svc.records.collection(current).find({}, {"_hist": 0}):
        converted = migrate(step, upgrade(current, doc), errors)
        changed.update(part for part in copied - changed if converted.get(part) != doc.get(part))
        for path in unique_paths:
            value = value_at(converted, path)
            items = value if isinstance(value, list) else [value]  # many values: each is unique across records
            for key in dict.fromkeys(_unique_key(item) for item in items if item not in (None, "", [])):
                seen[path].setdefault(key, []).append(str(doc["_id"]))
    duplicates = []
    for path, values in seen.items():
        for key, ids in values.items():
            if len(ids) > 1 and len(duplicates) < MAX_LISTED:
                duplicates.append({"field": path, "value": key.strip("'\""), "recordIds": ids[:MAX_LISTED]})
    return errors, duplicates, changed
