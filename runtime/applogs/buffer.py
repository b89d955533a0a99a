"""A queue of app logs written by a background thread, in batches, so requests never wait for their logs.

``add`` only appends to a bounded deque (a full queue drops the log and counts it). A daemon thread writes what
is queued every ``FLUSH_SECONDS`` (sooner once ``BATCH`` logs wait) and at interpreter exit; a failing write is
reported on the process log and dropped, never raised to a request. The thread is started on first use in
each process, so a gunicorn worker forked after the app was built gets its own.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from core.background import start_flusher

log = logging.getLogger("runtime.applogs")

FLUSH_SECONDS = 1.0
BATCH = 500
MAX_PENDING = 20_000
EXIT_FLUSH_SECONDS = 5.0

Entry = dict[str, Any] | Callable[[], list[dict[str, Any]]]
_buffers: weakref.WeakSet[LogBuffer] = weakref.WeakSet()


class LogBuffer:
    def __init__(self, store_batch: Callable[[list[dict[str, Any]]], None]):
        self._store_batch = store_batch
        self._pending: deque[Entry] = deque()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._pid: int | None = None
        self.dropped = 0
        _buffers.add(self)

    def add(self, entry: Entry) -> None:
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append(entry)
        if self._pid is None:  # first use in this process (a fork forgets the parent's writer: _forget_writers)
            self._start()
        if len(self._pending) >= BATCH:
            self._wake.set()

    def flush(self, timeout: float = -1) -> int:
        """Write everything queued; returns the number of logs written (0 when the write failed, or when
        another flush still holds the writer after ``timeout`` seconds)."""
        if not self._flush_lock.acquire(timeout=timeout):
            return 0
        try:
            return self._flush_locked()
        finally:
            self._flush_lock.release()

    def _flush_locked(self) -> int:
        entries = []
        while self._pending:
            entries.append(self._pending.popleft())
        if not entries:
            return 0
        docs: list[dict[str, Any]] = []
        for entry in entries:
            if callable(entry):
                try:
                    docs.extend(entry())
                except Exception:
                    log.exception("could not build an app log")
            else:
                docs.append(entry)
        try:
            self._store_batch(docs)
        except Exception:
            log.exception("could not write %d app logs; they are dropped", len(docs))
            return 0
        return len(docs)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._flush_lock = threading.Lock()  # a lock held by another thread at fork time would never be released
        start_flusher(self, LogBuffer._tick, self._wake, FLUSH_SECONDS, "app-log-writer")

    def _tick(self) -> float:
        self.flush()
        return FLUSH_SECONDS


def flush_all() -> None:
    """Write what every buffer of this process holds (at exit), giving up after ``EXIT_FLUSH_SECONDS``."""
    buffers = list(_buffers)
    if not any(b._pending for b in buffers):
        return
    worker = threading.Thread(target=lambda: [b.flush() for b in buffers], daemon=True)
    worker.start()
    worker.join(EXIT_FLUSH_SECONDS)


def _forget_writers() -> None:
    """A forked child has none of its parent's threads: each buffer starts its writer on its next log (asked
    here once per fork rather than by a process id read on every log)."""
    for buffer in list(_buffers):
        buffer._pid = None


atexit.register(flush_all)
os.register_at_fork(after_in_child=_forget_writers)
