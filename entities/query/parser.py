"""Request arguments (or a query map) → ``ListQuery``: filter, sort, page, projection.

Filters: every non-underscore key is a field path; several keys, and several values of one key,
are ANDed; ``_query`` and ``_globalSearch`` are ANDed with them. The caller's ``base_filter``
(record-level permissions) is ANDed around everything, so user input can only narrow it.
"""

from __future__ import annotations

from typing import Any

from core.http import offset_param
from entities.metadata import Entity
from entities.query.complex import parse_complex
from entities.query.conditions import and_, text_condition, value_condition
from entities.query.model import ListQuery
from entities.query.near import proximity_order
from entities.query.paths import resolve
from entities.query.search import global_search
from entities.query.values import QueryError, bad

MAX_SIZE = 1000
SYSTEM_PARAMS = {"_size", "_offset", "_sortField", "_sortType", "_fields", "_format", "_relationshipsToFetch",
                 "_query", "_globalSearch", "_async", "_lowPriority", "_triggerEvents", "_cascadeOperations",
                 "_useFieldNames", "_formatForUser", "api_key"}
ALWAYS_FETCHED = ("_id", "version", "label")


def parse_list_query(entity: Entity, args: Any, base_filter: dict[str, Any] | None = None,
                     default_size: int = 20, max_size: int = MAX_SIZE) -> ListQuery:
    """``args`` is a werkzeug ``MultiDict`` (anything with ``getlist`` and ``get``)."""
    mongo_filter = and_([base_filter or {}, _user_filter(entity, args)])
    size = _int(args.get("_size"), default_size, "_size", 0, max_size)
    near = None if args.get("_sortField") else proximity_order(entity, args)
    sort_key, direction = _sort(entity, args)
    sort = [(sort_key, direction)] if sort_key == "_id" else [(sort_key, direction), ("_id", direction)]
    skip, after = offset_param(args.get("_offset"), "record")  # a record id: after it (keyset on the sort)
    if near is not None:  # the find orders by proximity: no sort of its own, no keyset cursor
        sort = []
        if after is not None:
            raise bad("_offset", "a list ordered by proximity (near) pages with a numeric offset")
    fields, projection = _fields(entity, args.get("_fields"))
    fmt = args.get("_format") or "native"
    if fmt not in ("native", "plainText"):
        raise bad("_format", "must be native or plainText")
    rels = _relationships(entity, args.get("_relationshipsToFetch"))
    if projection is not None:
        projection.update({r: 1 for r in rels if not any(r == k.split(".")[0] for k in projection)})
    return ListQuery(filter=mongo_filter, sort=sort, skip=skip, limit=size, after_id=after, fields=fields,
                     fmt=fmt, format_for_user=(args.get("_formatForUser") or "").strip() or None,
                     relationships=rels, projection=projection, near=near, scope=base_filter or None)


def map_filter(entity: Entity, mapping: dict[str, Any], search_exclude: frozenset[str] = frozenset()
               ) -> dict[str, Any]:
    """The query-map form as a Mongo filter (aggregate ``match``, action preconditions).

    Keys are field paths, ``_or``/``_and`` (an object of conditions, or a list of such objects),
    ``_query`` (the complex-query string) or ``_globalSearch``. Values are strings in the REST syntax
    (``"greater(100)"``, ``"a,b"``), JSON scalars, lists (OR), or objects (one nested-group element
    matching every inner condition; ``{"id": ...}``/``{"label": ...}`` for relationships).
    ``search_exclude``: fields ``_globalSearch`` does not look into (hidden from the caller).
    """
    if not isinstance(mapping, dict):
        raise bad("query", "a query map must be an object")
    return _map(entity, mapping, "", search_exclude)


def _map(entity: Entity, mapping: dict[str, Any], prefix: str, exclude: frozenset[str]) -> dict[str, Any]:
    conditions = []
    for key, value in mapping.items():
        param = f"{prefix}{key}"
        if key in ("_or", "_and"):
            conditions.append(_logical(entity, key, value, param, exclude))
        elif key == "_query":
            conditions.append(_complex(entity, _require_str(value, param), param))
        elif key == "_globalSearch":
            conditions.append(global_search(entity, _require_str(value, param), exclude=exclude))
        elif not isinstance(key, str) or key.startswith("_"):
            raise bad(param, "unknown system parameter in a query map")
        else:
            conditions.append(value_condition(entity.fields, key, value, param))
    return and_(conditions)


