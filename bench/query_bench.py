"""Query benchmark: a filtered, sorted page of 20 out of 100k records, runtime end to end vs the bare driver.

    python -m bench.query_bench                  # 100k records, 5 interleaved rounds, embedded store: ~1 minute
    BENCH_RECORDS=10000 BENCH_ROUNDS=9 python -m bench.query_bench
    MONGODB_URI=mongodb://... python -m bench.query_bench

The records are inserted with the driver's ``insert_many`` in the stored format (not through the API).
The runtime side goes through the Flask test client (routing, auth, parsing, find + count, rendering);
the driver side runs the same ``find`` (sort, limit) and ``count_documents`` on the same store. The target
at 100k records on the embedded store is a runtime page in <= 0.3 s (the "runtime" time printed).
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from bson import ObjectId

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import interleaved, load, make_app  # noqa: E402
from core.storage import drop_embedded  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", 100_000))
REPEATS = int(os.environ.get("BENCH_ROUNDS", 5))
ENTITY = {"name": "benchItems", "label": "Bench items", "recordLabel": "#{code}",
          "fields": [{"name": "code", "type": "text", "unique": True},
                     {"name": "n", "type": "integer", "indexable": True},
                     {"name": "kind", "type": "choice", "typeRules": {"possibleValues": ["a", "b", "c", "d"]}},
                     {"name": "price", "type": "decimal"},
                     {"name": "note", "type": "text"}]}
QUERY = "kind=b&n=between(1000,4000)&_sortField=n&_sortType=asc&_size=20"
BARE_FILTER = {"$and": [{"kind": "b"}, {"n": {"$gte": 1000, "$lte": 4000}}]}
BARE_SORT = [("n", 1), ("_id", 1)]


def main() -> None:
    app, client = make_app(examples=None, redis_url=None)
    svc = app.extensions["runtime"]
    uri, db_name, store = svc.config.mongodb_uri, svc.config.mongodb_db, svc.store
    col = store.collection("data.benchItems")
    try:
        rng = random.Random(1)
        start = time.perf_counter()
        for batch in range(0, RECORDS, 10_000):
            col.insert_many([{"_id": ObjectId(), "version": 1, "label": f"item-{i:06d}", "code": f"item-{i:06d}",
                              "n": rng.randrange(10_000), "kind": rng.choice("abcd"),
                              "price": round(rng.random() * 1000, 2), "note": "lorem ipsum " * 4}
                             for i in range(batch, min(batch + 10_000, RECORDS))])
        # the entity (and so its indexes) comes after the data: the embedded store checks a unique index
        # by scanning the collection on every insert, which would make this quadratic
        client.call("POST", "/metadata/entities", json=ENTITY)
        print(f"store: {'MongoDB at ' + uri if uri else 'embedded (mongomock-ng)'}; "
              f"inserted {RECORDS} records and indexed them in {time.perf_counter() - start:.1f}s")

        def runtime_page() -> dict[str, Any]:
            return client.call("GET", f"/data/benchItems?{QUERY}")

        def bare_page() -> tuple[list[dict[str, Any]], int]:
            docs = list(col.find(BARE_FILTER, max_time_ms=60_000).sort(BARE_SORT).limit(20))
            return docs, col.count_documents(BARE_FILTER)

        body, (docs, total) = runtime_page(), bare_page()
        assert body["total"] == total and [i["id"] for i in body["items"]] == [str(d["_id"]) for d in docs]
        print(f"query: GET /data/benchItems?{QUERY}  (total {total}, page {len(docs)}); {load()}")
        interleaved({"list page, runtime / find + count": (runtime_page, bare_page)}, REPEATS)
        print(load())
    finally:
        store.db.drop_collection("data.benchItems")
        if not uri:
            drop_embedded(db_name)


if __name__ == "__main__":
    main()
