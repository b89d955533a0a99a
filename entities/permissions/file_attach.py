"""Which files a regular user may put in a file field: their own uploads, or files a record they may access
already references. File ids are guessable; without this check a user could attach someone else's upload to
a record of theirs and then download it through the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bson import ObjectId

from core.context import WriteContext
from core.errors import ValidationFailed, field_error
from core.storage import Store
from entities.metadata import Entity, Field
from entities.permissions.enforce import UPLOAD_API, policy
from entities.permissions.service import Caller
from entities.registry import Registry, data_collection_name
from entities.types import FileType
from files.service import file_owners


def file_values(fields: list[Field], values: dict[str, Any] | None, prefix: str = "") -> Iterator[tuple[str, Field,
                                                                                                       ObjectId]]:
    """``(path, field, file id)`` of every file value in a stored document (nested groups included)."""
    if not values:
        return
    for f in fields:
        value = values.get(f.name)
        if value is None:
            continue
        path = prefix + f.name
        if f.is_nested:
            items = value if f.many else [value]
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    yield from file_values(f.nested, item, f"{path}[{i}]." if f.many else f"{path}.")
        elif f.type.name == "file":
            for ref in value if f.many else [value]:
                if isinstance(ref, dict) and isinstance(ref.get("id"), ObjectId):
                    yield path, f, ref["id"]


def sends_upload(fields: list[Field], body: dict[str, Any]) -> bool:
    """Whether a body as sent holds an inline upload in a file field (nested groups included)."""
    for f in fields:
        value = body.get(f.name)
        values = value if isinstance(value, list) else [value]
        if f.is_nested and any(isinstance(item, dict) and sends_upload(f.nested, item) for item in values):
            return True
        if f.type.holds_files and any(FileType.is_upload(v) for v in values):
            return True
    return False


def refuse_uploads(entity: Entity, body: dict[str, Any], ctx: WriteContext) -> None:
    """A ``BodyCheck``: a caller whose groups do not allow the upload files API cannot store a file by sending
    its content in a file field either (403 as ``POST /files``, before anything is stored)."""
    caller = ctx.caller
    if isinstance(caller, Caller) and not caller.api(UPLOAD_API[0]) and sends_upload(entity.fields, body):
        caller.require_api(*UPLOAD_API)


def _file_paths(fields: list[Field], prefix: str = "") -> list[str]:
    out: list[str] = []
    for f in fields:
        if f.is_nested:
            out.extend(_file_paths(f.nested, f"{prefix}{f.name}."))
        elif f.type.name == "file":
            out.append(prefix + f.name)
    return out


_ITEM_INDEX = re.compile(r"\[\d+\]")


class FileAttachAuthorizer:
    """The lifecycle's check on file fields written by a regular user (400 field error for a foreign file)."""

    def __init__(self, store: Store, registry: Registry):
        self.store = store
        self.registry = registry

    def needed(self, entity: Entity, ctx: WriteContext) -> bool:
        return (ctx.category == "USER" and not ctx.developer and bool(ctx.user_id)
                and any(True for _ in _file_paths(entity.fields)))

    def check(self, operation: str, entity: Entity, old: dict[str, Any] | None, new: dict[str, Any] | None,
              ctx: WriteContext) -> None:
        if operation == "delete" or new is None:
            return
        held = {(_ITEM_INDEX.sub("", path), file_id) for path, _, file_id in file_values(entity.fields, old)}
        kept = self._kept(entity, old, ctx)
        added = [(path, f, file_id) for path, f, file_id in file_values(entity.fields, new)
                 if file_id not in kept and (_ITEM_INDEX.sub("", path), file_id) not in held]
        if not added:
            return
        owners = file_owners(self.store, list({file_id for _, _, file_id in added}))
        foreign = {file_id for _, _, file_id in added if owners.get(file_id) != ctx.user_id}
        if foreign:
            foreign -= self._visible_elsewhere(foreign, ctx)
        errors = [field_error(path, "invalid", f"File '{file_id}' does not exist or you cannot use it", f.label,
                              rejected=str(file_id))
                  for path, f, file_id in added if file_id in foreign]
        if errors:
            raise ValidationFailed(errors)

    @staticmethod
    def _kept(entity: Entity, old: dict[str, Any] | None, ctx: WriteContext) -> set[ObjectId]:
        """The files the record held in fields the caller may see, which they may also put in other fields. A file
        held only in a field hidden from them stays there, but is no more theirs to move than any other."""
        held = list(file_values(entity.fields, old))
        caller = ctx.caller if isinstance(ctx.caller, Caller) and ctx.caller.restricted else None
        if not held or caller is None:
            return {file_id for _, _, file_id in held}
        shown = policy(entity, caller)
        return {file_id for path, _, file_id in held if shown.field_level(_ITEM_INDEX.sub("", path)) != "none"}

    def _visible_elsewhere(self, file_ids: set[ObjectId], ctx: WriteContext) -> set[ObjectId]:
        """Those of ``file_ids`` a record the caller may access references in a field they may see."""
        caller = ctx.caller if isinstance(ctx.caller, Caller) else None
        found: set[ObjectId] = set()
        for entity in self.registry.all().values():
            p = policy(entity, caller) if caller is not None and caller.restricted else None
            paths = [path for path in _file_paths(entity.fields) if p is None or p.field_level(path) != "none"]
            scope = {} if p is None else p.access.mongo()
            if not paths or scope is None:
                continue
            wanted = list(file_ids - found)
            col = self.store.collection(data_collection_name(entity.name))
            for path in paths:
                query = {f"{path}.id": {"$in": wanted}}
                found.update(col.distinct(f"{path}.id", {"$and": [scope, query]} if scope else query))
            if found >= file_ids:
                break
        return found & file_ids
