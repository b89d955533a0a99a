"""Bodies and answers of ``/auth`` and ``/users/current``."""

from __future__ import annotations

import marshmallow as ma

from core.api import AnyBody
from runtime.users.schemas import UserOut


class LoginBody(AnyBody):
    """JSON, or form-encoded; ``emailImpersonatedUser`` lets a developer act as another user."""

    empty = {}
    email = ma.fields.String(required=True)
    password = ma.fields.String(required=True)
    emailImpersonatedUser = ma.fields.String()


class ChangePasswordBody(AnyBody):
    empty = {}
    oldPassword = ma.fields.String(required=True)
    password = ma.fields.String(required=True)
    password2 = ma.fields.String(required=True, metadata={"description": "The new password again"})


class Session(ma.Schema):
    app = ma.fields.String()
    adminUserEmail = ma.fields.String(allow_none=True)
    ip = ma.fields.String(allow_none=True)
    userEmail = ma.fields.String()
    userName = ma.fields.String(allow_none=True)
    userId = ma.fields.String()
    token = ma.fields.String()


class User(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    id = ma.fields.String()
    email = ma.fields.String()
    fullName = ma.fields.String(allow_none=True)
    developer = ma.fields.Boolean()
    adminUserEmail = ma.fields.String(allow_none=True)


class CurrentUser(UserOut):
    """``/auth/me``: the user JSON of ``GET /users/{id}``, and who impersonates it."""

    adminUserEmail = ma.fields.String(allow_none=True)


class Authenticated(ma.Schema):
    authenticated = ma.fields.Boolean()
    user = ma.fields.Nested(User)
    adminUserEmail = ma.fields.String(allow_none=True)


class Logout(ma.Schema):
    logout = ma.fields.Boolean()


class Success(ma.Schema):
    success = ma.fields.Boolean()
