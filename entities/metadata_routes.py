"""``/metadata/entities``: entity definitions as data (developers only)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from core.api import Blueprint, errors
from core.errors import BadRequest
from core.identity import current_user, require_developer
from core.services import services
from entities.refactoring.service import put_definition
from entities.schemas import DefinitionBody, DefinitionList, PutDefinitionQuery

blp = Blueprint("metadata", __name__, description="Entity definitions (developers only)")


@blp.route("/metadata/entities", methods=["GET"])
@blp.response(200, DefinitionList)
@errors(blp, 401, 403)
def list_entities():
    require_developer()
    items = services().registry.list_definitions()
    return jsonify({"total": len(items), "items": items})


@blp.route("/metadata/entities", methods=["POST"])
@blp.arguments(DefinitionBody, location="body")
@blp.response(200, DefinitionBody, description="The saved definition")
@errors(blp, 400, 401, 403, 409)
def create_entity(body: Any):
    """A new entity; an existing name is a 409 (``PUT /metadata/entities/{name}`` changes one)."""
    require_developer()
    entity = services().registry.create(body)
    return jsonify(services().registry.definition(entity.name))


@blp.route("/metadata/entities/<name>", methods=["GET"])
@blp.response(200, DefinitionBody)
@errors(blp, 401, 403, 404)
def get_entity(name: str):
    require_developer()
    return jsonify(services().registry.definition(name))


@blp.route("/metadata/entities/<name>", methods=["PUT"])
@blp.arguments(PutDefinitionQuery, location="query")
@blp.arguments(DefinitionBody, location="body")
@blp.response(200, DefinitionBody, description="The saved definition (with _dryRun=true: the refactoring plan)")
@errors(blp, 400, 401, 403)
def put_entity(query: dict[str, Any], body: Any, name: str):
    """Create or change; a change that affects stored data plans a refactoring (``_dryRun=true``: only the plan)."""
    require_developer()
    on_error = query.get("_onConversionError") or "refuse"
    if on_error not in ("refuse", "null"):
        raise BadRequest("Parameter _onConversionError must be null (or left out to refuse the change)")
    return jsonify(put_definition(services(), name, body, dry_run=bool(query.get("_dryRun")), on_error=on_error,
                                  user=current_user()))


@blp.route("/metadata/entities/<name>", methods=["DELETE"])
@blp.response(200, DefinitionBody, description="The deleted definition")
@errors(blp, 401, 403, 404)
def delete_entity(name: str):
    require_developer()
    svc = services()
    deleted = svc.registry.delete(name)
    svc.records.drop_all(name)
    return jsonify(deleted)
