"""Pausing Python's cyclic garbage collector around a bulk write.

A batch of an import allocates tens of thousands of short-lived, acyclic objects (rows, documents, history
entries) that reference counting frees. While the batch runs, the collector's young passes only traverse them,
and every pass that finds them alive promotes them, which soon triggers a full collection, and a full
collection traverses every live object of the process: on the embedded store, that is every stored document.
Pausing the collector for one batch removes those passes; it runs again between batches, so cyclic garbage
made meanwhile by other threads waits at most one batch.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (a collector already disabled, by anyone, is left as it is)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
