"""``runtime serve --data-dir``: acknowledged writes survive ``kill -9``; one process per folder; the wire test
server keeps a data folder the same way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymongo

from tests.e2e.stack import ROOT, Client, free_port, read_line, wait_until

EMAIL, PASSWORD = "admin@example.com", "restart-secret"
CREATES, UPDATES, DELETES = 30, 10, 5


def serve(data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL", "EMBEDDED_DATA_DIR")}
    env.update({"RUNTIME_ADMIN_EMAIL": EMAIL, "RUNTIME_ADMIN_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"})
    return subprocess.Popen([sys.executable, "-m", "runtime.cli", "serve", "--port", str(port), "--data-dir",
                             str(data_dir)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


@contextmanager
def running(data_dir: Path, stop: signal.Signals = signal.SIGKILL) -> Iterator[tuple[Client, str]]:
    """A ``runtime serve`` on ``data_dir``, ended with ``stop`` (by default kill -9: no shutdown code runs)."""
    port = free_port()
    proc = serve(data_dir, port)
    try:
        lines = []
        while not any(line.startswith("API:") for line in lines):
            line = read_line(proc, 60)
            assert line, f"serve did not start: {''.join(lines)}"
            lines.append(line)
        base = f"http://127.0.0.1:{port}/api"
        wait_until(lambda: _up(base), 30, "runtime serve to answer")
        token = Client(base).ok("POST", "/auth/login", {"email": EMAIL, "password": PASSWORD})["token"]
        yield Client(base, token), "".join(lines)
    finally:
        os.killpg(proc.pid, stop)
        proc.wait(30)


def _up(base: str) -> bool:
    try:
        return Client(base, timeout=2).call("GET", "/health").status == 200
    except OSError:
        return False


def test_acknowledged_writes_survive_kill_9(tmp_path: Path):
    data_dir = tmp_path / "data"
    with running(data_dir) as (api, output):
        assert f"storage is the embedded store in {data_dir}" in output
        ids = [api.ok("POST", "/data/companies", {"name": f"Kept {i}", "numberOfEmployees": i})["id"]
               for i in range(CREATES)]
        for i, rid in enumerate(ids[:UPDATES]):
            assert api.ok("PUT", f"/data/companies/{rid}", {"numberOfEmployees": 1000 + i})["version"] == 1
        for rid in ids[-DELETES:]:
            api.ok("DELETE", f"/data/companies/{rid}")

        second = serve(data_dir, free_port())  # the folder is taken: a second server refuses to start
        out, _ = second.communicate(timeout=60)
        assert second.returncode != 0 and f"The data folder {data_dir} is in use by process" in out

    with running(data_dir) as (api, _):
        items = api.get("/data/companies?name=like(/Kept)&_size=100&_sortField=numberOfEmployees")["items"]
        assert len(items) == CREATES - DELETES
        by_id = {item["id"]: item for item in items}
        assert set(by_id) == set(ids[:-DELETES])
        assert [by_id[rid]["numberOfEmployees"] for rid in ids[:UPDATES]] == [1000 + i for i in range(UPDATES)]
        assert {by_id[rid]["version"] for rid in ids[:UPDATES]} == {1}
        assert {by_id[rid]["version"] for rid in ids[UPDATES:-DELETES]} == {0}
        history = api.get(f"/data/companies/{ids[0]}/history")["items"]
        assert [h["eventType"] for h in history] == ["USER_RECORD_CHANGED", "USER_RECORD_CREATED"]
        # and the store still takes writes after a replay
        api.ok("POST", "/data/companies", {"name": "After restart"})


def test_sigterm_right_after_a_write_keeps_its_app_logs(tmp_path: Path):
    """The app logs of a write are queued for up to a second; SIGTERM (a supervisor's stop) ends ``serve`` cleanly,
    writing them and closing the journal, so they are there after a restart."""
    data_dir = tmp_path / "data"
    with running(data_dir, signal.SIGTERM) as (api, _):
        record = api.ok("POST", "/data/companies", {"name": "ShutdownFlush"})  # SIGTERM comes right after
    with running(data_dir) as (api, _):
        assert api.get(f"/data/companies/{record['id']}")["name"] == "ShutdownFlush"
        messages = [i["message"] for i in api.get("/status/logs?_size=1000")["items"]]
        assert "POST /api/data/companies" in messages
        assert "Data record of type [companies] with label [ShutdownFlush] was created successfully" in messages


def test_the_wire_test_server_keeps_a_data_folder(tmp_path: Path):
    def start() -> tuple[subprocess.Popen, pymongo.MongoClient]:
        proc = subprocess.Popen([sys.executable, "-m", "tests.support.mongo_wire_server", "--port", "0",
                                 "--data-dir", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        line = read_line(proc, 30)
        assert line.startswith("READY "), line
        return proc, pymongo.MongoClient(f"mongodb://127.0.0.1:{int(line.split()[1])}/?directConnection=true",
                                         serverSelectionTimeoutMS=5000)

    proc, client = start()
    try:
        client.db.items.insert_many([{"i": i} for i in range(20)])
        client.db.items.update_many({"i": {"$lt": 5}}, {"$set": {"low": True}})
        client.db.items.delete_one({"i": 19})
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        client.close()
    time.sleep(0.1)
    proc, client = start()
    try:
        assert client.db.items.count_documents({}) == 19
        assert client.db.items.count_documents({"low": True}) == 5
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        client.close()
