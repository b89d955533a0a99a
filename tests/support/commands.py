"""Counting the commands the real pymongo driver sends (for round-trip and index checks)."""

from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from typing import Any

from pymongo import monitoring

from core.storage import Store, connect
from entities.history.publisher import THREAD_NAME as HISTORY_PUBLISHER

# App logs are written by a background thread in batches, off the request path: not a request's round trip.
BACKGROUND = frozenset({"sys.logs"})
# Threads whose commands are not a request's either: the history publisher copies outbox entries in batches.
BACKGROUND_THREADS = frozenset({HISTORY_PUBLISHER})


class CommandLog(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.recording = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.recording and event.command_name not in ("endSessions", "hello", "isMaster", "ismaster"):
            if event.command.get(event.command_name) in BACKGROUND:
                return
            if threading.current_thread().name in BACKGROUND_THREADS:
                return
            self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    @contextmanager
    def recording_commands(self):
        self.commands = []
        self.recording = True
        try:
            yield self.commands
        finally:
            self.recording = False


def monitored_store(uri: str) -> tuple[Store, CommandLog]:
    log = CommandLog()
    return connect(uri, f"test_{uuid.uuid4().hex}", event_listeners=[log]), log
