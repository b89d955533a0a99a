"""What a stage translator gets: where it sits in the pipeline, the incoming shape, and entity lookup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import BadRequest
from entities.aggregate.shape import Shape
from entities.metadata import Entity

# One translated stage: the Mongo stages it becomes and the shape of the documents it emits.
Step = tuple[list[dict[str, Any]], Shape]


@dataclass(frozen=True)
class StageContext:
    index: int  # 1-based position in the (expanded) pipeline
    name: str
    entity: Entity  # the entity the pipeline runs over
    shape: Shape  # the shape of the documents entering this stage
    find_entity: Callable[[str], Entity | None]

    def error(self, message: str) -> BadRequest:
        """A 400 whose message names the stage, e.g. ``stage 2 (group): ...``."""
        return BadRequest(f"stage {self.index} ({self.name}): {message}")

    def resolve(self, path: Any, what: str = "field"):
        """Resolve a path against the incoming shape or fail naming the known fields."""
        if not isinstance(path, str) or not path.strip():
            raise self.error(f"{what} must be a non-empty field path")
        resolved = self.shape.resolve(path.strip())
        if resolved is None:
            known = ", ".join(self.shape.names())
            raise self.error(f"unknown {what} '{path}' (available here: {known})")
        return resolved
