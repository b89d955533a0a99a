"""Plugs users and groups into the app: the services (``services.users``, ``services.groups``), the routes, and
the users' timezones for ``_format=plainText`` (``plugins.user_timezone``)."""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask

from core.services import Services
from entities.refactoring.cascade import cascade_group_label, cascade_user_label
from runtime.users.follow import GroupRulesFollower
from runtime.users.identity_providers import IdentityProviders
from runtime.users.routes import blp
from runtime.users.service import GroupsService, UsersService


def install(app: Flask, api: Any, services: Services) -> None:
    groups = GroupsService(services.auth, services.registry,
                           relabel=functools.partial(cascade_group_label, services))
    services.groups = groups
    services.plugins.definition_followers.append(GroupRulesFollower(services.auth.groups))
    services.users = UsersService(services.auth, groups, IdentityProviders(services.config.identity_providers),
                                  relabel=functools.partial(cascade_user_label, services))
    services.plugins.user_timezone = services.users.timezone
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)
