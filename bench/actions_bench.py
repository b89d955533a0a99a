"""A declarative update action over many records through the runtime vs the bare driver.

    python -m bench.actions_bench [records]

The runtime path is ``PUT /data/{entity}/{action}?_async=true`` (an EXECUTE_ACTION job, timed until
FINISHED). Without history the action is set-based, and the baseline is one ``update_many``; with
history every record is written (and audited) on its own, and the baseline is one ``update_one`` per
record.
"""

from __future__ import annotations

import sys
from typing import Any

from bson import ObjectId

from bench.common import make_app, report, timed, wait_job

DEFINITION = {"name": "benchActions", "history": False,
              "fields": [{"name": "title", "type": "text"}, {"name": "flag", "type": "boolean"}],
              "actions": [{"name": "raise", "type": "manyRecords", "update": {"flag": True}},
                          {"name": "lower", "type": "manyRecords", "update": {"flag": False}}]}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    app, client = make_app()
    set_based(app, client, n)
    per_record(app, client, max(1, n // 10))


def seed(app: Any, client: Any, definition: dict[str, Any], n: int) -> Any:
    client.call("PUT", f"/metadata/entities/{definition['name']}", json=definition)
    col = app.extensions["runtime"].records.collection(definition["name"])
    col.insert_many([{"_id": ObjectId(), "version": 0, "label": f"r{i}", "title": f"r{i}", "flag": False}
                     for i in range(n)])
    return col


def run_job(client: Any, entity: str, action: str) -> None:
    wait_job(client, client.call("PUT", f"/data/{entity}/{action}?_async=true")["jobId"])


def set_based(app: Any, client: Any, n: int) -> None:
    col = seed(app, client, DEFINITION, n)

    runtime_s = timed(lambda: run_job(client, "benchActions", "raise"))
    assert col.count_documents({"flag": True}) == n
    bare_s = timed(lambda: col.update_many({}, {"$set": {"flag": False}, "$inc": {"version": 1}}))
    assert col.count_documents({"flag": False}) == n
    report("history off (set-based)", n, runtime_s, "bare update_many", bare_s)


def per_record(app: Any, client: Any, n: int) -> None:
    col = seed(app, client, {**DEFINITION, "name": "benchActionsHistory", "history": True}, n)
    runtime_s = timed(lambda: run_job(client, "benchActionsHistory", "raise"))
    assert col.count_documents({"flag": True}) == n
    ids = [d["_id"] for d in col.find({}, {"_id": 1})]

    def bare() -> None:
        for oid in ids:
            col.update_one({"_id": oid}, {"$set": {"flag": False}, "$inc": {"version": 1}})
    bare_s = timed(bare)
    report("history on (per record)", n, runtime_s, "bare update_one loop", bare_s)


if __name__ == "__main__":
    main()
