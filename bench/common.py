"""Shared set-up for the benchmarks: an app on the embedded store (or MONGODB_URI), logged in."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.app import bootstrap, create_app
from runtime.config import Config

EXAMPLES = str(Path(__file__).resolve().parent.parent / "examples" / "entities")


class Client:
    def __init__(self, app: Any, token: str):
        self.http = app.test_client()
        self.headers = {"token": token}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.open(f"/api{path}", method=method, headers=self.headers, **kwargs)
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response.get_json()


def make_app() -> tuple[Any, Client]:
    config = Config.from_env(mongodb_uri=os.environ.get("MONGODB_URI") or None,
                             mongodb_db=f"bench_{uuid.uuid4().hex[:8]}",
                             admin_email="bench@example.com", admin_password="bench-password")
    app = create_app(config)
    bootstrap(app, EXAMPLES)
    client = app.test_client()
    token = client.post("/api/auth/login", json={"email": "bench@example.com", "password": "bench-password"}
                        ).get_json()["token"]
    return app, Client(app, token)


def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Best of ``repeat`` wall-clock runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
