"""Byte chunks ↔ file-like streams, so CSV files move through the file store without being held whole."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from bson import ObjectId

from files.storage import FileStore

# one cell: as large as a value a record can hold (a document is at most 16 MiB), so every exported value
# imports back; a bigger one is a malformed file, not data
FIELD_SIZE_LIMIT = 16 * 1024 * 1024
WRITE_BUFFER = 64 * 1024

csv.field_size_limit(FIELD_SIZE_LIMIT)


class ChunkStream(io.RawIOBase):
    """A readable binary stream over an iterator of ``bytes`` (what ``FileStore.put`` and ``csv`` want)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def text_reader(binary: BinaryIO) -> io.TextIOWrapper:
    """UTF-8 text (a leading BOM is dropped) with newlines left to the CSV parser."""
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def csv_rows(text: io.TextIOWrapper) -> Iterator[list[str]]:
    return csv.reader(text, strict=True)


@contextmanager
def stored_csv(files: FileStore, file_id: ObjectId) -> Iterator[Iterator[list[str]]]:
    """The rows of a stored CSV file, read chunk by chunk."""
    text = text_reader(io.BufferedReader(ChunkStream(files.read(file_id))))  # type: ignore[arg-type]
    try:
        yield csv_rows(text)
    finally:
        text.close()


def csv_bytes(rows: Iterable[list[str]]) -> Iterator[bytes]:
    """Rows as UTF-8 CSV bytes (RFC 4180: CRLF, quotes when needed), in pieces of about 64 kB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= WRITE_BUFFER:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")
