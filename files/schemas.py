"""Bodies and answers of ``/files``."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from core.api import AnyBody, QuerySchema


class Upload(AnyBody):
    """``multipart/form-data`` with the file in the part ``file`` (or the only file part)."""

    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})

    def load(self, data: Any, **_: Any) -> Any:  # type: ignore[override]
        return None


class Uploaded(ma.Schema):
    fileId = ma.fields.String()
    fileLink = ma.fields.String()


class ShareQuery(QuerySchema):
    ttl = ma.fields.String(metadata={"description": "How long the link works, in milliseconds"})


class ShareBody(AnyBody):
    """Optional: ``{"ttl": <milliseconds>}`` (the query parameter wins)."""

    ttl = ma.fields.Integer()


class Shared(ma.Schema):
    sharedFileId = ma.fields.String()
    sharedFileLink = ma.fields.String()


DOWNLOAD = {"content": {"application/force-download": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {"X-File-Content-Type": {"schema": {"type": "string"},
                                                "description": "The content type the file was uploaded with"},
                        "Content-Disposition": {"schema": {"type": "string"}}}}
