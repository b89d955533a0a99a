"""``OPTIONS`` on any route (no token needed): what the route serves, worked out from the routes themselves.

The methods listed are those of the rules that own the path (``core.routing.served_rules``), so ``Allow``
says what a 405 of the same path says. The body types come from the arguments each serving view declares.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from werkzeug.routing import Rule

from core.errors import NotFound
from core.routing import served_rules

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
    served = served_rules()
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


def _body_types(app: Flask, rule: Rule) -> list[str]:
    view: Any = app.view_functions.get(rule.endpoint)
    parameters = (getattr(view, "_apidoc", None) or {}).get("arguments", {}).get("parameters", [])
    return [kind for p in parameters for kind in BODY_TYPES.get(p.get("in"), ())]
