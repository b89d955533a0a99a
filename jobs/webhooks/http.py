"""The wire side of a webhook: URL checks, the signature, one POST with a timeout."""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request
from urllib.parse import urlsplit

USER_AGENT = "EntityRuntime-Webhook/1"
RESERVED_HEADERS = frozenset({"content-type", "x-signature", "x-delivery-id", "content-length", "host"})


def url_problem(url: object, allowed_hosts: tuple[str, ...]) -> str | None:
    """Why a webhook may not call ``url``: http(s) with a host, and a host in ``allowed_hosts`` when it is set
    (an entry ``.example.com`` allows its subdomains)."""
    if not isinstance(url, str) or not url:
        return "url is an http or https address"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"url is not a valid address: {exc}"
    if parts.scheme not in ("http", "https") or not host:
        return "url is an http or https address with a host"
    if allowed_hosts and not any(host == h or (h.startswith(".") and host.endswith(h)) for h in allowed_hosts):
        return f"Host '{host}' is not in WEBHOOK_ALLOWED_HOSTS ({', '.join(allowed_hosts)})"
    return None


def sign(secret: str, body: bytes) -> str:
    """``X-Signature``: the HMAC-SHA256 of the exact body bytes with the listener's secret, as hex."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the receiver's answer, not a new address to call: following it would send the request to a
    host ``WEBHOOK_ALLOWED_HOSTS`` may not allow, as a GET without the body, and count that as delivered."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None  # urllib then raises HTTPError with the 3xx: a failed attempt, retried


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
    """POST once: (status code, None) when answered — any status, a redirect included (not followed) —, (None,
    error) when it could not be sent."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
            return response.status, None
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"
