"""The web app with a test hook: ``X-Test-Pause-After-Write: <seconds>`` holds the response after the route has
written, before the response is stored and sent, so a test can kill the worker at exactly that point."""

from __future__ import annotations

import time

from flask import request

from runtime import create_app

app = create_app()


@app.after_request  # registered last, so it runs first: before the Idempotency-Key claim is completed
def _pause(response):
    pause = request.headers.get("X-Test-Pause-After-Write")
    if pause:
        time.sleep(min(float(pause), 30.0))
    return response
