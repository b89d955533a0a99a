"""Aggregation on the embedded store at 100k records (patched in by ``embedded_index.install``).

mongomock's ``aggregate`` deep-copies every stored document before the first stage, interprets a leading
``$match`` per document, and ``$group`` sorts the documents by their group key through ``BsonComparable``
(a Python-level comparison per step) only to feed ``itertools.groupby``. Here:

* a leading ``$match`` that ``embedded_filter`` compiles is run as the ``find`` filter (compiled scan);
* a following plain inclusion ``$project`` (top-level fields, 1/True) becomes the ``find`` projection, so only
  the projected fields are copied (the ``$project`` stage itself still runs, on the smaller documents);
* ``$group`` computes each document's key once and, when every key is of one plain type, sorts by the key
  itself (an ObjectId by its bytes); otherwise it sorts as mongomock does.

Each answers as mongomock's own path (tests/runtime/test_embedded_aggregate.py).
"""

from __future__ import annotations

import copy
import datetime
import itertools
from collections.abc import Callable
from typing import Any

from bson import ObjectId

from core.embedded_filter import compile_filter
from core.embedded_query import check_deadline
from core.embedded_sort import plain_keys


def install(replace: Callable[[Any, str, Any], None]) -> None:
    from mongomock_ng import aggregate as ma
    from mongomock_ng import collection as mc
    from mongomock_ng import helpers

    upstream_group = ma._handle_group_stage

    def aggregate(self: Any, pipeline: Any, session: Any = None, **unused_kwargs: Any) -> Any:
        for param in unused_kwargs:
            helpers.warn_noop(param, "aggregate")
        stages = list(pipeline)
        spec: dict[str, Any] = {}
        if stages and _plain_match(stages[0]):
            spec = stages.pop(0)["$match"]
        projection = _plain_inclusion(stages[0]) if stages else None
        return ma.process_pipeline(_documents(self, spec, projection), self.database, stages, session)

    def group_stage(in_collection: Any, database: Any, options: Any, user_vars: Any) -> Any:
        key_spec = options["_id"] if isinstance(options, dict) and "_id" in options else None
        if key_spec is None or not isinstance(in_collection, list):
            return upstream_group(in_collection, database, options, user_vars)
        keys = [_group_key(key_spec, doc, user_vars, ma) for doc in in_collection]
        order = plain_keys(keys)
        if order is None:
            return upstream_group(in_collection, database, options, user_vars)
        positions = sorted(range(len(in_collection)), key=order.__getitem__)  # stable, as mongomock's sort
        out = []
        for key, group in itertools.groupby(positions, keys.__getitem__):
            doc = ma._accumulate_group(options, [in_collection[i] for i in group], user_vars=user_vars)
            doc["_id"] = key
            out.append(doc)
        return out

    upstream_accumulate = ma._accumulate_group

    def accumulate_group(output_fields: Any, group_list: Any, user_vars: Any = None) -> Any:
        """As mongomock's, but ``$first`` / ``$last`` take the group's first / last document even when it lacks
        the value (null, as MongoDB gives); mongomock skipped to the nearest document that has one."""
        doc = upstream_accumulate(output_fields, group_list, user_vars=user_vars)
        for field, spec in output_fields.items():
            if field == "_id" or not isinstance(spec, dict) or not group_list:
                continue
            for operator, key in spec.items():
                if operator in ("$first", "$last"):
                    edge = group_list[0 if operator == "$first" else -1]
                    value = ma._parse_expression(key, edge, user_vars=user_vars)
                    doc[field] = None if value is ma.NOTHING else value
        return doc

    upstream_process = ma.process_pipeline

    def process_pipeline(collection: Any, database: Any, pipeline: Any, session: Any, user_vars: Any = None) -> Any:
        """As mongomock's, under the operation's time limit (``maxTimeMS``): checked before each stage and every
        ``_TIMED_EVERY`` documents a stage reads, so no stage (a ``$lookup`` per document, an ``$unwind`` that
        multiplies them) runs on past it while holding the store."""
        from mongomock_ng.command_cursor import CommandCursor

        for stage in pipeline:
            for operator, options in stage.items():
                handler = ma._PIPELINE_HANDLERS.get(operator)
                if not handler:  # unknown or not implemented: mongomock's own error
                    return upstream_process(collection, database, [stage], session, user_vars=user_vars)
                check_deadline()
                collection = handler(_Timed(collection) if isinstance(collection, list) else collection, database,
                                     options, user_vars)
        check_deadline()
        return CommandCursor(collection)

    replace(mc.Collection, "aggregate", aggregate)
    replace(ma._PIPELINE_HANDLERS, "$group", group_stage)
    replace(ma, "_accumulate_group", accumulate_group)
    replace(ma, "process_pipeline", process_pipeline)

    upstream_unwind = ma._handle_unwind_stage

    def unwind_stage(in_collection: Any, database: Any, options: Any, user_vars: Any) -> Any:
        """As mongomock's, but each element's document is a copy of the document without its array (mongomock
        copied the whole array for every element: quadratic in its length), under the time limit."""
        spec = options if isinstance(options, dict) else {"path": options}
        path = spec.get("path")
        if not isinstance(path, str) or not path.startswith("$") or spec.get("includeArrayIndex"):
            return upstream_unwind(in_collection, database, options, user_vars)
        path = path[1:]
        out: list[Any] = []
        for doc in in_collection:
            array = helpers.get_value_by_dot(doc, path) if isinstance(doc, dict) else None
            if not isinstance(array, list) or len(array) < 2:
                out.extend(upstream_unwind([doc], database, options, user_vars))
                continue
            helpers.set_value_by_dot(doc, path, None)  # the pipeline's own copy: the array is left out of copies
            try:
                for index, item in enumerate(array):
                    if not index % _TIMED_EVERY:
                        check_deadline()
                    out.append(helpers.set_value_by_dot(copy.deepcopy(doc), path, copy.deepcopy(item)))
            finally:
                helpers.set_value_by_dot(doc, path, array)
        return out

    replace(ma._PIPELINE_HANDLERS, "$unwind", unwind_stage)


