"""The app factory: config → store → services → blueprints, error handlers and the auth guard."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from flask_smorest import Api, Blueprint

from core import errors
from core.config import Config
from core.errors import Unauthorized
from core.http import SafeJSONProvider
from core.services import Services, services
from core.storage import connect
from entities import plugin as entities_plugin
from files import plugin as files_plugin
from jobs import plugin as jobs_plugin
from runtime.applogs import plugin as applogs_plugin
from runtime.auth import ServiceUnavailable, token_from_request
from runtime.auth_routes import PUBLIC_ENDPOINTS
from runtime.auth_routes import blp as auth_blp
from runtime.cli_support import apply_folder, ensure_indexes
from runtime.services import build_services

# Packages that add routes and services, lowest layer first: each has ``install(app, api, services)``.
PLUGINS = (jobs_plugin, files_plugin, entities_plugin, applogs_plugin)

health_blp = Blueprint("health", __name__, description="Liveness")


@health_blp.route("/health", methods=["GET"])
def health():
    services().store.db.command("ping")
    return jsonify({"status": "ok"})


def create_app(config: Config | None = None, store=None) -> Flask:
    config = config or Config.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Flask("runtime")
    prefix = config.api_prefix
    app.config.update(
        SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_content_length, RUNTIME=config,
        API_TITLE="Entity Runtime", API_VERSION="1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=prefix, OPENAPI_JSON_PATH="openapi.json", JSON_SORT_KEYS=False,
    )
    app.json = SafeJSONProvider(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.merge_slashes = False  # ``/data/x//history`` is a JSON 404, not an HTML redirect
    store = store or connect(config.mongodb_uri, config.mongodb_db)
    svc = build_services(config, store)
    app.extensions["runtime"] = svc
    _register_blueprints(app, prefix)
    errors.register(app)  # after Api(): our handlers replace flask-smorest's error format
    _install_auth_guard(app, svc, prefix)
    _install_cors(app, config)
    return app


def _install_cors(app: Flask, config: Config) -> None:
    """Let browser apps on ``CORS_ORIGINS`` call the API; tokens travel in headers, so no cookies are allowed."""
    if not config.cors_origins:
        return
    from flask_cors import CORS

    origins = "*" if "*" in config.cors_origins else list(config.cors_origins)
    CORS(app, resources={f"{config.api_prefix}/*": {"origins": origins}}, supports_credentials=False,
         expose_headers=["Content-Disposition", "X-File-Content-Type"], max_age=600)


def _register_blueprints(app: Flask, prefix: str) -> None:
    svc: Services = app.extensions["runtime"]
    api = Api(app)
    for blp in (health_blp, auth_blp):
        api.register_blueprint(blp, url_prefix=prefix)
    svc.plugins.public_endpoints.update(PUBLIC_ENDPOINTS)
    for plugin in PLUGINS:
        plugin.install(app, api, svc)


def _install_auth_guard(app: Flask, svc: Services, prefix: str) -> None:
    public = svc.plugins.public_endpoints

    @app.before_request
    def _guard():
        if not request.path.startswith(prefix) or request.endpoint in public:
            return None
        if request.method == "OPTIONS":
            return None  # which methods a route allows (and CORS preflights) is no secret
        if request.endpoint is None:
            return None  # unknown route: let the 404/405 handler answer
        if request.path == f"{prefix}/openapi.json":
            return None
        token = token_from_request()
        if not token:
            raise Unauthorized("A token is required: send the 'token' header you got from /auth/login")
        g.user, g.admin_user = svc.auth.authenticate(token)
        g.token = token
        if svc.config.maintenance_mode and not (g.admin_user or g.user).get("developer"):
            raise ServiceUnavailable()
        return None


def bootstrap(app: Flask, examples_dir: str | None = None) -> tuple[str, str | None]:
    """Create indexes, the developer user and (optionally) the sample app's entities."""
    svc: Services = app.extensions["runtime"]
    with app.app_context():
        ensure_indexes(svc)
        if examples_dir:
            apply_folder(svc, examples_dir)
        return svc.auth.ensure_admin(svc.config.admin_email, svc.config.admin_password)
