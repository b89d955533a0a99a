"""Refactorings through the runtime vs the bare driver, in interleaved rounds.

    python -m bench.refactor_bench [records] [rounds]       (default 2,000 records, 3 rounds)
    python -m bench.refactor_bench 100000 1                 (100k records, one round)

Measured on the embedded store (2 loaded CPUs): 2,000 records x 3 rounds in 45 s; the jobs are linear (about
2 ms per record and refactoring), so 100k records take about 7 minutes per round, hence one round.

* rename: ``PUT /metadata/entities/{name}`` renaming a field (a REFACTORING job, timed until FINISHED, every
  record rewritten through the record lifecycle with its metadata version) vs one ``update_many`` with
  ``$rename``;
* type conversion: text → decimal (and back in the next round) vs a bare loop that reads every record,
  converts the value in Python and writes it back with ``bulk_write`` in batches of 1,000.

Each round runs both sides of both cases (``bench.common.interleaved``); min and median ratios are printed.
"""

from __future__ import annotations

import sys
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from bench.common import interleaved, load, make_app, wait_job

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


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    app, client = make_app(examples=None)
    client.call("PUT", f"/metadata/entities/{ENTITY}", json=definition("taxId", "text"))
    entity_col = app.extensions["runtime"].records.collection(ENTITY)
    bare_col = app.extensions["runtime"].store.collection("bench_bare_refactor")
    for start in range(0, n, 10_000):
        batch = range(start, min(n, start + 10_000))
        entity_col.insert_many([{"_id": ObjectId(), "version": 0, "label": f"r{i}", "title": f"r{i}",
                                 "taxId": f"T{i}", "rating": f"{i % 50}.5"} for i in batch])
        bare_col.insert_many([{"_id": ObjectId(), "title": f"r{i}", "taxId": f"T{i}", "rating": f"{i % 50}.5"}
                              for i in batch])
    runtime = {"tax": "taxId", "rating": "text"}
    bare = {"tax": "taxId", "rating": "text"}

    def flip_tax(state: dict[str, str]) -> tuple[str, str]:
        old, state["tax"] = state["tax"], "taxNumber" if state["tax"] == "taxId" else "taxId"
        return old, state["tax"]

    def flip_rating(state: dict[str, str]) -> str:
        state["rating"] = "decimal" if state["rating"] == "text" else "text"
        return state["rating"]

    def rename() -> None:
        flip_tax(runtime)
        refactor(client, definition(runtime["tax"], runtime["rating"]))

    def rename_bare() -> None:
        old, new = flip_tax(bare)
        bare_col.update_many({}, {"$rename": {old: new}})

    def convert() -> None:
        flip_rating(runtime)
        refactor(client, definition(runtime["tax"], runtime["rating"]))

    def convert_bare() -> None:
        bare_convert(bare_col, flip_rating(bare) == "decimal")

    print(f"{n} records, {rounds} interleaved rounds (embedded store unless MONGODB_URI is set); {load()}")
    interleaved({"rename field, job / $rename": (rename, rename_bare),
                 "text -> decimal, job / bulk_write": (convert, convert_bare)}, rounds, warmup=False)
    print(load())


if __name__ == "__main__":
    main()
