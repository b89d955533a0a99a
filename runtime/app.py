"""The app factory: config → store → services → blueprints, error handlers and the auth guard."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bson import ObjectId
from flask import Flask, Response, g, request
from flask.sessions import SessionInterface

from core import errors
from core.api import Api
from core.config import Config
from core.errors import Unauthorized
from core.http import SafeJSONProvider
from core.services import Services
from core.storage import connect
from entities import plugin as entities_plugin
from entities.permissions.service import Permissions
from entities.registry import Registry
from files import plugin as files_plugin
from jobs import plugin as jobs_plugin
from runtime import api_keys as api_keys_plugin
from runtime import idempotency, metrics, openapi
from runtime.applogs import plugin as applogs_plugin
from runtime.auth import TOKEN_COOKIE, ServiceUnavailable, token_from_request
from runtime.auth_routes import PUBLIC_ENDPOINTS
from runtime.auth_routes import blp as auth_blp
from runtime.cli_support import apply_folder, apply_groups_folder, ensure_indexes
from runtime.health import blp as health_blp
from runtime.openapi import permissions as openapi_permissions
from runtime.options import options_response
from runtime.services import build_services
from runtime.users import plugin as users_plugin

# Packages that add routes and services, lowest layer first: each has ``install(app, api, services)``.
PLUGINS = (jobs_plugin, files_plugin, entities_plugin, applogs_plugin, users_plugin, api_keys_plugin)


def create_app(config: Config | None = None, store=None) -> Flask:
    config = config or Config.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = RuntimeFlask("runtime")
    prefix = config.api_prefix
    app.config.update(
        SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_content_length, RUNTIME=config,
        API_TITLE="Entity Runtime", API_VERSION="1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=prefix, OPENAPI_JSON_PATH="openapi.json", JSON_SORT_KEYS=False,
    )
    app.json = SafeJSONProvider(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = _NoSessions()
    app.url_map.merge_slashes = False  # ``/data/x//history`` is a JSON 404, not an HTML redirect
    if config.trusted_proxies > 0:  # only then is X-Forwarded-For believed (login throttling counts per address)
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=config.trusted_proxies)
    store = store or connect(config.mongodb_uri, config.mongodb_db, config.embedded_data_dir, config.embedded_fsync,
                             timeout_ms=config.mongodb_timeout_ms)
    svc = build_services(config, store)
    app.extensions["runtime"] = svc
    _install_commit(app, svc)  # first registered, so it runs after every other after_request hook
    api = _register_blueprints(app, prefix)
    _install_observability(app, api, svc, prefix)
    errors.register(app)  # after Api(): our handlers replace flask-smorest's error format
    _install_auth_guard(app, svc, prefix)
    idempotency.install(app, svc)  # after the guard: a key belongs to the user the guard found
    api.secure(app, svc.plugins.public_endpoints, svc.plugins.cookie_endpoints)
    _install_cors(app, config)
    return app


def _install_commit(app: Flask, svc: Services) -> None:
    """A data folder's writes are on disk before the client sees the response (``EMBEDDED_FSYNC=always``)."""
    if svc.store.journal is None:
        return

    @app.after_request
    def _commit(response):
        svc.store.commit()
        return response
class _NoSessions(SessionInterface):
    """A token API keeps no cookie session: no session cookie is read, signed or set on any request."""

    def open_session(self, app: Flask, request: Any) -> None:
        return None  # Flask then uses a null session that refuses writes

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None


def _install_cors(app: Flask, config: Config) -> None:
    """Let browser apps on ``CORS_ORIGINS`` call the API; tokens travel in headers, so no cookies are allowed."""
    if not config.cors_origins:
        return
    from flask_cors import CORS

    origins = "*" if "*" in config.cors_origins else list(config.cors_origins)
    CORS(app, resources={f"{config.api_prefix}/*": {"origins": origins}}, supports_credentials=False,
         expose_headers=["Content-Disposition", "X-File-Content-Type"], max_age=600)


def _install_observability(app: Flask, api: Api, svc: Services, prefix: str) -> None:
    """The per-entity OpenAPI document and its docs page, and ``/metrics``."""
    openapi.install(app, api, prefix)
    openapi_permissions.install(app, svc, prefix)  # a non-developer's document shows what they may use
    metrics.install(app, svc)


def _register_blueprints(app: Flask, prefix: str) -> Api:
    svc: Services = app.extensions["runtime"]
    api = Api(app)
    for blp in (health_blp, auth_blp):
        api.register_blueprint(blp, url_prefix=prefix)
    svc.plugins.public_endpoints.update(PUBLIC_ENDPOINTS)
    for plugin in PLUGINS:
        plugin.install(app, api, svc)
    return api


