"""A daemon thread that flushes an in-process buffer now and then, and when woken.

The thread holds its owner weakly, so a dropped owner (a test's app) ends it instead of being kept alive.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def start_flusher(owner: T, tick: Callable[[T], float], wake: threading.Event, first_wait: float,
                  name: str) -> None:
    """Run ``tick(owner)`` after ``first_wait`` seconds or a ``wake.set()``, then again after the number of
    seconds it returns (or a wake), until ``owner`` is gone."""
    ref = weakref.ref(owner)

    def loop() -> None:
        wait = first_wait
        while True:
            wake.wait(wait)
            wake.clear()
            target = ref()
            if target is None:
                return
            wait = tick(target)
            del target  # not kept alive between ticks

    threading.Thread(target=loop, name=name, daemon=True).start()
