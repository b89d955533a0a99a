"""What after-commit hooks receive: one committed record change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.context import WriteContext
from entities.metadata import Entity


@dataclass(frozen=True)
class RecordEvent:
    kind: Literal["created", "changed", "deleted", "actionPerformed"]
    entity: Entity
    record: dict[str, Any] | None  # the stored document after the change (None when deleted)
    old_record: dict[str, Any] | None  # the stored document before (None when created)
    ctx: WriteContext
    action: str | None = None
