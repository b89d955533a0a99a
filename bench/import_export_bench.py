"""CSV import and export through the runtime vs the bare driver, plus their memory profile.

    python -m bench.import_export_bench [rows] [memory rows]

Runtime: ``POST /data/{entity}/import`` (an IMPORT_RECORDS job: every row validated and created through
the records service) and ``PUT /data/{entity}/export`` (an EXPORT_RECORDS job writing the CSV to the file
store), each timed from the request until the job is FINISHED. Baselines in the same run: parse the same
CSV with ``csv`` and ``insert_many`` it; ``find()`` every record and write it with ``csv.writer``.

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

from bench.common import make_app, timed, wait_job

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


def wait(client: Any, job_id: str) -> dict[str, Any]:
    job = wait_job(client, job_id)
    assert not job["hasErrors"], job
    return job


def runtime_import(client: Any, entity: str, path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        job = client.call("POST", f"/data/{entity}/import", data={"file": (f, "rows.csv")},
                          content_type="multipart/form-data")
    return wait(client, job["jobId"])


def runtime_export(client: Any, entity: str) -> dict[str, Any]:
    return wait(client, client.call("PUT", f"/data/{entity}/export?_useFieldNames=true")["jobId"])


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


def speed(app: Any, client: Any, rows: int, rounds: int = 3) -> None:
    """Interleaved rounds, each on fresh collections: runtime import (history off, then on) and the bare
    ``insert_many`` of the same rows; runtime export and a bare ``find`` + ``csv.writer``."""
    path = write_csv(rows)
    records = app.extensions["runtime"].records
    times: dict[str, list[float]] = {k: [] for k in ("import", "import_history", "bare_import", "export",
                                                      "bare_export")}
    try:
        for i in range(rounds):
            define(client, f"benchRows{i}")
            define(client, f"benchRowsH{i}", history=True)
            bare_col = app.extensions["runtime"].store.collection(f"bench.bare{i}")
            times["import"].append(timed(lambda i=i: runtime_import(client, f"benchRows{i}", path)))
            times["bare_import"].append(timed(lambda c=bare_col: bare_import(c, path)))
            times["import_history"].append(timed(lambda i=i: runtime_import(client, f"benchRowsH{i}", path)))
            assert records.collection(f"benchRows{i}").count_documents({}) == rows
            times["export"].append(timed(lambda i=i: runtime_export(client, f"benchRows{i}")))
            times["bare_export"].append(timed(lambda c=bare_col: bare_export(c)))
    finally:
        os.unlink(path)
    med = statistics.median
    print(f"import/export of {rows} rows, {rounds} interleaved rounds (median times; ratios min / median):")
    for name in times:
        print(f"  {name:15} {med(times[name]):7.2f} s  {rows / med(times[name]):9.0f} rows/s")
    for title, num, den in (("import throughput, runtime / insert_many", "bare_import", "import"),
                            ("import time, history on / off", "import_history", "import"),
                            ("export time, runtime / find + csv", "export", "bare_export")):
        ratios = [a / b for a, b in zip(times[num], times[den], strict=True)]
        print(f"  {title:42} min {min(ratios):5.2f}x  median {med(ratios):5.2f}x")


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
    app, client = make_app()
    speed(app, client, rows, int(os.environ.get("BENCH_ROUNDS", 3)))
    if len(sys.argv) <= 2 or int(sys.argv[2]) > 0:
        memory(int(sys.argv[2]) if len(sys.argv) > 2 else rows // 2)


if __name__ == "__main__":
    main()
