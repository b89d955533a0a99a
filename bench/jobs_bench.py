"""Delete N records by query as a DELETE_RECORDS job vs the bare driver's ``delete_many`` in batches of the same size.

    python -m bench.jobs_bench [--records 100000] [--batch 200]

Uses ``MONGODB_URI`` when set (the meaningful setting), else the embedded mongomock store, where every query
scans the collection, so keep ``--records`` to a few thousand there. The entity has no history, so the job
takes its batch path (``delete_many`` per batch plus checkpoint/progress/results writes). Prints records/s for
both and the ratio job/driver (goal >= 0.8).
"""

from __future__ import annotations

import argparse
import os
import time

from bench.common import make_app

ENTITY = {"name": "benchitems", "label": "Bench items", "history": False,
          "fields": [{"name": "name", "label": "Name", "type": "text"}, {"name": "n", "label": "N", "type": "integer"}]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    os.environ["JOBS_BATCH_SIZE"] = str(args.batch)
    app, _ = make_app(examples=None, redis_url=None)
    svc = app.extensions["runtime"]
    config = svc.config
    svc.registry.save(ENTITY)
    entity = svc.registry.get(ENTITY["name"])
    col = svc.records.collection(entity)
    jobs = svc.jobs
    user = svc.auth.find_user("bench@example.com")

    def seed() -> None:
        for start in range(0, args.records, 10_000):
            count = min(10_000, args.records - start)
            batch = range(start, start + count)
            col.insert_many([svc.records.build_new(entity, {"name": f"r{i}", "n": i}) for i in batch])

    seed()
    started = time.perf_counter()
    after = None
    while True:
        cond = {"n": {"$gte": 0}, **({"_id": {"$gt": after}} if after is not None else {})}
        batch = [d["_id"] for d in col.find(cond, {"_id": 1}).sort("_id", 1).limit(args.batch)]
        if not batch:
            break
        col.delete_many({"_id": {"$in": batch}})
        after = batch[-1]
    driver = args.records / (time.perf_counter() - started)

    seed()
    started = time.perf_counter()
    doc = jobs.submit("DELETE_RECORDS", "bench", {"entityName": entity.name, "query": {"n": ["greaterOrEquals(0)"]}},
                      user)
    jobs.dispatcher.wait_idle(24 * 3600)
    elapsed = time.perf_counter() - started
    done = jobs.repo.get(doc["_id"])
    assert done["status"] == "FINISHED" and done["recordsProcessed"] == args.records, done["status"]
    job = args.records / elapsed
    store = "MongoDB " + config.mongodb_uri if config.mongodb_uri else "embedded mongomock store"
    print(f"{args.records} records, batches of {args.batch}, {store}")
    print(f"driver delete_many in batches: {driver:,.0f} records/s")
    print(f"DELETE_RECORDS job:            {job:,.0f} records/s")
    print(f"ratio job/driver: {job / driver:.2f}")
    if not config.mongodb_uri:
        svc.store.client.drop_database(config.mongodb_db)


if __name__ == "__main__":
    main()
