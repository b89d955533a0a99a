"""What other packages may ask the files package. The files collection belongs to this package."""

from __future__ import annotations

from bson import ObjectId

from runtime.storage import Store

FILES = "files.files"


def file_name(store: Store, file_id: ObjectId) -> str | None:
    doc = store.collection(FILES).find_one({"_id": file_id}, {"filename": 1})
    return doc.get("filename") if doc else None
