"""A declarative update action over many records through the runtime vs the bare driver, in interleaved rounds.

    python -m bench.actions_bench [records] [rounds]        (default 10,000 records, 3 rounds)
    python -m bench.actions_bench 100000 3                  (100k records: about 7 minutes on the embedded store)

Measured: 10,000 records x 3 rounds in 40 s on 2 loaded CPUs (linear in the records).

The runtime path is ``PUT /data/{entity}/{action}?_async=true`` (an EXECUTE_ACTION job, timed until
FINISHED). Without history the action is set-based, and the baseline is one ``update_many``; with
history every record is written (and audited) on its own, and the baseline is one ``update_one`` per
record (over a tenth of the records). Each round times the runtime raising a flag on every record, then the
baseline lowering it again (the same amount of work); min and median ratios are printed.
"""

from __future__ import annotations

import sys
from typing import Any

from bson import ObjectId

from bench.common import interleaved, load, make_app, wait_job

DEFINITION = {"name": "benchActions", "history": False,
              "fields": [{"name": "title", "type": "text"}, {"name": "flag", "type": "boolean"}],
              "actions": [{"name": "raise", "type": "manyRecords", "update": {"flag": True}}]}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    app, client = make_app()
    per_record_n = max(1, n // 10)
    print(f"{n} records set-based, {per_record_n} per record with history; embedded store unless MONGODB_URI "
          f"is set; {load()}")
    interleaved({"set-based / update_many": set_based(app, client, n),
                 "history, per record / update_one loop": per_record(app, client, per_record_n)}, rounds,
                warmup=False)
    print(load())


def seed(app: Any, client: Any, definition: dict[str, Any], n: int) -> Any:
    client.call("PUT", f"/metadata/entities/{definition['name']}", json=definition)
    col = app.extensions["runtime"].records.collection(definition["name"])
    for start in range(0, n, 10_000):
        col.insert_many([{"_id": ObjectId(), "version": 0, "label": f"r{i}", "title": f"r{i}", "flag": False}
                         for i in range(start, min(n, start + 10_000))])
    return col


def run_job(client: Any, entity: str, action: str) -> None:
    wait_job(client, client.call("PUT", f"/data/{entity}/{action}?_async=true")["jobId"])


def set_based(app: Any, client: Any, n: int) -> tuple[Any, Any]:
    col = seed(app, client, DEFINITION, n)

    def runtime() -> None:
        run_job(client, "benchActions", "raise")
        assert col.count_documents({"flag": True}) == n

    def bare() -> None:
        col.update_many({}, {"$set": {"flag": False}, "$inc": {"version": 1}})
    return runtime, bare


def per_record(app: Any, client: Any, n: int) -> tuple[Any, Any]:
    col = seed(app, client, {**DEFINITION, "name": "benchActionsHistory", "history": True}, n)
    ids = [d["_id"] for d in col.find({}, {"_id": 1})]

    def runtime() -> None:
        run_job(client, "benchActionsHistory", "raise")
        assert col.count_documents({"flag": True}) == n

    def bare() -> None:
        for oid in ids:
            col.update_one({"_id": oid}, {"$set": {"flag": False}, "$inc": {"version": 1}})
    return runtime, bare


if __name__ == "__main__":
    main()
