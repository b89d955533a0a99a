"""What a stage translator gets: where it sits in the pipeline, the incoming shape, entity lookup, and the
caller's field rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import BadRequest, field_error
from entities.aggregate.shape import Resolved, Shape
from entities.metadata import Entity
from entities.query.named import object_paths


def stage_error(index: int, name: str | None, message: str) -> BadRequest:
    """The 400 of a bad stage: its message and its one field error name the stage (``stage 2 (group)``, or
    ``stage 2`` when the name itself is the problem), as a bad query parameter's name the parameter."""
    where = f"stage {index}" if name is None else f"stage {index} ({name})"
    return BadRequest(f"{where}: {message}", errors=[field_error(where, "invalid", message)])


# One translated stage: the Mongo stages it becomes and the shape of the documents it emits.
Step = tuple[list[dict[str, Any]], Shape]


@dataclass(frozen=True)
class FieldGuard:
    """A restricted caller's field rules as the pipeline applies them, to the record field every path stands for
    (``x.email`` after ``"x": "first(contactInformation)"`` is ``contactInformation.email``): ``check`` raises for
    a path the caller may not filter, sort, group, accumulate or project by; ``hidden`` are the record field
    paths (nested and related ones included) no output may show."""

    check: Callable[[str], None]
    hidden: tuple[str, ...] = ()

    def below(self, source: str) -> list[str]:
        """The hidden paths inside the value of the record field ``source``."""
        return [h for h in self.hidden if h.startswith(f"{source}.")]


@dataclass(frozen=True)
class StageContext:
    index: int  # 1-based position in the (expanded) pipeline
    name: str
    entity: Entity  # the entity the pipeline runs over
    shape: Shape  # the shape of the documents entering this stage
    find_entity: Callable[[str], Entity | None]
    guard: FieldGuard | None = None

    def error(self, message: str) -> BadRequest:
        """A 400 whose message names the stage, e.g. ``stage 2 (group): ...``."""
        return stage_error(self.index, self.name, message)

    def resolve(self, path: Any, what: str = "field") -> Resolved:
        """Resolve a path against the incoming shape (and the caller's field rules) or fail naming the known
        fields."""
        if not isinstance(path, str) or not path.strip():
            raise self.error(f"{what} must be a non-empty field path")
        resolved = self.shape.resolve(path.strip())
        if resolved is None:
            known = ", ".join(self.shape.names())
            raise self.error(f"unknown {what} '{path}' (available here: {known})")
        self.check(resolved.source)
        return resolved

    def check(self, source: str | None) -> None:
        if self.guard is not None and source is not None:
            self.guard.check(source)

    def check_whole(self, resolved: Resolved) -> None:
        """A whole value compared (grouped by, min/max'ed) depends on every inner field it holds (a nested
        group's, a relationship's copied fields): none of them may be hidden from the caller."""
        if self.guard is None or resolved.source is None:
            return
        for path in self.guard.below(resolved.source):
            if resolved.slot.child(path[len(resolved.source) + 1:].split(".")[0]) is not None:
                self.guard.check(path)

    def check_value(self, resolved: Resolved, value: Any) -> None:
        """A JSON-object filter value compares the inner fields it names (``{"email": ...}``)."""
        if resolved.source is not None:
            for path in object_paths(resolved.source, value):
                self.check(path)
