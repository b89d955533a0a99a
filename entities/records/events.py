"""What the after-commit hooks of record writes receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.context import WriteContext
from entities.metadata import Entity

EventKind = Literal["created", "changed", "deleted", "actionPerformed"]


@dataclass(frozen=True)
class RecordEvent:
    """One committed write: ``record`` is the stored document after it (None for a delete, and for an action
    over many records or a global one), ``old_record`` the one before (None for a create)."""

    kind: EventKind
    entity: Entity
    record: dict[str, Any] | None
    old_record: dict[str, Any] | None
    ctx: WriteContext
    action: str | None = None
