"""Refactorings through the runtime vs the bare driver, in interleaved rounds.

    python -m bench.refactor_bench [records] [rounds]

* rename: ``PUT /metadata/entities/{name}`` renaming a field (a REFACTORING job, timed until FINISHED, every
  record rewritten through the record lifecycle with its metadata version) vs one ``update_many`` with
  ``$rename``;
* type conversion: text → decimal (and back in the next round) vs a bare loop that reads every record,
  converts the value in Python and writes it back with ``bulk_write`` in batches of 1,000.

Each round runs both sides of both cases; min and median of the rounds and the runtime/bare ratios are printed.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from bench.common import make_app, wait_job

ENTITY = "benchRefactor"


def definition(tax: str, rating_type: str) -> dict[str, Any]:
    return {"name": ENTITY, "history": False, "fields": [
        {"name": "title", "type": "text"}, {"name": tax, "type": "text"}, {"name": "rating", "type": rating_type}]}


def refactor(client: Any, body: dict[str, Any]) -> None:
    started = client.call("PUT", f"/metadata/entities/{ENTITY}", json=body)
    wait_job(client, started["refactoring"]["jobId"])


def bare_convert(col: Any, to_number: bool) -> None:
    ops: list[Any] = []
    for doc in col.find({}, {"rating": 1}):
        value = doc.get("rating")
        new = float(value) if to_number else f"{value:g}"
        ops.append(UpdateOne({"_id": doc["_id"]}, {"$set": {"rating": new}}))
        if len(ops) == 1000:
            col.bulk_write(ops, ordered=False)
            ops = []
    if ops:
        col.bulk_write(ops, ordered=False)


def clock(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    app, client = make_app(examples=None)
    client.call("PUT", f"/metadata/entities/{ENTITY}", json=definition("taxId", "text"))
    entity_col = app.extensions["runtime"].records.collection(ENTITY)
    entity_col.insert_many([{"_id": ObjectId(), "version": 0, "label": f"r{i}", "title": f"r{i}", "taxId": f"T{i}",
                             "rating": f"{i % 50}.5"} for i in range(n)])
    bare_col = app.extensions["runtime"].store.collection("bench_bare_refactor")
    bare_col.insert_many([{"_id": ObjectId(), "title": f"r{i}", "taxId": f"T{i}", "rating": f"{i % 50}.5"}
                          for i in range(n)])
    times: dict[str, list[float]] = {"rename": [], "rename bare": [], "convert": [], "convert bare": []}
    tax, rating = "taxId", "text"
    for r in range(rounds):
        new_tax = "taxNumber" if tax == "taxId" else "taxId"
        times["rename"].append(clock(lambda: refactor(client, definition(new_tax, rating))))  # noqa: B023
        times["rename bare"].append(clock(lambda: bare_col.update_many({}, {"$rename": {tax: new_tax}})))  # noqa: B023
        tax = new_tax
        new_rating = "decimal" if rating == "text" else "text"
        times["convert"].append(clock(lambda: refactor(client, definition(tax, new_rating))))  # noqa: B023
        times["convert bare"].append(clock(lambda: bare_convert(bare_col, new_rating == "decimal")))  # noqa: B023
        rating = new_rating
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    print(f"\n{n} records, {rounds} interleaved rounds (embedded store unless MONGODB_URI is set)")
    for case in ("rename", "convert"):
        rt, bare = times[case], times[f"{case} bare"]
        print(f"  {case:8} runtime min {min(rt):6.2f}s median {statistics.median(rt):6.2f}s | "
              f"bare min {min(bare):6.3f}s median {statistics.median(bare):6.3f}s | "
              f"ratio min {min(rt) / min(bare):6.1f}x median {statistics.median(rt) / statistics.median(bare):6.1f}x")


if __name__ == "__main__":
    main()
