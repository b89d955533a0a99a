"""Operators → Mongo conditions on a resolved path.

Semantics (the reference model of the property tests follows them):

* A path yields the set of values found at it (every element of multi-valued fields and groups).
* ``equals``, ``like``, ``greater…``, ``less…``, ``between`` and ``notEmpty`` match when **any**
  value satisfies them (``between`` needs one value inside both bounds).
* ``notEquals`` is the negation of ``equals`` and ``empty`` the negation of ``notEmpty``: so
  ``addresses.state=notEquals(CA)`` means no address is in CA, and a missing field is "not equal".
* A missing boolean reads as ``false`` (the API renders it so), so ``equals(false)`` matches it.
* ``near(lat,long[,min[,max]])`` (geo points only) holds the points within the distances (``entities.query.near``).
* ``like`` is case-insensitive: contains ``x``; ``/x`` starts with; ``x/`` ends with; ``/re/`` a
  regular expression (at most 200 characters, evaluated by RE2 in linear time: back-references and
  look-around are refused with a 400). The texts of one ``like()`` are at most 500 characters in all, and
  the pattern they make at most the store's ``MAX_PATTERN``: a 400 names the parameter, not the store.
"""

from __future__ import annotations

import re
from typing import Any

from core.regex import MAX_PATTERN, SafeRegexError, compile_safe
from entities.query.near import near_condition
from entities.query.paths import Segment, Target
from entities.query.values import Operation, bad, convert_all
from entities.types import parse_object_id
from entities.visible_text import TEXT_KEY

MAX_REGEX = 200
MAX_LIKE_TEXT = 500  # as _globalSearch
# A quantified group that itself contains a quantifier, e.g. (a+)+ or (\w*x)*: catastrophic backtracking.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d)")
_COMPARISONS = {"greater": "$gt", "greaterOrEquals": "$gte", "less": "$lt", "lessOrEquals": "$lte"}


def at(chain: tuple[Segment, ...], cond: Any) -> dict[str, Any]:
    """Put a leaf condition at the end of a key chain; multi-valued groups on the way get ``$elemMatch``.

    ``$elemMatch`` (rather than a plain dotted path) makes "one element satisfies the whole
    condition" exact, e.g. ``between`` on ``addresses.zip`` or ``notEmpty`` through an array.
    """
    key, array = chain[-1].key, chain[-1].array
    if array and isinstance(cond, dict) and len([k for k in cond if k != "$options"]) > 1:
        cond = {"$elemMatch": cond}
    return within(chain[:-1], {key: cond})


def within(chain: tuple[Segment, ...], doc: dict[str, Any]) -> dict[str, Any]:
    """``doc``, a condition on one (nested) document, applied to the document at the end of ``chain``."""
    for seg in reversed(chain):
        doc = {seg.key: {"$elemMatch": doc}} if seg.array else {f"{seg.key}.{k}": v for k, v in doc.items()}
    return doc


def at_visible(chain: tuple[Segment, ...], cond: Any) -> dict[str, Any]:
    """``at`` for a field with markup: the condition on the visible text its document keeps beside it
    (``TEXT_KEY``), or on the stored value in a document written without it (before the field was html, or
    before visible texts were kept); a value without visible text has no stored value either."""
    split = max((i for i, s in enumerate(chain[:-1]) if s.array), default=-1) + 1
    outer, local = chain[:split], chain[split:]
    last = local[-1]
    shown = (*local[:-1], Segment(f"{TEXT_KEY}.{last.key}", last.array))
    unset = at((*local[:-1], Segment(f"{TEXT_KEY}.{last.key}", False)), {"$exists": False})
    return within(outer, {"$or": [at(shown, cond), {**unset, **at(local, cond)}]})


def leaf(target: Target, cond: Any) -> dict[str, Any]:
    """``cond`` on the value at ``target`` (the visible text of a field with markup)."""
    return at_visible(target.chain, cond) if target.markup else at(target.chain, cond)


def negate(cond: dict[str, Any]) -> dict[str, Any]:
    return {"$nor": [cond]}


