"""Keep credentials out of access logs: ``api_key=`` query values and the token / API-key headers.

A query parameter is redacted by its decoded name, as Flask reads it: ``api%5Fkey=`` and ``%61pi_key=`` are
``api_key`` to the app, so their values never reach a log line either (any case, to be safe).

``RedactingLogger`` is gunicorn's logger class (set in ``gunicorn.conf.py``); ``install_werkzeug_filter``
does the same for the request lines of ``runtime serve``'s development server.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from gunicorn.glogging import Logger

REDACTED = "[REDACTED]"
_QUERY_PAIR = re.compile(r"(?:^|(?<=[?&]))([^=&?\s\"]+)=[^&\s\"]*")
_SECRET_PARAMS = {"api_key"}
_SECRET_ATOMS = {"{token}i", "{x-api-key}i", "{authorization}i", "{cookie}i",
                 "{http_token}e", "{http_x_api_key}e", "{http_authorization}e", "{http_cookie}e"}


def redact(text: str) -> str:
    """``text`` with the value of every query parameter whose decoded name is ``api_key`` replaced."""
    def hide(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{name}={REDACTED}" if unquote_plus(name).lower() in _SECRET_PARAMS else match.group(0)
    return _QUERY_PAIR.sub(hide, text)


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in list(atoms.items()):
            if key in _SECRET_ATOMS:
                atoms[key] = REDACTED
            elif isinstance(value, str) and "=" in value:
                atoms[key] = redact(value)
        return atoms


class _WerkzeugFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)  # type: ignore[arg-type]
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_werkzeug_filter() -> None:
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, _WerkzeugFilter) for f in logger.filters):
        logger.addFilter(_WerkzeugFilter())
