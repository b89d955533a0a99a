"""The services of one app, built once by ``create_app`` and reached through ``services()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

if TYPE_CHECKING:
    from core.config import Config
    from core.storage import Store
    from entities.history.recorder import HistoryRecorder
    from entities.records.service import RecordService
    from entities.registry import Registry
    from runtime.auth import AuthService


@dataclass
class Services:
    config: Config
    store: Store
    auth: AuthService
    registry: Registry
    history: HistoryRecorder
    records: RecordService
    extra: dict[str, Any] = field(default_factory=dict)


def build_services(config: Config, store: Store) -> Services:
    from entities.history.recorder import HistoryRecorder
    from entities.records.service import RecordService
    from entities.registry import Registry
    from runtime.auth import AuthService
    from runtime.login_guard import LoginGuard

    registry = Registry(store)
    history = HistoryRecorder(store)
    guard = LoginGuard(store, config.login_throttle_after, config.login_block_after, config.login_delay_seconds,
                       config.login_ip_per_minute)
    auth = AuthService(store, config.token_idle_seconds, config.token_max_seconds, config.password_min_length, guard)
    return Services(config=config, store=store, auth=auth,
                    registry=registry, history=history, records=RecordService(store, registry, history))


def services() -> Services:
    return current_app.extensions["runtime"]
