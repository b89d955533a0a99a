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
import subprocess
import sys
import tempfile
import tracemalloc
from typing import Any

from bson import ObjectId

from bench.common import make_app, report, timed, wait_job

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


def define(client: Any, name: str) -> None:
    client.call("PUT", f"/metadata/entities/{name}", json={"name": name, "history": False, "fields": FIELDS})


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


def speed(app: Any, client: Any, rows: int) -> None:
    path = write_csv(rows)
    try:
        define(client, "benchRows")
        records = app.extensions["runtime"].records
        bare_col = app.extensions["runtime"].store.collection("bench.bare")
        import_s = timed(lambda: runtime_import(client, "benchRows", path))
        assert records.collection("benchRows").count_documents({}) == rows
        bare_import_s = timed(lambda: bare_import(bare_col, path))
        export_s = timed(lambda: runtime_export(client, "benchRows"))
        bare_export_s = timed(lambda: bare_export(bare_col))
    finally:
        os.unlink(path)
    report("import", rows, import_s, "csv + insert_many", bare_import_s, "rows")
    report("export", rows, export_s, "find + csv.writer", bare_export_s, "rows")


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
    speed(app, client, rows)
    memory(int(sys.argv[2]) if len(sys.argv) > 2 else rows // 2)


if __name__ == "__main__":
    main()
