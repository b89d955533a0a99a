"""An action handler for the job tests (listed in APP_MODULES by their app): it holds the job at record
``r0`` until the test opens ``GATE``, so the test can stop or force-stop a job that is really running."""

from __future__ import annotations

import threading
from typing import Any

GATE = threading.Event()
REACHED = threading.Event()


def wait_at_gate(ctx: Any) -> None:
    if ctx.record["name"] == "r0":
        REACHED.set()
        GATE.wait(timeout=30)
    ctx.log("INFO", f"passed {ctx.record['name']}")
