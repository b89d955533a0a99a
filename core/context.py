"""Who is writing and from where: passed to every record write so history and logs can say so."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass
class WriteContext:
    user_email: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    developer: bool = False
    impersonator_email: str | None = None
    ip: str | None = None
    category: str = "USER"  # USER | SCRIPT | SYSTEM
    context_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The permissions of a regular user making this write (``entities.permissions.Caller``); None for
    # developers, scripts and the system, which are never restricted.
    caller: Any = None
    trigger_events: bool = True  # False (import ``triggerEvents=false``, ``_triggerEvents=false``): no listeners
    # False (``_cascadeOperations=false``; import ``cascadeOperations`` or ``updateRelationships=false``): the
    # write's label and copied-field changes are not pushed into the records that point at it, and a delete
    # leaves its links as they are instead of applying the relationships' delete policies
    cascade: bool = True
    set_defaults: bool = True  # False (import ``setDefaultValues=false``): a created record gets no default values

    def event_type(self, kind: str) -> str:
        """``kind`` is RECORD_CREATED, RECORD_CHANGED, RECORD_DELETED or ACTION_PERFORMED."""
        if self.category == "SYSTEM":  # cascades by default; refactorings say so in ``extra``
            return str(self.extra.get("eventType") or "SYSTEM_CASCADE_UPDATE")
        return f"{self.category}_{kind}"

    def with_path(self, context_path: str) -> WriteContext:
        return replace(self, context_path=context_path, extra=dict(self.extra))
