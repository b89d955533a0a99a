"""Whose timezone ``_format=plainText`` writes date-times in: ``_formatForUser``'s (an id or an email), else the
caller's (an impersonated session's: the impersonated user's). A user in AUTO mode reads UTC, as before."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import BadRequest, NotFound
from core.http import invalid_param
from core.identity import current_user
from core.services import services
from entities.query import ListQuery

PARAM = "_formatForUser"


def reader_timezone(q: ListQuery) -> dt.tzinfo | None:
    """The timezone of the query's plain text, None for UTC. A native query reads no user."""
    if q.fmt != "plainText":
        return None
    lookup = services().plugins.user_timezone
    if lookup is None:
        return None
    named = q.format_for_user
    try:
        name = lookup(named or str(current_user()["_id"]))
    except (NotFound, BadRequest) as exc:  # no user has that id or email (or it is neither)
        if named is None:
            return None  # the caller's own user, deleted meanwhile: UTC
        raise invalid_param(PARAM, exc.message, named) from None
    return _zone(name) if name else None


def _zone(name: str) -> dt.tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # a stored name this machine's zone data lacks: UTC
        return None
