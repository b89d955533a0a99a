"""``group`` fields: the groups of the runtime (``sys.groups``) a written value or a filter value names.

A value names a group by its id, its name or its label, in that order of precedence: the group of that id, else
the group of that name, else the groups of that label (labels need not be unique). Kept apart from the records
writer so that filters can ask too."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from core.errors import field_error
from core.ids import parse_object_id
from core.storage import Store
from entities.metadata import Field

GROUPS_COLLECTION = "sys.groups"  # owned by runtime.users; read here for ids, names and labels only
_SHOWN = {"name": 1, "label": 1}


def _label(doc: dict[str, Any]) -> str:
    return doc.get("label") or doc["name"]


def groups_as_targets(store: Store, ids: Any) -> dict[Any, dict[str, Any]]:
    """The groups ``ids`` name, shaped as the records a relationship points at (``{_id, label}``), so the
    relationships' label cascade refreshes ``group`` fields too."""
    wanted = [i for i in ids if isinstance(i, ObjectId)]
    if not wanted:
        return {}
    found = store.collection(GROUPS_COLLECTION).find({"_id": {"$in": wanted}}, _SHOWN)
    return {d["_id"]: {"_id": d["_id"], "label": _label(d)} for d in found}


def named_groups(store: Store, texts: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per text, the groups it names (see the module doc), read with one query; [] for a text naming none."""
    wanted = list(dict.fromkeys(texts))
    ids = [oid for oid in (parse_object_id(t) for t in wanted) if oid is not None]
    ors: list[dict[str, Any]] = [{"name": {"$in": wanted}}, {"label": {"$in": wanted}}]
    if ids:
        ors.append({"_id": {"$in": ids}})
    docs = list(store.collection(GROUPS_COLLECTION).find({"$or": ors}, _SHOWN))
    out: dict[str, list[dict[str, Any]]] = {}
    for text in wanted:
        oid = parse_object_id(text)
        out[text] = ([d for d in docs if d["_id"] == oid] or [d for d in docs if d.get("name") == text]
                     or [d for d in docs if _label(d) == text])
    return out


def named_group_ids(store: Store, texts: list[str]) -> list[Any]:
    """The ids of every group the texts name (a filter's values), read once until ``sys.groups`` changes."""
    def load() -> list[Any]:
        return list(dict.fromkeys(d["_id"] for docs in named_groups(store, texts).values() for d in docs))
    return store.read_cached(GROUPS_COLLECTION, ("named", *texts), load)


def resolve_group_ref(store: Store, f: Field, ref: dict[str, Any], path: str,
                      errors: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``{id}``, ``{name}``, ``{label}`` or ``{text}`` (a bare string: id, name or label) → the stored ``{id, label}``,
    or a field error (no such group; several groups of that label)."""
    key = next(k for k in ("id", "name", "label", "text") if k in ref)
    wanted = ref[key]
    if key == "text":
        found = named_groups(store, [wanted])[wanted]
    else:
        query = {"_id": wanted} if key == "id" else {key: wanted}
        found = list(store.collection(GROUPS_COLLECTION).find(query, _SHOWN).limit(2))
    shown = str(wanted)
    if not found:
        errors.append(field_error(path, "invalid", f"Group '{shown}' does not exist", f.label, rejected=shown))
        return None
    if len(found) > 1:
        errors.append(field_error(path, "invalid", f"More than one group has the label '{shown}'", f.label,
                                  rejected=shown))
        return None
    return {"id": found[0]["_id"], "label": _label(found[0])}
