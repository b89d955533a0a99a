"""File contents in the GridFS layout (bucket ``files``: ``files.files`` + ``files.chunks``), streamed in chunks.

The layout is GridFS's own, so tools that read GridFS (``mongofiles``, a driver's ``GridFSBucket``) read these
files on MongoDB. The code is not pymongo's ``GridFSBucket`` because that class refuses the embedded store
(it type-checks its database and tests a collection's truth value); writing the two collections directly
works the same on both stores. A file is visible only once its last chunk is written: the ``files.files``
document is inserted after the chunks, so a reader never sees a half-uploaded file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from bson import Binary, ObjectId

from core.storage import Store

BUCKET = "files"
CHUNK_SIZE = 255 * 1024  # GridFS's default chunk size


class FileTooLarge(Exception):
    """The stream went past the size limit; nothing was kept."""


class FileStore:
    def __init__(self, store: Store):
        self.files = store.collection(f"{BUCKET}.files")
        self.chunks = store.collection(f"{BUCKET}.chunks")

    def ensure_indexes(self) -> None:
        self.chunks.create_index([("files_id", 1), ("n", 1)], unique=True)
        self.files.create_index([("filename", 1), ("uploadDate", 1)])

    def put(self, stream: BinaryIO, filename: str, content_type: str | None = None,
            metadata: dict[str, Any] | None = None, max_bytes: int | None = None) -> dict[str, Any]:
        """Store ``stream`` chunk by chunk (memory holds one chunk); returns the ``files.files`` document."""
        file_id = ObjectId()
        length = 0
        n = 0
        try:
            while True:
                data = _read_chunk(stream)
                if not data:
                    break
                length += len(data)
                if max_bytes is not None and length > max_bytes:
                    raise FileTooLarge(f"the file is larger than {max_bytes} bytes")
                self.chunks.insert_one({"files_id": file_id, "n": n, "data": Binary(data)})
                n += 1
        except BaseException:
            self.chunks.delete_many({"files_id": file_id})
            raise
        doc = {"_id": file_id, "length": length, "chunkSize": CHUNK_SIZE,
               "uploadDate": datetime.now(UTC).replace(tzinfo=None), "filename": filename,
               "metadata": {"contentType": content_type or "application/octet-stream", **(metadata or {})}}
        self.files.insert_one(doc)
        return doc

    def get(self, file_id: ObjectId) -> dict[str, Any] | None:
        return self.files.find_one({"_id": file_id})

    def read(self, file_id: ObjectId) -> Iterator[bytes]:
        """The file's bytes, one chunk at a time (each chunk is fetched by its index, so memory stays flat)."""
        n = 0
        while True:
            chunk = self.chunks.find_one({"files_id": file_id, "n": n})
            if chunk is None:
                return
            yield bytes(chunk["data"])
            n += 1

    def update_metadata(self, file_id: ObjectId, changes: dict[str, Any]) -> None:
        self.files.update_one({"_id": file_id}, {"$set": {f"metadata.{k}": v for k, v in changes.items()}})

    def delete(self, file_id: ObjectId) -> bool:
        """Remove the file document first (readers stop seeing it), then its chunks."""
        removed = self.files.delete_one({"_id": file_id}).deleted_count == 1
        self.chunks.delete_many({"files_id": file_id})
        return removed


def _read_chunk(stream: BinaryIO) -> bytes:
    """Fill one whole chunk: a socket-backed stream may return fewer bytes than asked for."""
    parts: list[bytes] = []
    size = 0
    while size < CHUNK_SIZE:
        part = stream.read(CHUNK_SIZE - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)
