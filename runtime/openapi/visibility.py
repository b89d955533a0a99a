"""Which parts of the API a caller's document shows: the hook the permissions work fills in.

The document builder asks a ``DocumentFilter`` about every entity, field, action, operation on an entity's records
and generic operation.
``ShowEverything`` (the default) answers yes to all. A permissions-aware filter answers from the caller's
rights, so that a non-developer's document lists only what they may use; ``cache_key(user)`` must give the
same value for callers who see the same document (e.g. their role set), since documents are cached by it.

Install one with ``runtime.openapi.set_document_filter(app, my_filter)``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol

from entities.metadata import Entity, Field

User = dict[str, Any] | None  # the ``sys.users`` document of the caller; None when no token was sent
# What a caller may do with an entity's records, each shown as its own operations (``entity_operation``).
ENTITY_OPERATIONS = ("create", "edit", "delete", "history", "import", "export")


class DocumentFilter(Protocol):
    def cache_key(self, user: User) -> Hashable:
        """Callers with equal keys get the same document."""

    def entity(self, user: User, entity: Entity) -> bool:
        """Whether the entity's paths appear at all."""

    def field(self, user: User, entity: Entity, field: Field) -> bool:
        """Whether a field appears in the entity's schemas and filters: asked of every field at every depth, a
        nested group's inner fields and a relationship's copied fields included (``field.path`` is its dot path,
        e.g. ``info.priv`` or ``dept.budget``; a hidden group or relationship hides what is under it)."""

    def action(self, user: User, entity: Entity, action_name: str) -> bool:
        """Whether the action's paths appear."""

    def entity_operation(self, user: User, entity: Entity, operation: str) -> bool:
        """Whether the paths of one of ``ENTITY_OPERATIONS`` on the entity's records appear."""

    def read_only(self, user: User, entity: Entity, field: Field) -> bool:
        """Whether a shown field (at any depth: ``Field.path``) is read-only for the caller (``readOnly``, left
        out of the request bodies)."""

    def operation(self, user: User, path: str, method: str) -> bool:
        """Whether a generic (non-entity) operation appears, e.g. ``/api/metadata/entities`` ``get``."""


class ShowEverything:
    """The default: every caller sees the whole API."""

    def cache_key(self, user: User) -> Hashable:
        return "everything"

    def entity(self, user: User, entity: Entity) -> bool:
        return True

    def field(self, user: User, entity: Entity, field: Field) -> bool:
        return True

    def action(self, user: User, entity: Entity, action_name: str) -> bool:
        return True

    def entity_operation(self, user: User, entity: Entity, operation: str) -> bool:
        return True

    def read_only(self, user: User, entity: Entity, field: Field) -> bool:
        return False

    def operation(self, user: User, path: str, method: str) -> bool:
        return True
