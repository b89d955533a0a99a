"""What the record lifecycle tells the rest of the app, and the hooks it calls.

Hooks are registered at start-up on ``services.records`` (``body_checks``, ``authorizers``, ``after_commit``). A
hook says which writes it needs to see (``wants``): the lifecycle uses a set-based fast path (one
``update_many`` / ``delete_many`` per batch) only when no hook wants the records of that entity in that context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from core.context import WriteContext
from entities.metadata import Entity

EventKind = Literal["created", "changed", "deleted", "actionPerformed"]
Operation = Literal["create", "edit", "delete"]


@dataclass(frozen=True)
class RecordEvent:
    """One committed change. ``record``/``old_record`` are stored documents (``None`` where there is none)."""

    kind: EventKind
    entity: Entity
    record: dict[str, Any] | None
    old_record: dict[str, Any] | None
    ctx: WriteContext
    action: str | None = None


def _always(entity: Entity, ctx: WriteContext) -> bool:
    return True


@dataclass(frozen=True)
class AfterCommit:
    """Called after a change is committed (its failure is logged, never undoing the write)."""

    name: str
    handle: Callable[[RecordEvent], None]
    wants: Callable[[Entity, WriteContext], bool] = field(default=_always)


class Authorizer(Protocol):
    """Decides whether a write may happen: raises ``Forbidden`` when not."""

    def needed(self, entity: Entity, ctx: WriteContext) -> bool:
        """False when this caller is never restricted on this entity (then no per-record check is needed)."""
        ...

    def check(self, operation: Operation, entity: Entity, old: dict[str, Any] | None, new: dict[str, Any] | None,
              ctx: WriteContext) -> None: ...


class BodyCheck(Protocol):
    """Refuses a write as sent (raises), before any of it is validated or stored: an inline upload in a file
    field is stored while the body is validated, so it cannot wait for an ``Authorizer``."""

    def __call__(self, entity: Entity, body: dict[str, Any], ctx: WriteContext) -> None: ...


# For one update: ``(stored record, changes as sent) → changes to apply`` (a caller's protected values kept).
KeepValues = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class LinkFilter(Protocol):
    """For one write by a restricted caller: which records its relationships may be resolved to."""

    def __call__(self, target: str) -> dict[str, Any] | None:
        """Target entity name → the filter a linked record must match (``{}``: any, None: no record at all)."""
        ...

    def hidden(self, path: str) -> bool:
        """Whether the caller may not see ``path``, a field of a related record (``company.code``): a
        relationship is then not looked up by it."""
        ...


class LinkScope(Protocol):
    """Which records a write may point a relationship at, found by id, label or lookup fields (a restricted
    caller: only those they may access, so resolving a link never finds, nor names, a record hidden from them,
    nor looks one up by a field hidden from them)."""

    def __call__(self, entity: Entity, old: dict[str, Any] | None, ctx: WriteContext) -> LinkFilter | None:
        """None: any record. Else per target entity: a filter to AND in (``{}``: any), None: no record at all."""
        ...
