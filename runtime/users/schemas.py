"""Marshmallow schemas of ``/users`` and ``/groups``: query strings, bodies and responses."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from core.api import page_of
from runtime.users.service import TIMEZONE_MODES


class Lenient(Schema):
    class Meta:
        unknown = EXCLUDE  # the platform's bodies carry more than we use: ignored


class PageQuery(Lenient):
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=1000))
    offset = fields.String(load_default=None)


class UserQuery(PageQuery):
    firstName = fields.String()
    lastName = fields.String()
    fullName = fields.String()
    email = fields.String()
    developer = fields.Boolean(allow_none=True)
    status = fields.String()
    groups = fields.String()


class GroupQuery(PageQuery):
    name = fields.String()


class UserRefQuery(Lenient):
    """Of every call that names users in its path (``{idOrEmailOrExternalId}``)."""

    identityProvider = fields.String(metadata={"description": "The path names the user by its external id at this "
                                                              "identity provider (id or name), not by id or email"})


class UserOptions(Lenient):
    notifyUser = fields.Boolean()
    generatePassword = fields.Boolean()


class Localization(Lenient):
    """``timezone`` (an IANA name) is given in MANUAL mode only."""

    timezoneMode = fields.String(validate=validate.OneOf(TIMEZONE_MODES))
    timezone = fields.String(allow_none=True)


class IdentityProviderRef(Lenient):
    """``id`` wins over ``name``; ``externalId`` is the user's id there (none for the built-in ``slingr``)."""

    id = fields.String()
    name = fields.String()
    externalId = fields.String(allow_none=True)


class UserBody(Lenient):
    """POST and PUT ``/users``: every key optional here; the service says what is required."""

    firstName = fields.String(allow_none=True)
    lastName = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    password = fields.String(allow_none=True)
    groups = fields.List(fields.Raw(), allow_none=True)
    localization = fields.Nested(Localization, allow_none=True,
                                 metadata={"description": "null: back to the default, {timezoneMode: AUTO}"})
    identityProviders = fields.List(fields.Nested(IdentityProviderRef), allow_none=True,
                                    metadata={"description": "POST: the built-in provider when absent; PUT: "
                                                             "replaces them all"})
    options = fields.Nested(UserOptions, load_default=dict)
    version = fields.Integer(strict=True, allow_none=True)


class AddGroupBody(Lenient):
    id = fields.String()
    name = fields.String()
    primary = fields.Boolean(load_default=False)
    external = fields.Boolean()


class AddIdentityProviderBody(IdentityProviderRef):
    pass


class GroupBody(Lenient):
    name = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    usersManagement = fields.Boolean()
    permissions = fields.Dict(allow_none=True)
    version = fields.Integer(strict=True, allow_none=True)


class GroupRef(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    primary = fields.Boolean()
    external = fields.Boolean(metadata={"description": "The group was added by an identity provider"})


class IdentityProviderOut(Schema):
    id = fields.String()
    name = fields.String()
    label = fields.String()
    externalId = fields.String(allow_none=True)


class UserPermissions(Schema):
    developer = fields.Boolean()
    usersManagement = fields.Boolean()


class UserOut(Schema):
    id = fields.String()
    email = fields.String()
    firstName = fields.String(allow_none=True)
    lastName = fields.String(allow_none=True)
    fullName = fields.String(allow_none=True)
    status = fields.String()
    groups = fields.List(fields.Nested(GroupRef))
    permissions = fields.Nested(UserPermissions)
    localization = fields.Nested(Localization)
    identityProviders = fields.List(fields.Nested(IdentityProviderOut))
    version = fields.Integer()
    generatedPassword = fields.String()


UserPage = page_of(UserOut, "UserPage")


class GroupOut(Schema):
    id = fields.String()
    name = fields.String()
    label = fields.String(allow_none=True)
    usersManagement = fields.Boolean()
    permissions = fields.Dict()
    version = fields.Integer()


GroupPage = page_of(GroupOut, "GroupPage")