def condition(target: Target, operation: Operation) -> dict[str, Any]:
    """The Mongo filter for one operator on one path (group JSON values are handled by the caller)."""
    op, param = operation.op, target.param
    if op not in target.operators:
        kind = target.field.type.name if target.field is not None else "id"
        raise bad(param, f"operator '{op}' is not allowed for fields of type {kind}")
    if op == "notEmpty":
        return leaf(target, {"$nin": [None, []]})
    if op == "empty":
        return negate(leaf(target, {"$nin": [None, []]}))
    if op == "like":
        return leaf(target, {"$regex": like_pattern(operation.args, target.like_digits, param), "$options": "i"})
    if op == "near":
        return near_condition(target, operation.args, param)
    values = convert_all(target.convert, operation.args, param)
    if op in ("equals", "notEquals") and target.id_chain is not None and values:
        cond = _bare_reference(target, values)
        return cond if op == "equals" else negate(cond)
    if op in ("equals", "notEquals"):
        if not values:
            raise bad(param, f"{op}() needs a value")
        cond = leaf(target, _equals(target.equal_forms(values), target.is_boolean))
        return cond if op == "equals" else negate(cond)
    bounds = {"$gte": values[0], "$lte": values[1]} if op == "between" else {_COMPARISONS[op]: values[0]}
    forms = target.field.type.range_forms(bounds) if target.field is not None else [bounds]
    return leaf(target, forms[0]) if len(forms) == 1 else {"$or": [leaf(target, f) for f in forms]}


def _bare_reference(target: Target, values: list[Any]) -> dict[str, Any]:
    """``company=<v>``: a relationship whose label is ``v`` or whose id it is; for a type that looks names up (a
    group: by id, name or label), the references to the targets the values name (none: nothing matches)."""
    assert target.field is not None and target.id_chain is not None
    if target.field.type.finds_by_name:
        return at(target.id_chain, _equals(target.field.type.named_ids(values), False))
    ids = [oid for oid in (parse_object_id(v) for v in values) if oid is not None]
    cond = leaf(target, _equals(values, False))
    return {"$or": [cond, at(target.id_chain, _equals(ids, False))]} if ids else cond


def _equals(values: list[Any], boolean: bool) -> Any:
    if boolean and False in values:
        values = [*values, None]  # a boolean that was never set reads as false
    return values[0] if len(values) == 1 else {"$in": values}


def like_pattern(args: list[str], digits_only: bool, param: str) -> str:
    """One regex for ``like(...)``; several comma-separated texts are alternatives."""
    if not args:
        raise bad(param, "like() needs a value")
    if sum(len(arg) for arg in args) > MAX_LIKE_TEXT:
        raise bad(param, f"the text of like() is at most {MAX_LIKE_TEXT} characters")
    parts = []
    for arg in args:
        if len(arg) >= 2 and arg.startswith("/") and arg.endswith("/"):
            parts.append(_checked_regex(arg[1:-1], param))
            continue
        start, end = arg.startswith("/"), arg.endswith("/") and len(arg) > 1
        body = arg[1 if start else 0:len(arg) - 1 if end else len(arg)]
        if digits_only:  # a phone number: a leading + it was stored with does not count
            body = re.sub(r"\D", "", body)
        anchor = (r"^\+?" if digits_only else "^") if start else ""
        parts.append(anchor + re.escape(body) + ("$" if end else ""))
    pattern = parts[0] if len(parts) == 1 else "|".join(f"(?:{p})" for p in parts)
    if len(pattern) > MAX_PATTERN:  # many short alternatives: the store would refuse the pattern
        raise bad(param, "like() has too many values: use fewer or shorter ones")
    return pattern


def _checked_regex(pattern: str, param: str) -> str:
    if len(pattern) > MAX_REGEX:
        raise bad(param, f"a like() regular expression is at most {MAX_REGEX} characters")
    try:
        compile_safe(pattern, ignore_case=True)
    except SafeRegexError as exc:
        raise bad(param, str(exc)) from None
    if _NESTED_QUANTIFIER.search(pattern):
        raise bad(param, "nested quantifiers such as (a+)+ are not allowed in like() regular expressions")
    return pattern