class RuntimeFlask(Flask):
    """Flask, asking once per function whether it is a coroutine: Flask asks on every call of every hook and
    view (``inspect`` is a measurable share of a small request), and the answer never changes."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sync: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        try:
            synced = self._sync.get(func)
        except TypeError:  # an unhashable callable: asked every time
            return super().ensure_sync(func)
        if synced is None:
            synced = super().ensure_sync(func)
            if len(self._sync) < 10_000:  # views and hooks: a fixed set
                self._sync[func] = synced
        return synced

    def make_default_options_response(self) -> Response:
        """OPTIONS on a route (no token needed): runtime.options."""
        return options_response(self)


def _groups_by_id(user: dict[str, Any]) -> bool:
    """True when the user's groups are ``{id: ObjectId}`` entries, the form ``groups_lookup`` follows."""
    return all(isinstance(entry, dict) and isinstance(entry.get("id"), ObjectId) for entry in user.get("groups") or [])


def _install_auth_guard(app: Flask, svc: Services, prefix: str) -> None:
    public, cookie_endpoints = svc.plugins.public_endpoints, svc.plugins.cookie_endpoints
    # what every request needs besides its token, read with it (one round trip on a real server)
    lookups = [Registry.stamp_lookup("_metaStamp"), Permissions.groups_lookup("user.groups", "_groups")]

    @app.before_request
    def _guard():
        req = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup, not ten
        endpoint, path = req.endpoint, req.path
        if not path.startswith(prefix) or endpoint in public:
            return None
        if req.method == "OPTIONS":
            return None  # which methods a route allows (and CORS preflights) is no secret
        if endpoint is None:
            return None  # unknown route: let the 404/405 handler answer
        if path == f"{prefix}/openapi.json":
            return None
        token = token_from_request(req)
        if not token and endpoint in cookie_endpoints and req.method == "GET":
            # a browser following a file link sends the cookie by itself; only reads of files take it, so a
            # cross-site page can make a browser fetch a file it cannot read, but never write anything
            token = req.cookies.get(TOKEN_COOKIE)
        if not token:
            raise Unauthorized("A token is required: send the 'token' header you got from /auth/login")
        found = svc.auth.authenticate_with(token, lookups)
        user = found.user
        ctx = g._get_current_object()  # type: ignore[attr-defined]
        ctx.user, ctx.admin_user, ctx.token = user, found.admin, token
        groups = None
        if found.joined is not None:  # read with the token: this request reads neither again
            Registry.take_stamp(found.joined["_metaStamp"])
            groups = found.joined["_groups"] if _groups_by_id(user) else None
        if svc.config.maintenance_mode and not (found.admin or user).get("developer"):
            raise ServiceUnavailable()
        if not user.get("developer"):
            ctx.caller = svc.permissions.caller(user, groups)
            for check in svc.plugins.request_checks:
                check()
        return None


def bootstrap(app: Flask, examples_dir: str | None = None) -> tuple[str, str | None]:
    """Create indexes, the developer user and (optionally) the sample app's entities and groups.

    The groups live in ``groups/`` beside the entities folder (``examples/groups`` for ``examples/entities``)."""
    svc: Services = app.extensions["runtime"]
    with app.app_context():
        ensure_indexes(svc)
        if examples_dir:
            apply_folder(svc, examples_dir)
            groups = Path(examples_dir).resolve().parent / "groups"
            if groups.is_dir() and any(groups.glob("*.json")):
                apply_groups_folder(svc, str(groups))
        return svc.auth.ensure_admin(svc.config.admin_email, svc.config.admin_password)


SAMPLE_USER = {"email": "sales@example.com", "firstName": "Sam", "lastName": "Sales", "group": "sales"}


def ensure_sample_user(app: Flask) -> tuple[str, str | None]:
    """The examples' non-developer user (in the ``sales`` group), created by ``runtime serve`` when missing.

    Returns (email, password when created now). ``RUNTIME_SAMPLE_USER_PASSWORD`` chooses the password."""
    import secrets

    svc: Services = app.extensions["runtime"]
    with app.app_context():
        if svc.auth.find_user(SAMPLE_USER["email"]) is not None:
            return SAMPLE_USER["email"], svc.config.sample_user_password
        group = svc.auth.groups.find_one({"name": SAMPLE_USER["group"]}, {"_id": 1})
        password = svc.config.sample_user_password or secrets.token_urlsafe(12)
        svc.auth.create_user(SAMPLE_USER["email"], password, SAMPLE_USER["firstName"], SAMPLE_USER["lastName"],
                             groups=[{"id": group["_id"], "primary": True}] if group else [])
        return SAMPLE_USER["email"], password
