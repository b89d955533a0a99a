"""The records side of ``files.service.FileReferences``: which records point at which files."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from core.errors import NotFound
from entities.metadata import Field
from entities.permissions.enforce import forbidden, policy
from entities.records.lifecycle import RecordLifecycle, parse_id


def file_paths(fields: list[Field]) -> list[str]:
    """Dotted paths of every file field, nested ones included (Mongo's dot notation walks arrays)."""
    out: list[str] = []
    for f in fields:
        if f.is_nested:
            out.extend(file_paths(f.nested))
        elif f.type.holds_files:
            out.append(f.path or f.name)
    return out


def _holds(col: Any, record_id: ObjectId, file_id: ObjectId, paths: list[str]) -> bool:
    """Whether the record has the file in one of the file fields at ``paths``."""
    return bool(paths) and col.count_documents(
        {"_id": record_id, "$or": [{f"{path}.id": file_id} for path in paths]}, limit=1) == 1


class RecordFileReferences:
    def __init__(self, records: RecordLifecycle):
        self.records = records

    def record_references(self, entity_name: str, raw_record_id: str, file_id: ObjectId | None) -> bool:
        """Needs the caller's access to the record and to a file field that holds the file: a file the record
        holds only in fields hidden from the caller is a 403, one it does not hold at all is False (404)."""
        entity = self.records.registry.get(entity_name)
        record_id = parse_id(raw_record_id)
        p = policy(entity)
        col = self.records.collection(entity)
        doc = col.find_one({"_id": record_id})
        if doc is None:
            raise NotFound(f"Record '{raw_record_id}' does not exist in entity '{entity.name}'")
        if not p.access.allows(doc):
            raise forbidden("file")
        if file_id is None:
            return False
        paths = file_paths(entity.fields)
        visible = [path for path in paths if p.field_level(path) != "none"]
        if _holds(col, record_id, file_id, visible):
            return True
        if _holds(col, record_id, file_id, [path for path in paths if path not in visible]):
            raise forbidden("file")
        return False

    def referenced(self, file_ids: list[ObjectId]) -> set[ObjectId]:
        out: set[ObjectId] = set()
        for entity in self.records.registry.all().values():
            col = self.records.collection(entity)
            for path in file_paths(entity.fields):
                out.update(col.distinct(f"{path}.id", {f"{path}.id": {"$in": file_ids}}))
        return out
