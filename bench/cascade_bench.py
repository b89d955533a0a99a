"""A label cascade through N referencing records vs a bare ``update_many``.

    python -m bench.cascade_bench [records] [rounds]      (default 10,000 records, 3 rounds)

The runtime path: ``PUT /data/firms/{id}`` renames the referenced record; the CASCADE_UPDATE job it starts
rewrites every referencing record through the record lifecycle (compare-and-set, history
``SYSTEM_CASCADE_UPDATE``), timed until FINISHED. The baseline: one ``update_many`` setting ``firm.label`` where
``firm.id`` matches, on a copy of the same records, without history.
"""

from __future__ import annotations

import statistics
import sys
import time

from bson import ObjectId

from bench.common import make_app, wait_job

FIRMS = {"name": "firms", "recordLabel": "#{name}", "history": False, "fields": [{"name": "name", "type": "text"}]}
PEOPLE = {"name": "people", "recordLabel": "#{name}", "history": True, "fields": [
    {"name": "name", "type": "text"}, {"name": "firm", "type": "relationship", "typeRules": {"entity": "firms"}}]}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    app, client = make_app(examples=None)
    client.call("PUT", "/metadata/entities/firms", json=FIRMS)
    client.call("PUT", "/metadata/entities/people", json=PEOPLE)
    firm = client.call("POST", "/data/firms", json={"name": "Firm 0"})
    fid = ObjectId(firm["id"])
    store = app.extensions["runtime"].store
    rows = [{"_id": ObjectId(), "version": 0, "label": f"p{i}", "name": f"p{i}", "firm": {"id": fid, "label": "Firm 0"}}
            for i in range(n)]
    store.collection("data.people").insert_many(rows)
    bare = store.collection("bench_bare_people")
    bare.insert_many([dict(r) for r in rows])
    runtime_s: list[float] = []
    bare_s: list[float] = []
    for r in range(1, rounds + 1):
        start = time.perf_counter()
        client.call("PUT", f"/data/firms/{firm['id']}", json={"name": f"Firm {r}"})
        jobs = client.call("GET", "/status/jobs?type=CASCADE_UPDATE&_size=1")["items"]
        wait_job(client, jobs[0]["id"])
        runtime_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare.update_many({"firm.id": fid}, {"$set": {"firm.label": f"Firm {r}"}, "$inc": {"version": 1}})
        bare_s.append(time.perf_counter() - start)
        print(f"round {r}: cascade {runtime_s[-1]:.2f}s, bare {bare_s[-1]:.3f}s", flush=True)
    assert client.call("GET", f"/data/people?firm.label=Firm {rounds}&_size=0")["total"] == n
    print(f"\n{n} referencing records, {rounds} interleaved rounds")
    print(f"  cascade min {min(runtime_s):.2f}s median {statistics.median(runtime_s):.2f}s | bare min "
          f"{min(bare_s):.3f}s median {statistics.median(bare_s):.3f}s | ratio min {min(runtime_s) / min(bare_s):.1f}x"
          f" median {statistics.median(runtime_s) / statistics.median(bare_s):.1f}x")


if __name__ == "__main__":
    main()
