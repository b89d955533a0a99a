"""CRUD benchmark: GET and PUT one record through the runtime vs a bare Flask handler on the same store.

    python -m bench.crud_bench [--records 100000] [--rounds 7] [--requests 200]
    MONGODB_URI=mongodb://... python -m bench.crud_bench

Both sides go through a Flask test client and the same collection. The bare handlers do the least a
correct API does: GET = ``find_one`` by id + JSON; PUT = read, compare-and-set ``replace_one`` on
``version``, JSON. The runtime adds auth, metadata, validation, labels, rendering (and, for the history
ratio, the history entry). Rounds interleave runtime and baseline; min and median of each ratio are printed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

from bson import ObjectId

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import interleaved, make_app  # noqa: E402
from core.storage import drop_embedded  # noqa: E402

FIELDS = [{"name": "code", "type": "text", "unique": True},
          {"name": "n", "type": "integer", "indexable": True},
          {"name": "kind", "type": "choice", "typeRules": {"possibleValues": ["a", "b", "c", "d"]}},
          {"name": "price", "type": "decimal"},
          {"name": "note", "type": "text"}]


def bare_app(col: Any) -> Any:
    """The baseline: a Flask app with two handlers on the same collection."""
    from flask import Flask, jsonify, request

    bare = Flask("bare")

    def out(doc: dict[str, Any]) -> dict[str, Any]:
        doc = dict(doc)
        doc["id"] = str(doc.pop("_id"))
        return doc

    @bare.get("/records/<record_id>")
    def one(record_id: str):
        doc = col.find_one({"_id": ObjectId(record_id)}, {"_hist": 0})
        return (jsonify(out(doc)), 200) if doc else (jsonify({"message": "not found"}), 404)

    @bare.put("/records/<record_id>")
    def put(record_id: str):
        oid = ObjectId(record_id)
        body = request.get_json()
        current = col.find_one({"_id": oid})
        doc = {**current, **{k: v for k, v in body.items() if k in ("n", "note", "kind", "price")}}
        doc["version"] = current["version"] + 1
        if col.replace_one({"_id": oid, "version": current["version"]}, doc).matched_count != 1:
            return jsonify({"message": "conflict"}), 409
        return jsonify(out(doc))

    return bare.test_client()


def seed(col: Any, records: int) -> list[ObjectId]:
    rng = random.Random(3)
    ids = []
    for start in range(0, records, 10_000):
        batch = []
        for i in range(start, min(start + 10_000, records)):
            oid = ObjectId()
            ids.append(oid)
            batch.append({"_id": oid, "version": 1, "label": f"item-{i:06d}", "code": f"item-{i:06d}",
                          "n": rng.randrange(10_000), "kind": rng.choice("abcd"), "price": 1.5, "note": "x" * 40})
        col.insert_many(batch)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200, help="requests per side per round")
    parser.add_argument("--cpu", action="store_true",
                        help="time with the process's CPU clock (all threads) instead of the wall clock: "
                             "other processes' load then moves neither side")
    args = parser.parse_args()
    app, client = make_app(examples=None, redis_url=None)
    svc = app.extensions["runtime"]
    try:
        start = time.perf_counter()
        ids = {}
        for entity, history in (("plain", False), ("logged", True)):
            col = svc.store.collection(f"data.{entity}")
            ids[entity] = seed(col, args.records)
            # the entity (and its indexes) after the data: mongomock checks a unique index by scanning per insert
            client.call("POST", "/metadata/entities", json={"name": entity, "label": entity, "history": history,
                                                            "recordLabel": "#{code}", "fields": FIELDS})
        print(f"store: {'embedded (mongomock-ng)' if svc.store.embedded else svc.config.mongodb_uri}; "
              f"{args.records} records per entity, seeded in {time.perf_counter() - start:.1f} s", flush=True)
        bare = bare_app(svc.store.collection("data.plain"))
        rng = random.Random(5)
        picks = {e: [str(rng.choice(ids[e])) for _ in range(args.requests)] for e in ids}
        counter = iter(range(10**9))

        def runtime_get() -> None:  # like the bare side: the status is checked, the body not parsed
            for rid in picks["plain"]:
                assert client.http.get(f"/api/data/plain/{rid}", headers=client.headers).status_code == 200

        def bare_get() -> None:
            for rid in picks["plain"]:
                assert bare.get(f"/records/{rid}").status_code == 200

        def runtime_put(entity: str = "plain") -> None:
            for rid in picks[entity]:
                assert client.http.put(f"/api/data/{entity}/{rid}", headers=client.headers,
                                       json={"n": next(counter), "note": "y" * 40}).status_code == 200
            svc.history.publisher.flush()  # the history entries' publication is part of the round, not the next

        def bare_put() -> None:
            for rid in picks["plain"]:
                assert bare.put(f"/records/{rid}", json={"n": next(counter), "note": "y" * 40}).status_code == 200

        interleaved({"GET one (runtime / bare Flask)": (runtime_get, bare_get),
                     "PUT one (runtime / bare Flask)": (runtime_put, bare_put),
                     "PUT one, history on / off": (lambda: runtime_put("logged"), runtime_put)}, args.rounds,
                    clock=time.process_time if args.cpu else time.perf_counter)
    finally:
        if svc.store.embedded:
            drop_embedded(svc.config.mongodb_db)
        else:
            svc.store.client.drop_database(svc.config.mongodb_db)


if __name__ == "__main__":
    main()
