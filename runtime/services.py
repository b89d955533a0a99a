"""Builds the services of one app (the composition root's part of ``core.services``)."""

from __future__ import annotations

from core.config import Config
from core.services import Services
from core.storage import Store
from entities.history.recorder import HistoryRecorder
from entities.permissions.service import Permissions
from entities.records.lifecycle import RecordLifecycle
from entities.registry import Registry
from runtime.auth import AuthService
from runtime.login_guard import LoginGuard


def build_services(config: Config, store: Store) -> Services:
    svc = Services(config=config, store=store)
    guard = LoginGuard(store, config.login_throttle_after, config.login_block_after, config.login_delay_seconds,
                       config.login_ip_per_minute)
    svc.auth = AuthService(store, config.token_idle_seconds, config.token_max_seconds, config.password_min_length,
                           guard)
    svc.registry = Registry(store)
    svc.history = HistoryRecorder(store)
    svc.records = RecordLifecycle(store, svc.registry, svc.history)
    if not store.embedded:
        # On a server, clearing published entries is one background bulk write per batch. The embedded store runs
        # every write on this process's CPU, so there a record's next write (or a history read) drops them.
        svc.history.publisher.clear_published = svc.records.clear_published
    svc.permissions = Permissions(store)
    return svc