def _logical(entity: Entity, key: str, value: Any, param: str, exclude: frozenset[str]) -> dict[str, Any]:
    if isinstance(value, dict):
        parts = [_map(entity, {k: v}, f"{param}.", exclude) for k, v in value.items()]
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        parts = [_map(entity, v, f"{param}.", exclude) for v in value]
    else:
        raise bad(param, f"{key} takes an object of conditions or a list of such objects")
    parts = [p for p in parts if p]
    if not parts:
        raise bad(param, f"{key} needs at least one condition")
    return parts[0] if len(parts) == 1 else {"$or" if key == "_or" else "$and": parts}


def _user_filter(entity: Entity, args: Any) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    for key in args:
        if key.startswith("_") or key in SYSTEM_PARAMS:
            if key not in SYSTEM_PARAMS:
                raise bad(key, "unknown system parameter")
            continue
        for raw in args.getlist(key):
            conditions.append(text_condition(entity.fields, key, raw, key))
    for raw in args.getlist("_query"):
        conditions.append(_complex(entity, raw))
    for raw in args.getlist("_globalSearch"):
        conditions.append(global_search(entity, raw))
    return and_(conditions)


def _complex(entity: Entity, text: str, param: str = "_query") -> dict[str, Any]:
    def leaf(path: str, value: str) -> dict[str, Any]:
        try:
            return text_condition(entity.fields, path, value, path)
        except QueryError as exc:
            raise bad(param, f"filter('{path}'): {exc.reason}") from None
    return parse_complex(text, leaf, param)


def _require_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise bad(param, "must be a string")
    return value


def _sort(entity: Entity, args: Any) -> tuple[str, int]:
    sort_type = (args.get("_sortType") or "desc").lower()
    if sort_type not in ("asc", "desc"):
        raise bad("_sortType", "must be asc or desc")
    direction = 1 if sort_type == "asc" else -1
    path = args.get("_sortField") or "id"
    if path in ("id", "label", "version"):
        return ("_id" if path == "id" else path), direction
    target = resolve(entity.fields, path, "_sortField")
    f = target.field
    if f is None or any(s.array for s in target.chain) or f.is_nested or not f.type.sortable \
            or target.chain[-1].key == "id":
        raise bad("_sortField", f"'{path}' cannot be used for sorting (multi-valued, nested or not sortable)")
    return ".".join(s.key for s in target.chain), direction


def _fields(entity: Entity, raw: str | None) -> tuple[list[str] | None, dict[str, int] | None]:
    """``_fields`` and the Mongo projection that fetches only them (plus id, version and label)."""
    paths = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if not paths:
        return None, None
    keys: set[str] = set(ALWAYS_FETCHED)
    for path in paths:
        if path in ("id", "label", "version"):
            continue
        target = resolve(entity.fields, path, "_fields")
        if target.field is None:
            raise bad("_fields", f"unknown field '{path}'")
        chain = [s.key for s in target.chain]
        if target.whole is not None:
            chain = chain[:target.whole]  # a copied field's relationship, a dynamic choice: the value comes back whole
        if target.field.type.is_reference or target.chain[-1].key == "id":
            chain = chain[:-1]  # a relationship, file or element id comes back whole
        keys.add(".".join(chain))
        for i in range(1, len(chain)):  # every nested group on the way keeps its element id and label
            keys.update({".".join([*chain[:i], "id"]), ".".join([*chain[:i], "label"])})
    # a parent and one of its children in one projection is a path collision: keep the parent
    kept = {k for k in keys if not any(k.startswith(other + ".") for other in keys if other != k)}
    paths = [p for p in paths if not any(p.startswith(other + ".") for other in paths)]
    return paths, dict.fromkeys(sorted(kept), 1)


def _relationships(entity: Entity, raw: str | None) -> list[str]:
    rels = [r.strip() for r in (raw or "").split(",") if r.strip()]
    for r in rels:
        f = entity.field(r)
        if f is None or f.type.target_entity(f) is None:
            raise bad("_relationshipsToFetch", f"'{r}' is not a relationship field")
    return rels


def _int(raw: str | None, default: int, name: str, lo: int, hi: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)  # type: ignore[arg-type]
    except ValueError:
        raise bad(name, "must be an integer") from None
    if value < lo or value > hi:
        raise bad(name, f"must be between {lo} and {hi}")
    return value
