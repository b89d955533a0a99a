"""The embedded store's data folder: replay, torn tail, snapshot compaction, lock file (core.embedded_journal)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import mongomock_ng
import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from core.embedded_journal import SNAPSHOT, DamagedSnapshot, DataDirInUse, Journal, open_data_dir


def opened(folder: Path, **kwargs: object) -> tuple[Journal, mongomock_ng.MongoClient]:
    journal, server = open_data_dir(folder, **kwargs)  # type: ignore[arg-type]
    return journal, mongomock_ng.MongoClient(_store=server)


def journal_file(folder: Path) -> Path:
    [path] = folder.glob("journal.*.bson")
    return path


def test_writes_are_replayed_with_their_types_and_indexes(tmp_path: Path):
    journal, client = opened(tmp_path)
    col = client.app["data.items"]
    col.create_index("name", unique=True)
    oid = ObjectId()
    when = dt.datetime(2024, 5, 1, 12, 30, 15, 123000)
    col.insert_one({"_id": oid, "name": "a", "when": when, "nested": {"list": [1, 2.5, None, "x"]}, "n": 1})
    col.insert_many([{"name": f"b{i}", "n": i} for i in range(5)])
    col.update_one({"_id": oid}, {"$inc": {"n": 10}, "$push": {"nested.list": True}})
    col.delete_many({"n": {"$lt": 2}})
    client.app["scratch"].insert_one({"x": 1})
    client.app.drop_collection("scratch")
    journal.sync()
    journal.close()

    journal, client = opened(tmp_path)
    col = client.app["data.items"]
    assert sorted(d["name"] for d in col.find()) == ["a", "b2", "b3", "b4"]
    doc = col.find_one({"_id": oid})
    assert doc == {"_id": oid, "name": "a", "when": when, "nested": {"list": [1, 2.5, None, "x", True]}, "n": 11}
    assert "name_1" in col.index_information()
    with pytest.raises(DuplicateKeyError):
        col.insert_one({"name": "a"})
    assert "scratch" not in client.app.list_collection_names()
    journal.close()


def test_a_torn_last_record_is_ignored_and_cut_off(tmp_path: Path):
    journal, client = opened(tmp_path)
    for i in range(3):
        client.app.items.insert_one({"i": i})
    journal.sync()
    journal.close()
    path = journal_file(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole[:-5])  # the last record lost its end in a crash

    journal, client = opened(tmp_path)
    assert sorted(d["i"] for d in client.app.items.find()) == [0, 1]
    client.app.items.insert_one({"i": 3})  # new records follow the intact ones
    journal.sync()
    journal.close()
    journal, client = opened(tmp_path)
    assert sorted(d["i"] for d in client.app.items.find()) == [0, 1, 3]
    journal.close()


def test_a_group_is_replayed_whole_and_a_torn_group_not_at_all(tmp_path: Path):
    """The writes of a ``group`` (a record and its history entry) are one journal record: a crash keeps both or
    neither."""
    journal, client = opened(tmp_path)
    client.app.items.insert_one({"i": 0})
    with journal.group():
        client.app.items.insert_one({"i": 1})
        client.app.history.insert_one({"of": 1})
    with journal.group():
        client.app.items.update_one({"i": 1}, {"$set": {"i": 2}})
        client.app.history.insert_one({"of": 2})
    journal.sync()
    journal.close()
    path = journal_file(tmp_path)
    path.write_bytes(path.read_bytes()[:-3])  # the second group lost its end in a crash: none of it is replayed

    journal, client = opened(tmp_path)
    assert sorted(d["i"] for d in client.app.items.find()) == [0, 1]
    assert [d["of"] for d in client.app.history.find()] == [1]
    with journal.group(), journal.group():  # a group inside another joins it
        client.app.items.update_one({"i": 1}, {"$set": {"i": 3}})
        client.app.history.insert_one({"of": 3})
    journal.sync()
    journal.close()
    journal, client = opened(tmp_path)
    assert sorted(d["i"] for d in client.app.items.find()) == [0, 3]
    assert sorted(d["of"] for d in client.app.history.find()) == [1, 3]
    journal.close()


def test_garbage_after_the_last_record_is_ignored(tmp_path: Path):
    journal, client = opened(tmp_path)
    client.app.items.insert_one({"i": 0})
    journal.sync()
    journal.close()
    with open(journal_file(tmp_path), "ab") as fh:
        fh.write(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!")
    journal, client = opened(tmp_path)
    assert [d["i"] for d in client.app.items.find()] == [0]
    journal.close()


def compacted(folder: Path) -> tuple[Journal, mongomock_ng.MongoClient]:
    """A folder whose 200 records were written past a small compaction threshold: in a snapshot by now."""
    journal, client = opened(folder)
    journal.compact_min_bytes = 4096
    for i in range(200):
        client.app.items.insert_one({"i": i, "pad": "x" * 50})
        journal.commit()
    return journal, client


def test_the_journal_is_compacted_into_a_snapshot(tmp_path: Path):
    journal, client = compacted(tmp_path)
    assert (tmp_path / SNAPSHOT).exists() and journal.generation >= 1
    # compacted whenever the journal grows past both the threshold and the snapshot: it stays that small
    assert journal_file(tmp_path).stat().st_size < max(4096, (tmp_path / SNAPSHOT).stat().st_size) + 200
    assert not list(tmp_path.glob("*.tmp"))
    client.app.items.delete_one({"i": 0})
    journal.sync()
    journal.close()
    journal, client = opened(tmp_path)
    assert client.app.items.count_documents({}) == 199
    journal.close()


def test_a_damaged_snapshot_stops_the_start_and_changes_nothing(tmp_path: Path):
    journal, _ = compacted(tmp_path)
    journal.sync()
    journal.close()
    snapshot = tmp_path / SNAPSHOT
    with open(snapshot, "r+b") as fh:  # the disk lost its second half
        fh.truncate(snapshot.stat().st_size // 2)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "LOCK"}
    with pytest.raises(DamagedSnapshot, match=r"is damaged after byte .* did not start and changed nothing"):
        open_data_dir(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "LOCK"} == before
    with pytest.raises(DamagedSnapshot):  # the folder was released: the next try reads it again
        open_data_dir(tmp_path)


def test_only_one_process_opens_a_folder(tmp_path: Path):
    journal, _ = opened(tmp_path)
    with pytest.raises(DataDirInUse, match=f"The data folder {tmp_path} is in use by process {os.getpid()}"):
        open_data_dir(tmp_path)
    journal.close()
    again, _ = opened(tmp_path)  # released on close (and by the OS when a process dies)
    again.close()


def test_an_unknown_fsync_mode_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="EMBEDDED_FSYNC must be one of always, batch"):
        open_data_dir(tmp_path, fsync="never")
