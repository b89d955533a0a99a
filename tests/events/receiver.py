"""A tiny local webhook receiver (http.server on 127.0.0.1) that answers with a scripted list of statuses."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    statuses: list[int]  # answers in order; the last one repeats
    delay: float = 0.0  # seconds before answering
    location: str | None = None  # the Location header of its answers (a 3xx status redirects there)
    trickle: float = 0.0  # seconds to answer over: the status line at once, then one header byte a second
    raw: bytes | None = None  # sent as the whole answer instead of an HTTP response
    received: list[Received] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)  # paths of GET requests (answered 200)
    server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = owner.statuses[min(len(owner.received), len(owner.statuses) - 1)]
                owner.received.append(Received(status, body, {k.lower(): v for k, v in self.headers.items()}))
                time.sleep(owner.delay)
                if owner.trickle:
                    self._trickle(status)
                    return
                if owner.raw is not None:
                    self.wfile.write(owner.raw)
                    self.close_connection = True
                    return
                self.send_response(status)
                if owner.location:
                    self.send_header("Location", owner.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def _trickle(self, status: int) -> None:
                started = time.monotonic()
                try:
                    self.wfile.write(f"HTTP/1.1 {status} OK\r\nX-Pad: ".encode())
                    while time.monotonic() - started < owner.trickle:
                        time.sleep(1)
                        self.wfile.write(b"a")
                    self.wfile.write(b"\r\nContent-Length: 2\r\n\r\nok")
                except OSError:  # the caller hung up
                    pass
                self.close_connection = True

            def do_GET(self) -> None:
                owner.gets.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
