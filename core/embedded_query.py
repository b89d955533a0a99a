"""User patterns and time limits on the embedded store.

* ``$regex`` runs on RE2 (``core.regex``): linear in the input, whatever the pattern.
* ``maxTimeMS`` / ``max_time_ms`` apply: a scan past its deadline raises ``ExecutionTimeout`` as MongoDB does.
* ``prefilter`` takes the regex conditions out of a filter before the store lock is taken: the fields they
  read are copied under the lock (a short, pattern-independent step), the patterns are evaluated on the
  copies with the lock released, and the filter run under the lock names the matching ``_id``s instead.
  So a slow pattern never makes every other request wait.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo.errors import ExecutionTimeout, OperationFailure

from core.regex import SafeRegexError, from_flags, from_options

ID_IN = "$runtimeIdIn"  # an operator of our own: ``_id`` is in a set (O(1) per document, unlike ``$in``)
_state = threading.local()
_installed = False


def deadline_after(max_time_ms: Any) -> float | None:
    if isinstance(max_time_ms, int) and not isinstance(max_time_ms, bool) and max_time_ms > 0:
        return time.monotonic() + max_time_ms / 1000
    return None


@contextmanager
def time_limit(deadline: float | None) -> Iterator[None]:
    previous = getattr(_state, "deadline", None)
    _state.deadline = deadline
    try:
        yield
    finally:
        _state.deadline = previous


def extend_deadline(seconds: float) -> None:
    """Move the current time limit (if any) later by ``seconds``: work that is not the operation's own."""
    deadline = getattr(_state, "deadline", None)
    if deadline is not None:
        _state.deadline = deadline + seconds


def check_deadline() -> None:
    deadline = getattr(_state, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise ExecutionTimeout("operation exceeded time limit", 50)


class _Pattern:
    """A ``$regex`` with its options, kept as text until RE2 compiles it."""

    def __init__(self, pattern: str, options: str):
        self.pattern, self.options = pattern, options

    def compiled(self) -> Any:
        return from_options(self.pattern, self.options)


def _compiled(regex: Any) -> Any:
    try:
        if isinstance(regex, _Pattern):
            return regex.compiled()
        if isinstance(regex, str):
            return from_options(regex)
        return from_flags(regex.pattern, int(getattr(regex, "flags", 0)))  # re.Pattern or bson.Regex
    except SafeRegexError as exc:
        raise OperationFailure(str(exc), 2) from None


def _regex(doc_val: Any, regex: Any) -> bool:
    values = doc_val if isinstance(doc_val, list) else [doc_val]
    texts = [v for v in values if isinstance(v, str)]
    if not texts:
        return False
    check_deadline()
    compiled = _compiled(regex)
    return any(compiled.search(t) is not None for t in texts)


def _combine_regex_options(search: dict[str, Any]) -> dict[str, Any]:
    options = search["$options"]
    if not isinstance(options, str):
        raise OperationFailure("$options has to be a string")
    out = {k: v for k, v in search.items() if k != "$options"}
    regex = search["$regex"]
    out["$regex"] = _Pattern(regex if isinstance(regex, str) else regex.pattern, options)
    return out


def install() -> None:
    """Patch mongomock-ng once: RE2 for ``$regex``, deadline checks in every scan, the ``_id``-set operator."""
    global _installed
    if _installed:
        return
    from mongomock_ng import collection as mongomock_collection
    from mongomock_ng import filtering
    from mongomock_ng.filtering import NOTHING

    filtering._regex = _regex
    filtering._combine_regex_options = _combine_regex_options
    operators = filtering._filterer_inst._operator_map
    operators["$regex"] = lambda doc_val, search: doc_val is not NOTHING and _regex(doc_val, search)
    operators[ID_IN] = lambda doc_val, ids: doc_val in ids
    original = mongomock_collection.Collection._iter_documents

    def iter_documents(self: Any, filter: Any) -> Iterator[dict[str, Any]]:
        for document in original(self, filter):
            check_deadline()
            yield document

    mongomock_collection.Collection._iter_documents = iter_documents
    _installed = True


# --- evaluating regex conditions outside the store lock -------------------------------------------------------

def _has_regex(value: Any) -> bool:
    if isinstance(value, dict):
        return "$regex" in value or any(_has_regex(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_regex(v) for v in value)
    return hasattr(value, "pattern") and not isinstance(value, str)  # re.Pattern / bson.Regex


def _leaves(filter: Any, out: list[tuple[str, Any]]) -> None:
    if not isinstance(filter, dict):
        return
    for key, cond in filter.items():
        if key in ("$and", "$or", "$nor") and isinstance(cond, list):
            for part in cond:
                _leaves(part, out)
        elif not key.startswith("$") and _has_regex(cond):
            out.append((key, cond))


def _rewrite(filter: Any, matched: dict[tuple[str, int], frozenset[Any]]) -> Any:
    if not isinstance(filter, dict):
        return filter
    rest: dict[str, Any] = {}
    ids: list[dict[str, Any]] = []
    for key, cond in filter.items():
        if key in ("$and", "$or", "$nor") and isinstance(cond, list):
            rest[key] = [_rewrite(part, matched) for part in cond]
        elif not key.startswith("$") and (key, id(cond)) in matched:
            ids.append({"_id": {ID_IN: matched[(key, id(cond))]}})
        else:
            rest[key] = cond
    if not ids:
        return rest
    return {"$and": ([rest] if rest else []) + ids}


def prefilter(inner: Any, filter: Any, lock: threading.RLock, deadline: float | None) -> Any:
    """``filter`` with its regex conditions already evaluated (see the module doc); unchanged without any."""
    leaves: list[tuple[str, Any]] = []
    _leaves(filter, leaves)
    if not leaves:
        return filter
    from mongomock_ng.filtering import filter_applies

    fields = {path.split(".", 1)[0] for path, _ in leaves}
    with lock, time_limit(deadline):
        snapshot = []
        for doc in inner._store.documents:
            check_deadline()
            snapshot.append({"_id": doc["_id"], **{f: _copy(doc[f]) for f in fields if f in doc}})
    # by path and condition: one condition object may be used on several paths (a field's visible text and value)
    matched: dict[tuple[str, int], frozenset[Any]] = {}
    with time_limit(deadline):
        for path, cond in leaves:
            matched[(path, id(cond))] = frozenset(s["_id"] for s in snapshot if filter_applies({path: cond}, s))
    return _rewrite(filter, matched)


def _copy(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else copy.deepcopy(value)
