"""``OPTIONS`` on any route (no token needed): what the route serves, worked out from the routes themselves.

Several rules can match one path: ``/data/companies/aggregate`` matches ``PUT /data/<entity>/aggregate`` and
the generic ``/data/<entity>/<segment>`` rules, whose views answer 405 for such a path (it belongs to the
route with the literal segment). The methods listed are those of the rules with the most literal segments
among those matching the path, so ``Allow`` says what a 405 of the same path says. The body types come from
the arguments each serving view declares.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect, Rule

from core.errors import NotFound

JSON, FORM, MULTIPART = "application/json", "application/x-www-form-urlencoded", "multipart/form-data"
# where a view's argument is read (core.api's locations) → the body types it takes
BODY_TYPES: dict[str, tuple[str, ...]] = {"body": (JSON,), "json": (JSON,), "raw": (JSON,),
                                          "json_or_form": (JSON, FORM, MULTIPART), "upload": (MULTIPART,),
                                          "files": (MULTIPART,), "form": (FORM,)}


def options_response(app: Flask) -> Response:
    """The ``Allow`` header and ``{path, methods, parses, renders, schema}``; a 404 for an entity that does not
    exist, as every other method of its routes answers."""
    prefix = app.config["RUNTIME"].api_prefix
    parts = request.path[len(prefix):].strip("/").split("/") if request.path.startswith(prefix) else []
    entity = parts[1] if len(parts) > 1 and parts[0] == "data" else None
    if entity is not None:
        app.extensions["runtime"].registry.get(entity)  # NotFound when it does not exist
    served = _served_rules()
    if not served:
        raise NotFound(f"No route serves '{request.path}'")
    methods = sorted(set(served) | ({"HEAD"} if "GET" in served else set()) | {"OPTIONS"})
    parses: list[str] = []
    for rule in served.values():
        for kind in _body_types(app, rule):
            if kind not in parses:
                parses.append(kind)
    schema = f"{prefix}/openapi.json" + (f"?entity={entity}" if entity is not None else "")
    body = {"path": request.path, "methods": methods, "parses": parses, "renders": [JSON], "schema": schema}
    response = app.response_class(json.dumps(body), mimetype=JSON)
    response.headers["Allow"] = ", ".join(methods)
    return response


def _served_rules() -> dict[str, Rule]:
    """Method → the rule that serves it on this path, keeping only the rules with the most literal segments."""
    adapter = request_ctx.url_adapter
    if adapter is None:
        return {}
    rules: dict[str, Rule] = {}
    for method in adapter.allowed_methods():
        if method in ("HEAD", "OPTIONS"):
            continue
        try:
            rule, _ = adapter.match(method=method, return_rule=True)
        except (HTTPException, RequestRedirect):
            continue
        rules[method] = rule
    most = max((_literal_segments(r) for r in rules.values()), default=0)
    return {m: r for m, r in rules.items() if _literal_segments(r) == most}


def _literal_segments(rule: Rule) -> int:
    return sum(1 for part in rule.rule.split("/") if part and "<" not in part)


def _body_types(app: Flask, rule: Rule) -> list[str]:
    view: Any = app.view_functions.get(rule.endpoint)
    parameters = (getattr(view, "_apidoc", None) or {}).get("arguments", {}).get("parameters", [])
    return [kind for p in parameters for kind in BODY_TYPES.get(p.get("in"), ())]
