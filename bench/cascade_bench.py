"""A label cascade through N referencing records vs a bare ``update_many``, in interleaved rounds.

    python -m bench.cascade_bench [records] [rounds]      (default 10,000 records, 3 rounds)
    python -m bench.cascade_bench 100000 1                (100k records, one round)

Measured on the embedded store (2 CPUs): 10k records x 3 rounds in under a minute; the cascade is linear
(about 0.5 ms per record, history entry included), so 100k records take about a minute per runtime round.

The runtime path: ``PUT /data/firms/{id}`` renames the referenced record; the CASCADE_UPDATE job it starts
rewrites every referencing record through the record lifecycle (compare-and-set, history
``SYSTEM_CASCADE_UPDATE``), timed until FINISHED. The baseline: one ``update_many`` setting ``firm.label`` where
``firm.id`` matches, on a copy of the same records, without history. Prints min and median ratios.
"""

from __future__ import annotations

import itertools
import sys

from bson import ObjectId

from bench.common import interleaved, load, make_app, wait_job

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
    people, bare = store.collection("data.people"), store.collection("bench_bare_people")
    for start in range(0, n, 10_000):
        rows = [{"_id": ObjectId(), "version": 0, "label": f"p{i}", "name": f"p{i}",
                 "firm": {"id": fid, "label": "Firm 0"}} for i in range(start, min(n, start + 10_000))]
        people.insert_many(rows)
        bare.insert_many([dict(r) for r in rows])
    names = (f"Firm {r}" for r in itertools.count(1))
    last = {"runtime": "Firm 0"}

    def cascade() -> None:
        last["runtime"] = next(names)
        client.call("PUT", f"/data/firms/{firm['id']}", json={"name": last["runtime"]})
        jobs = client.call("GET", "/status/jobs?type=CASCADE_UPDATE&_size=1")["items"]
        wait_job(client, jobs[0]["id"])

    def bare_update() -> None:
        bare.update_many({"firm.id": fid}, {"$set": {"firm.label": last["runtime"]}, "$inc": {"version": 1}})

    print(f"{n} referencing records (history on), {rounds} interleaved rounds; {load()}")
    interleaved({"cascade job / bare update_many": (cascade, bare_update)}, rounds, warmup=False)
    assert client.call("GET", f"/data/people?firm.label={last['runtime']}&_size=0")["total"] == n
    print(load())


if __name__ == "__main__":
    main()
