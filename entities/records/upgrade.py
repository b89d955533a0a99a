"""Converting a stored record from one definition of its entity to the next (refactorings).

Pure functions over definitions: ``migrate`` turns a record stored under ``old`` into one under ``new``
(renames by field id, type conversion through the new type's loader, one↔many, removed fields unset,
defaults of new fields filled, labels recomputed), listing values it could not convert. ``upgrade`` applies
every pending step a record has not been through yet (by the metadata version ``_mv`` it was written under),
so reads never show a record of the new definition with unconverted values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from entities.metadata import Entity, Field, PendingRefactoring
from entities.records.values import compute_label, text_of, value_at
from entities.types import FieldInvalid

VERSION_KEY = "_mv"
UPGRADED_KEY = "_upgradedFrom"  # set on a record converted in memory; never stored
SYSTEM_KEYS = ("_id", "version", "label", "_hist", VERSION_KEY)


@dataclass
class ConversionError:
    record_id: Any
    field: str
    old_value: Any
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"recordId": str(self.record_id), "field": self.field, "oldValue": self.old_value,
                "reason": self.reason}


class Collector:
    """Conversion errors of a scan or a run: counts all, keeps the first ``keep``."""

    def __init__(self, keep: int = 100):
        self.keep = keep
        self.count = 0
        self.first: list[ConversionError] = []

    def add(self, error: ConversionError) -> None:
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append(error)


def needs_upgrade(entity: Entity, doc: dict[str, Any]) -> bool:
    return bool(entity.pending) and doc.get(VERSION_KEY, 0) < entity.pending[-1].to


def upgrade(entity: Entity, doc: dict[str, Any], errors: Collector | None = None) -> dict[str, Any]:
    """``doc`` as the current definition shows it (the same object when it is already up to date)."""
    if not needs_upgrade(entity, doc):
        return doc
    mv = doc.get(VERSION_KEY, 0)
    out = doc
    for step in entity.pending:
        if mv < step.to:
            out = migrate(step, out, errors)
    out[UPGRADED_KEY] = mv
    out[VERSION_KEY] = entity.pending[-1].to
    return out


def written_under(entity: Entity, doc: dict[str, Any]) -> Entity:
    """The definition a stored ``doc`` was written under: the old side of the first pending step it has not
    been through (``entity`` itself when it is up to date)."""
    mv = doc.get(VERSION_KEY, 0)
    return next((step.old for step in entity.pending if mv < step.to), entity)


def migrate(step: PendingRefactoring, doc: dict[str, Any], errors: Collector | None) -> dict[str, Any]:
    out = {k: doc[k] for k in SYSTEM_KEYS if k in doc}
    out.update(migrate_fields(step.old.fields, step.new.fields, doc, _Run(doc.get("_id"), errors), "", True))
    if "label" in doc:  # a projected read without the label keeps it out
        out["label"] = compute_label(step.new, out)
    out[VERSION_KEY] = step.to
    return out


@dataclass
class _Run:
    record_id: Any
    errors: Collector | None


def match_old(old_fields: list[Field], nf: Field) -> Field | None:
    if nf.id:
        found = next((f for f in old_fields if f.id == nf.id), None)
        if found is not None or any(f.id for f in old_fields):
            return found
    return next((f for f in old_fields if f.name == nf.name), None)


def migrate_fields(old_fields: list[Field], new_fields: list[Field], values: dict[str, Any], run: _Run,
                   prefix: str, top: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for nf in new_fields:
        of = match_old(old_fields, nf)
        if of is None:
            if top and nf.default is not None and nf.writable:
                default = default_value(nf)
                if default is not None:
                    out[nf.name] = default
            continue
        value = values.get(of.name)
        if value is None or renumbered(of, nf):  # numbered afresh by the refactoring job (entities.refactoring)
            continue
        converted = convert(of, nf, value, run, prefix + nf.name)
        if converted is not None:
            out[nf.name] = converted
    return out


def default_value(f: Field) -> Any:
    try:
        defaults = f.default if f.many and isinstance(f.default, list) else [f.default]
        loaded = [f.type.load(d, f) for d in defaults]
    except (FieldInvalid, TypeError, ValueError):
        return None
    return loaded if f.many else loaded[0]


def convert(of: Field, nf: Field, value: Any, run: _Run, path: str) -> Any:
    """One stored value of ``of`` as a value of ``nf`` (None when it cannot be converted: an error is noted)."""
    items = value if isinstance(value, list) else [value]
    if of.is_nested and nf.is_nested:
        converted = [_nested_item(of, nf, item, run, path) for item in items if isinstance(item, dict)]
    elif same_kind(of, nf):
        converted = list(items)
    else:
        converted = []
        for item in items:
            try:
                converted.append(convert_scalar(of, nf, item))
            except FieldInvalid as exc:
                _error(run, path, of, item, exc.message)
    if nf.many:
        return converted or None
    if len(converted) > 1:
        _error(run, path, of, value, f"has {len(converted)} values; only lists of at most one become a single value")
        return None
    return converted[0] if converted else None


def renumbered(of: Field, nf: Field) -> bool:
    """A field that becomes autoIncrement: its old values give way to numbers."""
    return nf.type.numbered and not of.type.numbered


def same_kind(of: Field, nf: Field) -> bool:
    if of.type.name != nf.type.name:
        return False
    return of.type.name != "choice" or set(of.choice_names()) <= set(nf.choice_names())


def convert_scalar(of: Field, nf: Field, stored: Any) -> Any:
    """Through the new type's loader: the old JSON form first, then its text form (parsed as a filter)."""
    if of.type.name == "relationship" or nf.type.name == "relationship":
        if of.type.name == nf.type.name and of.target == nf.target:
            return stored
        raise FieldInvalid("relationships cannot be converted")
    last = "cannot be converted"
    for candidate in (of.type.dump(stored, of), text_of(of, stored)):
        if nf.type.name == "choice" and isinstance(candidate, str):
            candidate = nf.type.cell_in(candidate, nf)  # option names in any case, then labels, as CSV import
        attempts = [candidate] if not isinstance(candidate, str) else [candidate, None]
        for attempt in attempts:
            try:
                if attempt is None:
                    loaded = nf.type.load(nf.type.parse_filter(candidate, nf), nf)
                    if isinstance(loaded, float) and loaded.is_integer() and candidate.strip().lstrip("-").isdigit():
                        return int(loaded)  # "1" → 1, not 1.0
                else:
                    loaded = nf.type.load(attempt, nf)
                key = nf.type.reference_key
                if key is not None and isinstance(loaded, dict) and key not in loaded:
                    # a user or group named by email or name: found in the store on a write, not here
                    raise FieldInvalid(f"cannot be converted to a {nf.type.name} reference")
                return loaded
            except FieldInvalid as exc:
                last = exc.message
            except (TypeError, ValueError, AttributeError) as exc:
                last = str(exc)
    raise FieldInvalid(last)


def _nested_item(of: Field, nf: Field, item: dict[str, Any], run: _Run, path: str) -> dict[str, Any]:
    out = migrate_fields(of.nested, nf.nested, item, run, path + ".", False)
    out["id"] = item.get("id") or ObjectId()
    if nf.nested_label is not None:
        out["label"] = nf.nested_label.render(lambda p: text_of(nf.inner(p.split(".")[0]) if "." not in p else None,
                                                                value_at(out, p)))
    else:
        out["label"] = nf.label
    return out


def _error(run: _Run, path: str, of: Field, stored: Any, reason: str) -> None:
    if run.errors is None:
        return
    try:
        old = of.type.dump(stored, of) if not isinstance(stored, list) else [of.type.dump(s, of) for s in stored]
    except Exception:  # the old value is informative only
        old = str(stored)
    run.errors.add(ConversionError(run.record_id, path, _json_safe(old), reason))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return str(value) if isinstance(value, ObjectId) else value
