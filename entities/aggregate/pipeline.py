"""Stages in → one Mongo pipeline out, threading the document shape from stage to stage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from entities.aggregate.context import FieldGuard, StageContext, stage_error
from entities.aggregate.parse import Stage
from entities.aggregate.shape import Shape
from entities.aggregate.stages import TRANSLATORS
from entities.metadata import Entity


def build(entity: Entity, stages: list[Stage], find_entity: Callable[[str], Entity | None],
          guard: FieldGuard | None = None) -> tuple[list[dict[str, Any]], Shape]:
    pipeline: list[dict[str, Any]] = []
    shape = Shape.records(entity)
    for index, (name, settings) in enumerate(stages, start=1):
        translate = TRANSLATORS.get(name)
        if translate is None:
            raise stage_error(index, name, f"unknown stage; the stages are {', '.join(TRANSLATORS)}")
        ctx = StageContext(index, name, entity, shape, find_entity, guard)
        mongo_stages, shape = translate(ctx, settings)
        pipeline.extend(mongo_stages)
    return pipeline, shape
