"""``GET /api/docs``: Swagger UI from the files of the ``swagger-ui-bundle`` package, served by this app.

"Authorize" takes the token from ``POST /auth/login`` (as the ``token`` header, a bearer token or an API key),
and "Try it out" then calls this API. ``/api/docs?entity=companies`` shows one entity.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
          "favicon-16x16.png"}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Entity Runtime API</title>
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: {spec},
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      displayOperationId: true,
      docExpansion: "list",
      filter: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""


def blueprint(prefix: str) -> Blueprint:
    blp = Blueprint("docs", __name__)
    assets = f"{prefix}/docs/assets"

    @blp.route(f"{prefix}/docs", methods=["GET"])
    def page() -> Response:
        spec = f"{prefix}/openapi.json"
        entity = request.args.get("entity")
        if entity:
            spec += "?entity=" + "".join(c for c in entity if c.isalnum())
        html = PAGE.format(assets=assets, spec=json.dumps(spec))
        return Response(html, mimetype="text/html")

    @blp.route(f"{assets}/<name>", methods=["GET"])
    def asset(name: str) -> Response:
        if name not in ASSETS:
            abort(404)
        response = send_from_directory(swagger_ui_path, name, max_age=86400)
        return response

    return blp
