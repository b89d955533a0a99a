"""Parameters and bodies of ``POST /data/{entity}/import`` and ``PUT /data/{entity}/export``."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from core.api import AnyBody, Flag, QuerySchema
from entities.records.schemas import ListQuery
from entities.transfer.importer import EFFECTIVE_OPTIONS, INERT_OPTIONS

# Import options (platform defaults); all but lowPriority are for developers only.
IMPORT_OPTIONS = {"lowPriority": False, "skipRecordsWithInvalidFields": True, **EFFECTIVE_OPTIONS, **INERT_OPTIONS}

ImportOptions: type[QuerySchema] = QuerySchema.from_dict(  # type: ignore[assignment]
    {name: Flag(metadata={"description": f"default {str(default).lower()}"
                          + ("" if name == "lowPriority" else "; developers only")})
     for name, default in IMPORT_OPTIONS.items()}, name="ImportOptions")


class ImportUpload(AnyBody):
    """``multipart/form-data`` with the CSV in the part ``file`` (a ``text/csv`` body works too); the import
    options may also come as form fields. Read by the route itself, after it raised the size limit."""

    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})

    def load(self, data: Any, **_: Any) -> Any:  # type: ignore[override]
        return None


class ExportQuery(ListQuery):
    _useFieldNames = Flag(metadata={"description": "Column headers are field names instead of labels"})
    _lowPriority = Flag()
