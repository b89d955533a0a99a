"""``_globalSearch``: any word (or "quoted phrase") found, case-insensitively, in any text-like field."""

from __future__ import annotations

import re
from typing import Any

from entities.metadata import Entity
from entities.query.operators import leaf
from entities.query.paths import resolve
from entities.query.values import bad

MAX_TERMS = 20
MAX_LENGTH = 500
_TERM = re.compile(r'"([^"]*)"|(\S+)')


def search_terms(text: str) -> list[str]:
    terms = [(phrase if phrase is not None and phrase != "" else word) for phrase, word in _TERM.findall(text)]
    return [t.strip() for t in terms if t and t.strip()]


def global_search(entity: Entity, text: str, param: str = "_globalSearch",
                  exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``exclude``: fields the caller may not see (not searched, so a match cannot reveal them)."""
    if not entity.global_search:
        raise bad(param, f"global search is not enabled for entity '{entity.name}'")
    if len(text) > MAX_LENGTH:
        raise bad(param, f"at most {MAX_LENGTH} characters")
    terms = search_terms(text)
    if not terms:
        return {}
    if len(terms) > MAX_TERMS:
        raise bad(param, f"at most {MAX_TERMS} words")
    paths = [p for p in entity.text_fields() if p.split(".")[0] not in exclude and p not in exclude]
    if not paths:
        return {"_id": {"$exists": False}}  # nothing to search in: nothing matches
    pattern = {"$regex": "|".join(re.escape(t) for t in terms), "$options": "i"}
    return {"$or": [_found(entity, path, pattern, param) for path in paths]}


def _found(entity: Entity, path: str, pattern: dict[str, Any], param: str) -> dict[str, Any]:
    """The pattern found at ``path``; in a field with markup, in its visible text."""
    f = entity.resolve(path)
    if f is None or f.type.visible_text is None:
        return {path: pattern}
    return leaf(resolve(entity.fields, path, param), pattern)
