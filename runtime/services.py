"""Builds the services of one app (the composition root's part of ``core.services``)."""

from __future__ import annotations

from core.config import Config
from core.services import Services
from core.storage import Store
from entities.history.recorder import HistoryRecorder
from entities.records.lifecycle import RecordLifecycle
from entities.registry import Registry
from runtime.auth import AuthService


def build_services(config: Config, store: Store) -> Services:
    svc = Services(config=config, store=store)
    svc.auth = AuthService(store, config.token_idle_seconds)
    svc.registry = Registry(store)
    svc.history = HistoryRecorder(store)
    svc.records = RecordLifecycle(store, svc.registry, svc.history)
    return svc
