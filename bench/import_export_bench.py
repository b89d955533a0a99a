"""CSV import and export through the runtime vs the bare driver, plus their memory profile.

    python -m bench.import_export_bench [rows] [memory rows]     # rows 0: memory only; memory rows 0: speed only

Runtime: ``POST /data/{entity}/import`` (an IMPORT_RECORDS job: every row validated, each batch created
through the record lifecycle with one ``insert_many``) and ``PUT /data/{entity}/export`` (an EXPORT_RECORDS
job writing the CSV to the file store), each timed from the request until the job is FINISHED. Baselines:
parse the same CSV with ``csv`` and ``insert_many`` it; ``find()`` every record and write it with
``csv.writer``. Rounds are interleaved in one process (runtime then baseline, back to back), so machine load
moves both sides; min and median ratios are printed.

Memory: each job runs under ``tracemalloc`` at a quarter of the memory rows and at all of them (default half
the rows), with the store in another process (the MongoDB wire-protocol test server), so the traced peak is
the runtime's own memory; flat means it does not grow with the number of rows.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import tracemalloc
from typing import Any

from bson import ObjectId

from bench.common import interleaved, make_app, wait_job

FIELDS = [{"name": "code", "type": "text"}, {"name": "n", "type": "integer"}, {"name": "price", "type": "money"},
          {"name": "active", "type": "boolean"}, {"name": "day", "type": "date"},
          {"name": "kind", "type": "choice", "typeRules": {"possibleValues": ["a", "b", "c"]}},
          {"name": "tags", "type": "text", "multiplicity": "many"}]
HEADER = ["code", "n", "price", "active", "day", "kind", "tags[0]", "tags[1]"]


def write_csv(rows: int) -> str:
    fd, path = tempfile.mkstemp(suffix=".csv")
    with os.fdopen(fd, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow([f"row {i}", i, f"{i}.25", "true" if i % 2 else "false", "2024-03-01", "abc"[i % 3],
                             "red", "blue" if i % 2 else ""])
    return path


def define(client: Any, name: str, history: bool = False) -> None:
    client.call("PUT", f"/metadata/entities/{name}", json={"name": name, "history": history, "fields": FIELDS})


def wait(client: Any, job_id: str, dispatcher: Any = None) -> dict[str, Any]:
    """The finished job. With the embedded ``dispatcher`` it waits on it instead of polling the API every
    10 ms (each poll is a request that takes the GIL from the job thread and slows the measured side)."""
    if dispatcher is not None:
        assert dispatcher.wait_idle(3600)
    job = wait_job(client, job_id)
    assert not job["hasErrors"], job
    return job


def runtime_import(client: Any, entity: str, path: str, dispatcher: Any = None) -> dict[str, Any]:
    with open(path, "rb") as f:
        job = client.call("POST", f"/data/{entity}/import", data={"file": (f, "rows.csv")},
                          content_type="multipart/form-data")
    return wait(client, job["jobId"], dispatcher)


def runtime_export(client: Any, entity: str, dispatcher: Any = None) -> dict[str, Any]:
    return wait(client, client.call("PUT", f"/data/{entity}/export?_useFieldNames=true")["jobId"], dispatcher)


def bare_import(col: Any, path: str, batch: int = 1000) -> None:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        docs = []
        for code, n, price, active, day, kind, tag0, tag1 in reader:
            docs.append({"_id": ObjectId(), "version": 0, "label": code, "code": code, "n": int(n),
                         "price": float(price), "active": active == "true", "day": day, "kind": kind,
                         "tags": [t for t in (tag0, tag1) if t]})
            if len(docs) >= batch:
                col.insert_many(docs)
                docs = []
        if docs:
            col.insert_many(docs)


def bare_export(col: Any) -> int:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for d in col.find({}).sort("_id", 1):
        tags = d.get("tags") or []
        writer.writerow([d["code"], d["n"], d["price"], "true" if d["active"] else "false", d["day"], d["kind"],
                         tags[0] if tags else "", tags[1] if len(tags) > 1 else ""])
    return len(out.getvalue())


class Rounds:
    """Fresh entities and a fresh bare collection for each round; the previous round's data dropped (untimed)."""

    def __init__(self, app: Any, client: Any):
        self.app, self.client = app, client
        self.svc = app.extensions["runtime"]
        self.count = 0
        self.names: dict[str, str] = {}
        self.bare: Any = None

    def next(self) -> None:
        for kind, name in self.names.items():
            if kind == "bare":
                self.bare.drop()
                continue
            self.svc.records.drop_all(name)
            if kind == "on":
                self.svc.store.collection("sys.history").delete_many({"entityName": name})
        self.count += 1
        self.names = {"off": f"benchRows{self.count}", "on": f"benchRowsH{self.count}",
                      "again": f"benchRowsA{self.count}", "bare": f"bench.bare{self.count}"}
        define(self.client, self.names["off"])
        define(self.client, self.names["on"], history=True)
        define(self.client, self.names["again"])
        self.bare = self.svc.store.collection(self.names["bare"])


