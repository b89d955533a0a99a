"""Delete N records by query as a DELETE_RECORDS job vs the bare driver's ``delete_many`` in batches of the same
size, in interleaved rounds (the records are re-inserted, untimed, before each side).

    python -m bench.jobs_bench [--records 10000] [--batch 200] [--rounds 3]
    python -m bench.jobs_bench --records 100000            (100k records: several minutes on the embedded store)

Measured: 10,000 records x 3 rounds in 1 minute on 2 loaded CPUs.

Uses ``MONGODB_URI`` when set, else the embedded store. The entity has no history, so the job takes its batch
path (``delete_many`` per batch plus checkpoint/progress/results writes). Prints the time ratio job/driver
(min and median over the rounds; goal <= 1.25, i.e. throughput >= 0.8 of the driver's).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from bench.common import interleaved, load, make_app

ENTITY = {"name": "benchitems", "label": "Bench items", "history": False,
          "fields": [{"name": "name", "label": "Name", "type": "text"}, {"name": "n", "label": "N", "type": "integer"}]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["JOBS_BATCH_SIZE"] = str(args.batch)
    app, _ = make_app(examples=None, redis_url=None)
    svc = app.extensions["runtime"]
    config = svc.config
    svc.registry.save(ENTITY)
    entity = svc.registry.get(ENTITY["name"])
    col = svc.records.collection(entity)
    user = svc.auth.find_user("bench@example.com")

    def seed() -> None:
        col.delete_many({})
        for start in range(0, args.records, 10_000):
            batch = range(start, min(args.records, start + 10_000))
            col.insert_many([svc.records.build_new(entity, {"name": f"r{i}", "n": i}) for i in batch])

    def driver() -> None:
        after: Any = None
        while True:
            cond = {"n": {"$gte": 0}, **({"_id": {"$gt": after}} if after is not None else {})}
            batch = [d["_id"] for d in col.find(cond, {"_id": 1}).sort("_id", 1).limit(args.batch)]
            if not batch:
                break
            col.delete_many({"_id": {"$in": batch}})
            after = batch[-1]
        assert col.count_documents({}) == 0

    def job() -> None:
        doc = svc.jobs.submit("DELETE_RECORDS", "bench",
                              {"entityName": entity.name, "query": {"n": ["greaterOrEquals(0)"]}}, user)
        svc.jobs.dispatcher.wait_idle(24 * 3600)
        done = svc.jobs.repo.get(doc["_id"])
        assert done["status"] == "FINISHED" and done["recordsProcessed"] == args.records, done["status"]

    store = "MongoDB " + config.mongodb_uri if config.mongodb_uri else "embedded store"
    print(f"{args.records} records, batches of {args.batch}, {store}; {load()}")
    ratios = interleaved({"DELETE_RECORDS job / driver batches": (job, driver, seed)}, args.rounds, warmup=False)
    print(f"throughput job/driver: best {1 / min(ratios['DELETE_RECORDS job / driver batches']):.2f}; {load()}")
    if not config.mongodb_uri:
        svc.store.client.drop_database(config.mongodb_db)


if __name__ == "__main__":
    main()
