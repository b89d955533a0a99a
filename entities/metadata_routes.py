"""``/metadata/entities``: entity definitions as data (developers only)."""

from __future__ import annotations

from flask import jsonify, request
from flask_smorest import Blueprint

from core.errors import BadRequest
from core.http import flag, json_body
from core.identity import current_user, require_developer
from core.services import services
from entities.refactoring.service import put_definition

blp = Blueprint("metadata", __name__, description="Entity definitions (developers only)")


@blp.route("/metadata/entities", methods=["GET"])
def list_entities():
    require_developer()
    items = services().registry.list_definitions()
    return jsonify({"total": len(items), "items": items})


@blp.route("/metadata/entities", methods=["POST"])
def create_entity():
    require_developer()
    entity, _ = services().registry.save(json_body())
    return jsonify(services().registry.definition(entity.name))


@blp.route("/metadata/entities/<name>", methods=["GET"])
def get_entity(name: str):
    require_developer()
    return jsonify(services().registry.definition(name))


@blp.route("/metadata/entities/<name>", methods=["PUT"])
def put_entity(name: str):
    """Create or change; a change that affects stored data plans a refactoring (``_dryRun=true``: only the plan)."""
    require_developer()
    on_error = request.args.get("_onConversionError") or "refuse"
    if on_error not in ("refuse", "null"):
        raise BadRequest("Parameter _onConversionError must be null (or left out to refuse the change)")
    return jsonify(put_definition(services(), name, json_body(), dry_run=flag("_dryRun"), on_error=on_error,
                                  user=current_user()))


@blp.route("/metadata/entities/<name>", methods=["DELETE"])
def delete_entity(name: str):
    require_developer()
    svc = services()
    deleted = svc.registry.delete(name)
    svc.records.drop_all(name)
    return jsonify(deleted)