def speed(app: Any, client: Any, rows: int, rounds: int = 4) -> None:
    """Interleaved rounds (bench.common.interleaved), each on fresh collections: runtime import (history off)
    vs the bare ``insert_many`` of the same rows; import with history on vs off; runtime export vs a bare
    ``find`` + ``csv.writer``."""
    path = write_csv(rows)
    warm = write_csv(500)
    fresh = Rounds(app, client)
    jobs = app.extensions["runtime"].jobs.dispatcher
    try:
        fresh.next()  # warm-up on a small file: caches, schemas, first-use imports
        runtime_import(client, fresh.names["off"], warm)
        runtime_import(client, fresh.names["on"], warm)
        bare_import(fresh.bare, warm)
        print(f"import/export of {rows} rows, {rounds} interleaved rounds:", flush=True)
        ratios = interleaved({
            "import: runtime / insert_many": (lambda: runtime_import(client, fresh.names["off"], path, jobs),
                                              lambda: bare_import(fresh.bare, path)),
            "import: history on / off": (lambda: runtime_import(client, fresh.names["on"], path, jobs),
                                         lambda: runtime_import(client, fresh.names["again"], path, jobs)),
            "export: runtime / find + csv": (lambda: runtime_export(client, fresh.names["off"], jobs),
                                             lambda: bare_export(fresh.bare)),
        }, rounds, warmup=False, between=fresh.next)
        assert fresh.svc.records.collection(fresh.names["off"]).count_documents({}) == rows
    finally:
        os.unlink(path)
        os.unlink(warm)
    throughput = [1 / r for r in ratios["import: runtime / insert_many"]]
    print(f"  import throughput, runtime / insert_many: min {min(throughput):5.2f}x  "
          f"median {statistics.median(throughput):5.2f}x  (target >= 0.6x)")
    on_off = ratios["import: history on / off"]
    print(f"  import time, history on / off:            min {min(on_off):5.2f}x  "
          f"median {statistics.median(on_off):5.2f}x  (target <= 1.3x)", flush=True)


def memory(rows: int) -> None:
    """Against the MongoDB wire-protocol test server in another process, so what is traced here is the runtime's
    own memory (on the embedded store the stored upload, the new records and the id list live in this process)."""
    server = subprocess.Popen([sys.executable, "-m", "tests.support.mongo_wire_server", "--port", "0"],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert line.startswith("READY"), line
        os.environ["MONGODB_URI"] = f"mongodb://127.0.0.1:{line.split()[1]}/?directConnection=true"
        app, client = make_app()
        print("memory (tracemalloc; the store is the MongoDB wire test server in another process):")
        results = {}
        for size in (rows // 4, rows):
            results[size] = _traced_runs(app, client, size)
            (imp, exp) = results[size]
            print(f"  {size:>7} rows: import peak {mb(imp[0])} (left after {mb(imp[1])}); "
                  f"export peak {mb(exp[0])} (left after {mb(exp[1])})")
        small, big = results[rows // 4], results[rows]
        print(f"  growth of the peak for 4x the rows: import {big[0][0] / max(small[0][0], 1):.2f}x, "
              f"export {big[1][0] / max(small[1][0], 1):.2f}x (flat = about 1x)")
    finally:
        os.environ.pop("MONGODB_URI", None)
        server.terminate()
        server.wait(10)


def _traced_runs(app: Any, client: Any, size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(peak above start, left above start) of the import job of ``size`` rows (traced once the upload is
    stored, so the test client's copy of the request body is not counted), then of their export."""
    entity = f"benchMem{size}"
    define(client, entity)
    path = write_csv(size)
    dispatcher = app.extensions["runtime"].jobs.dispatcher
    out = []
    try:
        dispatcher.pause()
        with open(path, "rb") as f:
            job_id = client.call("POST", f"/data/{entity}/import", data={"file": (f, "rows.csv")},
                                 content_type="multipart/form-data")["jobId"]
        for start_job, finish in ((dispatcher.unpause, lambda: wait(client, job_id)),
                                  (lambda: None, lambda: runtime_export(client, entity))):
            tracemalloc.start()
            start = tracemalloc.get_traced_memory()[0]
            start_job()
            finish()
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out.append((peak - start, current - start))
    finally:
        dispatcher.unpause()
        os.unlink(path)
    return out[0], out[1]


def mb(n: int) -> str:
    return f"{n / 1_048_576:6.2f} MB"


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    if rows > 0:  # 0: only the memory part
        app, client = make_app()
        speed(app, client, rows, int(os.environ.get("BENCH_ROUNDS", 4)))
    if len(sys.argv) <= 2 or int(sys.argv[2]) > 0:
        memory(int(sys.argv[2]) if len(sys.argv) > 2 else rows // 2)


if __name__ == "__main__":
    main()