_TIMED_EVERY = 64


class _Timed(list):  # type: ignore[type-arg]
    """A stage's input documents; reading them checks the time limit every ``_TIMED_EVERY`` documents."""

    def __iter__(self) -> Any:
        for i, doc in enumerate(list.__iter__(self)):
            if not i % _TIMED_EVERY:
                check_deadline()
            yield doc


_IMMUTABLE = {str, int, float, bool, type(None), bytes, ObjectId, datetime.datetime}  # exact types, shared


def _documents(collection: Any, spec: dict[str, Any], projection: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Copies of the matching documents (only the projected fields), as ``list(find(spec, projection))``
    returns them but without the cursor's per-document projection machinery."""
    from core.embedded_index import matching

    found = None if collection.codec_options.tz_aware else matching(collection, spec)
    if found is None:
        return list(collection.find(spec, projection))
    if projection is None:
        return [{k: _copy(v) for k, v in doc.items()} for doc in found]
    fields = {k for k in projection if k != "_id"}
    if projection.get("_id", True):
        fields.add("_id")
    return [{k: _copy(v) for k, v in doc.items() if k in fields} for doc in found]


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    return copy.deepcopy(value)  # anything else: as mongomock copies it


def _group_key(key_spec: Any, doc: dict[str, Any], user_vars: Any, ma: Any) -> Any:
    from mongomock_ng.filtering import NOTHING

    key = ma._parse_expression(key_spec, doc, user_vars=user_vars)
    return None if key is NOTHING else key


def _plain_match(stage: Any) -> bool:
    """A ``$match`` the compiled scan answers as the stage would: no dates (the stage adjusts their precision
    and zone on both sides), nothing ``compile_filter`` leaves to mongomock."""
    if not isinstance(stage, dict) or list(stage) != ["$match"] or not isinstance(stage["$match"], dict):
        return False
    spec = stage["$match"]
    return "datetime" not in repr(spec) and "Timestamp" not in repr(spec) and compile_filter(spec) is not None


def _plain_inclusion(stage: Any) -> dict[str, Any] | None:
    """The ``find`` projection of a ``$project`` that only includes top-level fields, else None."""
    if not isinstance(stage, dict) or list(stage) != ["$project"] or not isinstance(stage["$project"], dict):
        return None
    spec = stage["$project"]
    if not spec or any(not isinstance(k, str) or k.startswith("$") or "." in k or not k for k in spec):
        return None
    if any(v is not True and not (type(v) is int and v == 1) for k, v in spec.items() if k != "_id"):
        return None
    if "_id" in spec and spec["_id"] not in (0, 1, True, False):
        return None
    if all(k == "_id" for k in spec):
        return None
    return dict(spec)
