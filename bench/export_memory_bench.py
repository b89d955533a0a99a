"""A large CSV export: how long it takes, and that its memory does not grow with the rows.

    python -m bench.export_memory_bench [records]        # default 100000; also runs a quarter of it

The store is the MongoDB wire test server in another process (on the embedded store the records, their
indexes and the stored CSV file live in this process and would be traced too). The records are stored
directly (``insert_many``, as a bare driver would), then ``PUT /data/{entity}/export`` runs the EXPORT_RECORDS
job to the end. ``tracemalloc`` starts after the records are stored, so its peak is what the export itself holds
at once (the batch it is writing, the spooled CSV's buffers). Flat: the peak for all the records is about the
peak for a quarter of them.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bson import ObjectId

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import load, make_app, wait_job  # noqa: E402

FIELDS = [{"name": "code", "type": "text"}, {"name": "n", "type": "integer"}, {"name": "price", "type": "decimal"},
          {"name": "kind", "type": "choice", "typeRules": {"possibleValues": ["a", "b", "c"]}},
          {"name": "note", "type": "text"}]


def seed(client: Any, col: Any, entity: str, records: int) -> None:
    client.call("PUT", f"/metadata/entities/{entity}", json={"name": entity, "recordLabel": "#{code}",
                                                             "fields": FIELDS})
    rng = random.Random(7)
    for start in range(0, records, 10_000):
        col.insert_many([{"_id": ObjectId(), "version": 1, "label": f"r{i}", "code": f"r{i}",
                          "n": rng.randrange(10_000), "price": 2.5, "kind": "abc"[i % 3], "note": "x" * 40}
                         for i in range(start, min(start + 10_000, records))])


def traced_export(client: Any, entity: str) -> tuple[float, int, int]:
    """(seconds, traced peak, rows written) of one export job, from the request until it is FINISHED."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    job = wait_job(client, client.call("PUT", f"/data/{entity}/export")["jobId"])
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return elapsed, peak, int((job.get("result") or {}).get("recordsExported") or job.get("progress") or 0)


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    server = subprocess.Popen([sys.executable, "-m", "tests.support.mongo_wire_server", "--port", "0"],
                              stdout=subprocess.PIPE, text=True, start_new_session=True, cwd=ROOT)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert line.startswith("READY"), line
        os.environ["MONGODB_URI"] = f"mongodb://127.0.0.1:{line.split()[1]}/?directConnection=true"
        run(records)
    finally:
        server.terminate()
        server.wait(10)


def run(records: int) -> None:
    app, client = make_app(examples=None, redis_url=None, query_max_time_ms=600_000)
    svc = app.extensions["runtime"]
    print(load(), flush=True)
    peaks = {}
    for size in (records // 4, records):
        entity = f"export{size}"
        seed(client, svc.store.collection(f"data.{entity}"), entity, size)
        elapsed, peak, _ = traced_export(client, entity)
        peaks[size] = peak
        print(f"{size:>7} records: export job {elapsed:6.1f} s (under tracemalloc), peak {peak / 1_048_576:6.2f} MB",
              flush=True)
    small, big = peaks[records // 4], peaks[records]
    print(f"peak for 4x the records: {big / max(small, 1):.2f}x (flat = about 1x); {load()}")


if __name__ == "__main__":
    main()
