"""``/metadata/entities``: entity definitions as data (developers only)."""

from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint

from core.http import json_body
from core.identity import require_developer
from core.services import services

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
    require_developer()
    services().registry.save(json_body(), name=name)
    return jsonify(services().registry.definition(name))


@blp.route("/metadata/entities/<name>", methods=["DELETE"])
def delete_entity(name: str):
    require_developer()
    svc = services()
    deleted = svc.registry.delete(name)
    svc.records.drop_all(name)
    return jsonify(deleted)
