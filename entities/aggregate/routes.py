"""``PUT /data/{entity}/aggregate``."""

from __future__ import annotations

import re
from typing import Any

from flask import jsonify

from core.api import Blueprint, errors
from core.services import services
from entities.aggregate.schemas import AggregateResult, Stage
from entities.aggregate.service import aggregate
from entities.permissions.enforce import check_paths, drop_path, forbidden, policy, read_filter, strip_hidden
from entities.query.named import object_paths

_TOKEN = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*")

blp = Blueprint("aggregate", __name__, description="Aggregate queries over an entity's records")


@blp.route("/data/<entity_name>/aggregate", methods=["PUT"])
@blp.arguments(Stage(many=True), location="raw", description="The pipeline: a list of stages")
@blp.response(200, AggregateResult)
@errors(blp, 400, 401, 403, 404)
def aggregate_records(body: Any, entity_name: str):
    """Run a pipeline of stages (match, sort, project, group, count, skip, limit, unwind, lookup)."""
    svc = services()
    entity = svc.registry.get(entity_name)
    p = policy(entity)
    if p.unrestricted:
        return jsonify(aggregate(svc, entity, body))
    base = read_filter(p.access, "aggregate")
    check_paths(p, _strings(body), "aggregate")
    _check_lookups(svc, body)
    result = aggregate(svc, entity, body, base)
    # rows that are records (no group or project stage) or relationship values hold fields nobody named, and so
    # do first()/last() of a nested group or relationship, under the name the group stage gave them
    hidden = p.hidden()
    renamed = [f"{output}{path[len(source):]}" for output, source in _picked_values(body).items()
               for path in hidden if path.startswith(f"{source}.")]
    result["items"] = [_drop_paths(strip_hidden(p, row), renamed) for row in result["items"]]
    return jsonify(result)


_PICK = re.compile(r"^\s*(?:first|last)\(\s*([\w.]+)\s*\)\s*$")


def _picked_values(body: Any) -> dict[str, str]:
    """Group outputs holding a value picked from the records (``"ci": "first(contactInformation)"``), as
    ``{output: field path}``; an output picked from an earlier output resolves to that output's field."""
    picked: dict[str, str] = {}
    for stage in body if isinstance(body, list) else [body]:
        group = stage.get("group") if isinstance(stage, dict) else None
        if not isinstance(group, dict):
            continue
        for output, spec in group.items():
            match = _PICK.match(spec) if isinstance(spec, str) else None
            if match is not None and output != "by":
                source = match.group(1)
                head, _, rest = source.partition(".")
                picked[output] = f"{picked[head]}.{rest}".rstrip(".") if head in picked else source
    return picked


def _drop_paths(row: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    for path in paths:
        drop_path(row, path.split("."))
    return row


def _check_lookups(svc: Any, body: Any) -> None:
    """A ``lookup`` joins whole records of another entity: the caller must read all of them, every field."""
    stages = body if isinstance(body, list) else [body]
    for stage in stages:
        settings = stage.get("lookup") if isinstance(stage, dict) else None
        name = settings.get("foreignEntityName") if isinstance(settings, dict) else None
        if not isinstance(name, str) or name not in svc.registry.all():
            continue  # the pipeline builder reports it
        foreign = policy(svc.registry.get(name))
        if not foreign.unrestricted and (not foreign.access.always or foreign.hidden()):
            raise forbidden("aggregate")


def _strings(value: Any, depth: int = 0) -> list[str]:
    """Every key and string of an aggregate body, split into candidate field paths ("sum(x)" → "x"), and the
    inner paths of JSON-object values (a ``match`` of a nested group by ``{"email": ...}``)."""
    if depth > 64:
        return []
    if isinstance(value, dict):
        return [t for k, v in value.items()
                for t in (*_TOKEN.findall(str(k)), *object_paths(str(k), v), *_strings(v, depth + 1))]
    if isinstance(value, list):
        return [t for v in value for t in _strings(v, depth + 1)]
    return _TOKEN.findall(value) if isinstance(value, str) else []
