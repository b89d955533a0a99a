"""What a stage translator gets: where it sits in the pipeline, the incoming shape, and entity lookup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import BadRequest, field_error
from entities.aggregate.shape import Shape
from entities.metadata import Entity


def stage_error(index: int, name: str | None, message: str) -> BadRequest:
    """The 400 of a bad stage: its message and its one field error name the stage (``stage 2 (group)``, or
    ``stage 2`` when the name itself is the problem), as a bad query parameter's name the parameter."""
    where = f"stage {index}" if name is None else f"stage {index} ({name})"
    return BadRequest(f"{where}: {message}", errors=[field_error(where, "invalid", message)])


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
        return stage_error(self.index, self.name, message)

    def resolve(self, path: Any, what: str = "field"):
        """Resolve a path against the incoming shape or fail naming the known fields."""
        if not isinstance(path, str) or not path.strip():
            raise self.error(f"{what} must be a non-empty field path")
        resolved = self.shape.resolve(path.strip())
        if resolved is None:
            known = ", ".join(self.shape.names())
            raise self.error(f"unknown {what} '{path}' (available here: {known})")
        return resolved
