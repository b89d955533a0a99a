"""Aggregate overhead: a group-by over 100k contacts through the runtime vs the bare driver.

The runtime side is end to end (Flask test client → ``PUT /api/data/contacts/aggregate`` → validation,
translation, one ``aggregate`` call, rendering). The driver side sends the same Mongo pipeline with
``collection.aggregate(pipeline)``. Records are inserted in the stored format with the bare driver.

    python -m bench.aggregate_bench [--records 100000] [--repeat 3]     (100k: about a minute, embedded store)

Uses the embedded store unless ``MONGODB_URI`` is set. Runtime and driver rounds are interleaved
(``bench.common.interleaved``); min and median ratios are printed. Goals: runtime ≤ 1.1× the driver, and at
100k records on the embedded store the runtime's group-by in ≤ 5 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from bson import ObjectId

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import interleaved, load, make_app  # noqa: E402
from core.storage import drop_embedded  # noqa: E402
from entities.aggregate.parse import normalize  # noqa: E402
from entities.aggregate.pipeline import build  # noqa: E402

BODY = [{"project": "company,numberOfSkills"}, {"group": {"by": "company", "totalSkills": "sum(numberOfSkills)"}}]
COMPANIES = 100


def seed(db: Any, records: int) -> None:
    """Companies and contacts in the stored format, straight through the driver."""
    rng = random.Random(7)
    companies = [{"_id": ObjectId(), "version": 0, "label": f"Company {i}", "name": f"Company {i}",
                  "state": "active", "numberOfEmployees": rng.randint(1, 500), "isCustomer": i % 2 == 0}
                 for i in range(COMPANIES)]
    db["data.companies"].insert_many(companies)
    batch: list[dict[str, Any]] = []
    for i in range(records):
        c = companies[i % COMPANIES]
        first, last = f"First{i}", f"Last{i % 997}"
        batch.append({"_id": ObjectId(), "version": 0, "label": f"{first} {last}", "firstName": first,
                      "lastName": last, "email": f"c{i}@example.com",
                      "company": {"id": c["_id"], "label": c["label"]}, "numberOfSkills": rng.randint(0, 10),
                      "fullName": f"{first} {last}"})
        if len(batch) == 10000:
            db["data.contacts"].insert_many(batch)
            batch = []
    if batch:
        db["data.contacts"].insert_many(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="'maxTimeMS' is accepted")

    app, client = make_app(aggregate_max_results=max(10_000, COMPANIES))
    svc = app.extensions["runtime"]
    config = svc.config
    db = svc.store.db
    print(f"store: {'embedded (mongomock-ng)' if svc.store.embedded else config.mongodb_uri}; "
          f"records: {args.records}; repeat: {args.repeat} (median)")
    try:
        if svc.store.embedded:
            # mongomock-ng checks unique indexes by scanning (quadratic inserts); the pipeline uses no index.
            db["data.contacts"].drop_indexes()
        start = time.perf_counter()
        seed(db, args.records)
        print(f"seeded in {time.perf_counter() - start:.1f} s")

        def through_runtime() -> Any:
            return client.call("PUT", "/data/contacts/aggregate", json=BODY)

        with app.test_request_context():
            pipeline, _ = build(svc.registry.get("contacts"), normalize(BODY), svc.registry.all().get)
        raw_collection = db["data.contacts"]  # the bare driver collection, no runtime wrapper

        def through_driver() -> Any:
            return list(raw_collection.aggregate(pipeline))

        result, rows = through_runtime(), through_driver()
        assert result["total"] == len(rows) == COMPANIES, (result["total"], len(rows))
        assert sum(r["totalSkills"] for r in result["items"]) == sum(r["totalSkills"] for r in rows)
        print(f"pipeline: {pipeline}; {load()}")
        interleaved({"group-by, runtime / bare driver": (through_runtime, through_driver)}, args.repeat,
                    warmup=False)
        print(load())
    finally:
        if svc.store.embedded:
            drop_embedded(config.mongodb_db)
        else:
            svc.store.client.drop_database(config.mongodb_db)


if __name__ == "__main__":
    main()
