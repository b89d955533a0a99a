"""``/users`` and ``/groups``. Reads: any user (groups: developers and users managers); writes: developers and
users with ``usersManagement`` (groups: developers only). Calls on several ids (``a,b``) answer an array. A user
in a path is an id or an email, or with ``?identityProvider=`` an external id at that provider."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify

from core.api import Blueprint, errors
from core.identity import require_developer
from core.services import services
from runtime.users.schemas import (
    AddGroupBody,
    AddIdentityProviderBody,
    GroupBody,
    GroupOut,
    GroupPage,
    GroupQuery,
    UserBody,
    UserOut,
    UserPage,
    UserQuery,
    UserRefQuery,
)
from runtime.users.service import GroupsService, UsersService, require_users_manager

blp = Blueprint("users", __name__, description="Users and groups")


def _users() -> UsersService:
    return services().users


def _groups() -> GroupsService:
    return services().groups


# The answer of a call on ``{ids}``: one user, or an array of them for several comma-separated ids.
ONE_OR_MANY = {"200": {"description": "The user; a list of users when several ids are given",
                       "content": {"application/json": {"schema": {
                           "oneOf": [UserOut, {"type": "array", "items": UserOut}]}}}}}


def _one_or_many(ids: str, docs: list[dict[str, Any]]) -> Any:
    """One user, or a list for several ids (``ONE_OR_MANY``)."""
    rendered = _users().render_many(docs)
    return jsonify(rendered if "," in ids else rendered[0])


@blp.route("/users", methods=["GET"])
@blp.arguments(UserQuery, location="query")
@blp.response(200, UserPage)
@errors(blp, 400, 401)
def list_users(args: dict[str, Any]):
    return _users().list(args, args["size"], args.get("offset"))


@blp.route("/users", methods=["POST"])
@blp.arguments(UserBody, location="body")
@blp.response(200, UserOut)
@errors(blp, 400, 401, 403)
def create_user(body: dict[str, Any]):
    require_users_manager(g.user)
    doc, generated = _users().create(body, g.user)
    out = _users().render(doc)
    if generated:
        out["generatedPassword"] = generated  # shown once, like an API key
    return out


@blp.route("/users/<ref>", methods=["GET"])
@blp.arguments(UserRefQuery, location="query")
@blp.response(200, UserOut)
@errors(blp, 400, 401, 404)
def get_user(query: dict[str, Any], ref: str):
    return _users().render(_users().find(ref, query.get("identityProvider")))


@blp.route("/users/<ref>", methods=["PUT"])
@blp.arguments(UserBody, location="body")
@blp.arguments(UserRefQuery, location="query")
@blp.response(200, UserOut)
@errors(blp, 400, 401, 403, 404, 409)
def update_user(body: dict[str, Any], query: dict[str, Any], ref: str):
    require_users_manager(g.user)
    return _users().render(_users().update(ref, body, g.user, impersonating=g.get("admin_user") is not None,
                                           identity_provider=query.get("identityProvider")))


@blp.route("/users/<ref>", methods=["DELETE"])
@blp.arguments(UserRefQuery, location="query")
@blp.response(200, UserOut)
@errors(blp, 400, 401, 403, 404)
def delete_user(query: dict[str, Any], ref: str):
    require_users_manager(g.user)
    return _users().render(_users().delete(ref, query.get("identityProvider")))


@blp.route("/users/<ids>/<any(deactivate, reactivate, unblock):action>", methods=["PUT"])
@blp.arguments(UserRefQuery, location="query")
@blp.doc(responses=ONE_OR_MANY)
@errors(blp, 400, 401, 403, 404)
def set_status(query: dict[str, Any], ids: str, action: str):
    require_users_manager(g.user)
    return _one_or_many(ids, _users().set_status(ids, action, query.get("identityProvider")))


@blp.route("/users/<ids>/addGroup", methods=["PUT"])
@blp.arguments(AddGroupBody, location="body")
@blp.arguments(UserRefQuery, location="query")
@blp.doc(responses=ONE_OR_MANY)
@errors(blp, 400, 401, 403, 404)
def add_group(body: dict[str, Any], query: dict[str, Any], ids: str):
    require_users_manager(g.user)
    return _one_or_many(ids, _users().add_group(ids, body, g.user, query.get("identityProvider")))


@blp.route("/users/<ids>/removeGroup/<group>", methods=["PUT"])
@blp.arguments(UserRefQuery, location="query")
@blp.doc(responses=ONE_OR_MANY)
@errors(blp, 400, 401, 403, 404)
def remove_group(query: dict[str, Any], ids: str, group: str):
    require_users_manager(g.user)
    return _one_or_many(ids, _users().remove_group(ids, group, g.user, query.get("identityProvider")))


@blp.route("/users/<ref>/addIdentityProvider", methods=["PUT"])
@blp.arguments(AddIdentityProviderBody, location="body")
@blp.arguments(UserRefQuery, location="query")
@blp.response(200, UserOut)
@errors(blp, 400, 401, 403, 404)
def add_identity_provider(body: dict[str, Any], query: dict[str, Any], ref: str):
    require_users_manager(g.user)
    return _users().render(_users().add_identity_provider(ref, body, query.get("identityProvider")))


@blp.route("/users/<ref>/removeIdentityProvider/<provider>", methods=["PUT"])
@blp.arguments(UserRefQuery, location="query")
@blp.response(200, UserOut)
@errors(blp, 400, 401, 403, 404)
def remove_identity_provider(query: dict[str, Any], ref: str, provider: str):
    require_users_manager(g.user)
    return _users().render(_users().remove_identity_provider(ref, provider, query.get("identityProvider")))


@blp.route("/groups", methods=["GET"])
@blp.arguments(GroupQuery, location="query")
@blp.response(200, GroupPage)
@errors(blp, 400, 401, 403)
def list_groups(args: dict[str, Any]):
    require_users_manager(g.user)
    return _groups().list(args["size"], args.get("offset"), args.get("name"))


@blp.route("/groups", methods=["POST"])
@blp.arguments(GroupBody, location="body")
@blp.response(200, GroupOut)
@errors(blp, 400, 401, 403)
def create_group(body: dict[str, Any]):
    require_developer()
    return _groups().render(_groups().create(body))


@blp.route("/groups/<ref>", methods=["GET"])
@blp.response(200, GroupOut)
@errors(blp, 400, 401, 403, 404)
def get_group(ref: str):
    require_users_manager(g.user)
    return _groups().render(_groups().find(ref))


@blp.route("/groups/<ref>", methods=["PUT"])
@blp.arguments(GroupBody, location="body")
@blp.response(200, GroupOut)
@errors(blp, 400, 401, 403, 404, 409)
def update_group(body: dict[str, Any], ref: str):
    require_developer()
    return _groups().render(_groups().update(ref, body, g.user))


@blp.route("/groups/<ref>", methods=["DELETE"])
@blp.response(200, GroupOut)
@errors(blp, 400, 401, 403, 404)
def delete_group(ref: str):
    require_developer()
    return _groups().render(_groups().delete(ref))
