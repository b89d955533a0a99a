"""Publishes the history entries that record writes leave in their outbox, off the request path.

An update stores its entry in the record's outbox (``_hist``, a list of unpublished entries) in the same
atomic write as the change, then hands it to this process's ``OutboxPublisher``. A daemon thread (started on
first use in each process, so forked gunicorn workers and RQ job processes each get their own) copies what
is queued into ``sys.history`` in batches (one ``insert_many``; entries have preset ids, so a copy that is
already there is skipped) and remembers the ids it published. With ``clear_published`` set (on a MongoDB
server) it then removes exactly those entries from their records (never the whole outbox: a concurrent write
may have appended one); otherwise the record's next write drops the entries known to be published.

Crash safety does not depend on the thread: until an entry is published, it is inside its committed record.
``RecordLifecycle.repair_history`` (run before every history read) publishes and clears whatever is left, and
a record's next write carries its unpublished entries forward. ``flush`` publishes everything queued now
(tests that read ``sys.history`` directly, the end of a job, a delete, process exit).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from core.background import start_flusher

if TYPE_CHECKING:
    from core.storage import Store
    from entities.history.recorder import HistoryRecorder

log = logging.getLogger("entities.history")

OUTBOX_FIELD = "_hist"
# ``(collection, [(record id, entry id)])``: removes published entries from their records (the records package)
ClearPublished = Callable[[str, list[tuple[ObjectId, ObjectId]]], None]
FLUSH_SECONDS = 0.05  # a publication pass at least this often while entries wait
RETRY_SECONDS = 2.0  # after a failed pass (the store is unreachable), wait this long before the next
BATCH = 500  # entries per insert_many; a full batch wakes the thread at once
MAX_QUEUED = 50_000  # beyond this (the store is down) new entries wait in their records for a repair
REMEMBERED = 100_000  # ids of published entries remembered, so a record's next write drops them
EXIT_FLUSH_SECONDS = 5.0
THREAD_NAME = "history-publisher"

_publishers: weakref.WeakSet[OutboxPublisher] = weakref.WeakSet()
_start_lock = threading.Lock()
_exit_hook_registered = False


class OutboxPublisher:
    def __init__(self, recorder: HistoryRecorder, store: Store):
        self._recorder = recorder
        self._store = store
        self._mutex = threading.Lock()  # guards the two dicts below (held only for dict operations)
        # entry id → (collection, record id, entry or packed entry), in the order written
        self._queued: dict[ObjectId, tuple[str, ObjectId, dict[str, Any]]] = {}
        self._published: dict[ObjectId, None] = {}  # insertion-ordered, trimmed to REMEMBERED
        self._flush_lock = threading.Lock()  # one publication pass at a time
        self._wake = threading.Event()
        self._pid: int | None = None
        self._failing = False
        self.paused = False  # tests: simulate a publisher that never runs (entries stay in their records)
        # None: published entries stay in their outbox until the record's next write (which drops what it knows
        # is published) or a history read's repair; set where a background write is cheap (a database server)
        self.clear_published: ClearPublished | None = None
        _publishers.add(self)

    # --- what writers call -----------------------------------------------------------------------

    def unpublished(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The entries not known (in this process) to be in ``sys.history`` yet: a write keeps them."""
        if not entries:
            return []
        with self._mutex:
            return [e for e in entries if e["_id"] not in self._published]

    def enqueue(self, collection: str, record_id: ObjectId, entries: list[dict[str, Any]]) -> None:
        """Queue committed outbox entries of one record for publication (those already queued are skipped).
        An entry may be given as the record keeps it (packed: ``HistoryRecorder.commit_many`` stores its bytes)."""
        if not entries:
            return
        if self._pid != os.getpid():
            with _start_lock:
                if self._pid != os.getpid():
                    self._start()
        with self._mutex:
            for entry in entries:
                eid = entry["_id"]
                if eid not in self._queued and eid not in self._published and len(self._queued) < MAX_QUEUED:
                    self._queued[eid] = (collection, record_id, entry)
            full = len(self._queued) >= BATCH
        if full:
            self._wake.set()

    def mark_published(self, entry_ids: Iterable[ObjectId]) -> None:
        """Entries now in ``sys.history`` (``HistoryRecorder.commit_many`` calls it for every copy)."""
        with self._mutex:
            for eid in entry_ids:
                self._queued.pop(eid, None)
                self._published[eid] = None
            self._trim()

    # --- publishing ------------------------------------------------------------------------------

    def flush(self, timeout: float = -1) -> int:
        """Publish everything queued now (waiting for a pass in progress); returns how many entries were
        published, 0 when the store failed or ``timeout`` seconds passed while another pass held it."""
        if not self._flush_lock.acquire(timeout=timeout):
            return 0
        try:
            done = 0
            while not self.paused:
                published = self._publish_batch()
                if not published:
                    break
                done += published
            return done
        finally:
            self._flush_lock.release()

    def _publish_batch(self) -> int:
        with self._mutex:
            batch = [(eid, *item) for eid, item in itertools.islice(self._queued.items(), BATCH)]
        if not batch:
            return 0
        try:
            self._recorder.commit_many([entry for _, _, _, entry in batch])  # marks them published
        except Exception:
            if not self._failing:  # once per outage, not once per retry
                log.exception("could not publish %d history entries; they stay in their records", len(batch))
            self._failing = True
            return 0
        self._failing = False
        if self.clear_published is not None:
            by_collection: dict[str, list[tuple[ObjectId, ObjectId]]] = {}
            for eid, collection, record_id, _ in batch:
                by_collection.setdefault(collection, []).append((record_id, eid))
            for collection, published in by_collection.items():
                try:
                    self.clear_published(collection, published)
                except Exception:  # published: a record's next write or a repair drops them from the outbox
                    log.exception("could not clear %d published history entries of %s", len(published), collection)
        return len(batch)

    def _trim(self) -> None:
        """Forget the oldest tenth once past REMEMBERED (a forgotten entry is at worst published again)."""
        if len(self._published) > REMEMBERED:
            for eid in list(itertools.islice(self._published, len(self._published) - REMEMBERED * 9 // 10)):
                del self._published[eid]

    def _after_fork(self) -> None:
        """In a forked child: drop what the parent queued (the parent publishes it, and it is in the records
        anyway) and take fresh locks (one held by another thread at fork time would never be released)."""
        self._pid = None
        self._mutex = threading.Lock()
        self._flush_lock = threading.Lock()
        self._queued = {}
        self._wake = threading.Event()

    def _start(self) -> None:
        """Start this process's thread (the caller holds ``_start_lock``)."""
        global _exit_hook_registered
        self._pid = os.getpid()
        if not _exit_hook_registered:  # registered after the store's own exit hooks, so it runs before them
            atexit.register(flush_all)
            _exit_hook_registered = True
        start_flusher(self, OutboxPublisher._tick, self._wake, FLUSH_SECONDS, THREAD_NAME)

    def _tick(self) -> float:
        """One pass of the thread: publish (unless paused); the seconds until the next pass."""
        if not self.paused:
            self.flush()
        return RETRY_SECONDS if self._failing else FLUSH_SECONDS


def _reset_after_fork() -> None:
    global _start_lock
    _start_lock = threading.Lock()
    for publisher in list(_publishers):
        publisher._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)


def flush_all() -> None:
    """Publish what every publisher of this process holds (at exit), giving up after ``EXIT_FLUSH_SECONDS``."""
    pid = os.getpid()
    publishers = [p for p in list(_publishers) if p._pid == pid and p._queued]
    if not publishers:
        return
    worker = threading.Thread(target=lambda: [p.flush() for p in publishers], daemon=True)
    worker.start()
    worker.join(EXIT_FLUSH_SECONDS)
