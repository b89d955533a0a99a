"""``/status/webhooks/deliveries``: the webhook delivery log (developers only)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.api import Blueprint, errors, page_of
from core.identity import require_developer
from core.services import services
from jobs.webhooks.service import render

DEVELOPERS_ONLY = "Only developers can see webhook deliveries"

blp = Blueprint("webhooks", __name__, description="Webhook deliveries")


class DeliveryArgs(Schema):
    entity = fields.String(load_default=None)
    status = fields.String(load_default=None)
    _size = fields.Integer(load_default=20, validate=validate.Range(min=0, max=1000), data_key="_size")
    _offset = fields.String(load_default=None, data_key="_offset")


class DeliverySchema(Schema):
    id = fields.String()
    deliveryId = fields.String()
    entity = fields.String(allow_none=True)
    listener = fields.String(allow_none=True)
    event = fields.String(allow_none=True)
    recordId = fields.String(allow_none=True)
    url = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    lastResponseCode = fields.Integer(allow_none=True)
    lastError = fields.String(allow_none=True)
    createDate = fields.Integer()
    lastAttemptAt = fields.Integer(allow_none=True)
    nextAttemptAt = fields.Integer(allow_none=True)
    deliveredAt = fields.Integer(allow_none=True)
    lastJobId = fields.String(allow_none=True)


DeliveryListSchema = page_of(DeliverySchema, "DeliveryListSchema")


@blp.route("/status/webhooks/deliveries", methods=["GET"])
@blp.arguments(DeliveryArgs, location="query")
@blp.response(200, DeliveryListSchema)
@errors(blp, 400, 401, 403)
def list_deliveries(args: dict[str, Any]):
    require_developer(DEVELOPERS_ONLY)
    statuses = [s.strip().upper() for s in args["status"].split(",") if s.strip()] if args["status"] else None
    return services().webhooks.list(args["entity"] or None, statuses, args["_size"], args["_offset"] or None)


@blp.route("/status/webhooks/deliveries/<delivery_id>", methods=["GET"])
@blp.response(200, DeliverySchema)
@errors(blp, 401, 403, 404)
def get_delivery(delivery_id: str):
    require_developer(DEVELOPERS_ONLY)
    return render(services().webhooks.get(delivery_id))
