"""The wire side of a webhook: URL checks, the signature, one POST within a deadline."""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "EntityRuntime-Webhook/1"
RESERVED_HEADERS = frozenset({"content-type", "x-signature", "x-delivery-id", "content-length", "host"})
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f]")  # what http.client refuses in a request line (InvalidURL)


def url_problem(url: object, allowed_hosts: tuple[str, ...]) -> str | None:
    """Why a webhook may not call ``url``: http(s) with a host, no user or password, no spaces or control
    characters, and a host in ``allowed_hosts`` when it is set (an entry ``.example.com`` allows its
    subdomains)."""
    if not isinstance(url, str) or not url:
        return "url is an http or https address"
    if _UNSENDABLE.search(url.strip()):  # urllib strips the ends
        return "url has no spaces or control characters (percent-encode them)"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"url is not a valid address: {exc}"
    if parts.scheme not in ("http", "https") or not host:
        return "url is an http or https address with a host"
    if "@" in parts.netloc:  # urllib would read 'user:pw@host' as a host and a port, and never send it
        return ("url has no user or password (user:password@host): send credentials in the webhook's headers, "
                'e.g. {"Authorization": "Basic <base64 of user:password>"}, which stay out of the delivery log')
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


# When the attempt running in this thread must be over (time.monotonic()); None outside an attempt.
_DEADLINE: ContextVar[float | None] = ContextVar("webhook_deadline", default=None)


def _time_left() -> float | None:
    """The timeout of the next socket call: what is left until the deadline; TimeoutError once it has passed."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


class _Armed:
    """Gives a socket the time left to the attempt's deadline as its timeout, before each blocking call."""

    def _arm(self) -> None:
        left = _time_left()
        if left is not None:
            self.settimeout(left)  # type: ignore[attr-defined]


class _DeadlineSocket(_Armed, socket.socket):
    """A TCP socket whose every blocking call gets the time left to the attempt's deadline as its timeout, and
    none starts after it. A socket timeout alone bounds each read: a receiver sending one byte a second would
    keep the attempt (and its job thread) for as long as it likes."""

    def connect(self, address: Any) -> None:
        self._arm()
        super().connect(address)

    def send(self, data: Any, flags: int = 0) -> int:
        self._arm()
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:  # its timeout bounds the whole call
        self._arm()
        super().sendall(data, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return super().recv(bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return super().recv_into(buffer, nbytes, flags)


class _DeadlineSSLSocket(_Armed, ssl.SSLSocket):
    """The same for TLS: the handshake, each write and each read (the ssl module bounds each of these calls by
    the socket's timeout as a whole)."""

    def do_handshake(self, block: bool = False) -> None:
        self._arm()
        super().do_handshake(block)

    def send(self, data: Any, flags: int = 0) -> int:  # sendall sends through it
        self._arm()
        return super().send(data, flags)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:  # recv and recv_into read through it
        self._arm()
        return super().read(len, buffer)


def _connect(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> socket.socket:
    """``socket.create_connection`` with a _DeadlineSocket, the addresses tried within the one deadline (not a
    full timeout each). The name lookup is the resolver's: it is not interrupted, the connection after it is."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _, addr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = _DeadlineSocket(family, kind, proto)
        try:
            if source_address:
                sock.bind(source_address)
            sock.connect(addr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"getaddrinfo found no address for {host}")


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):  # type: ignore[no-untyped-def]
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):  # type: ignore[no-untyped-def]
        return self.do_open(_HTTPSConnection, req, context=self._context)


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """urllib's opener (proxies from the environment included) with the deadline sockets and no redirects."""
    context = ssl.create_default_context()  # what http.client uses by default, with its own sockets
    context.set_alpn_protocols(["http/1.1"])
    context.sslsocket_class = _DeadlineSSLSocket
    return urllib.request.build_opener(_NoRedirects, _HTTPHandler, _HTTPSHandler(context=context))


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
    """POST once: (status code, None) when answered — any status, a redirect included (not followed) —, (None,
    error) when it could not be sent or had no complete answer within ``timeout`` seconds. ``timeout`` is a
    deadline for the whole exchange: connecting, sending, and reading the status, the headers and up to 64 KiB
    of the body."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    token = _DEADLINE.set(time.monotonic() + timeout)
    try:
        with _opener().open(request, timeout=timeout) as response:
            response.read(65536)
            return response.status, None
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        # HTTPException: a malformed answer (a bad status line, too many or too long headers...)
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return None, f"TimeoutError: timed out after {timeout:g} s"
        return None, f"{type(exc).__name__}: {reason}"
    finally:
        _DEADLINE.reset(token)
