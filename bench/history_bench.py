"""Update throughput with history on vs off, through the runtime, in interleaved rounds of one process.

    python -m bench.history_bench [updates per round] [rounds]

Each round times ``updates`` PUTs on an entity with history, publishes what they queued (the history
publisher's batches are part of their cost, not spilled into the next round), then the same PUTs on an
entity without history; prints min and median of the ratio (goal: history on costs at most 1.15x), in wall
time and in process CPU time.
"""

from __future__ import annotations

import statistics
import sys
import time
from itertools import count

from bench.common import interleaved, make_app

FIELDS = [{"name": "title", "type": "text"}, {"name": "count", "type": "integer"},
          {"name": "notes", "type": "longText"}]


def main() -> None:
    updates = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    app, client = make_app()
    publisher = app.extensions["runtime"].history.publisher
    ids = {}
    for name, history in (("withHistory", True), ("withoutHistory", False)):
        client.call("PUT", f"/metadata/entities/{name}", json={"name": name, "history": history, "fields": FIELDS})
        ids[name] = [client.call("POST", f"/data/{name}", json={"title": f"r{i}", "count": 0})["id"]
                     for i in range(50)]
    counter = count()

    def run(name: str) -> None:
        for i in range(updates):
            n = next(counter)
            client.call("PUT", f"/data/{name}/{ids[name][i % 50]}", json={"count": n, "notes": f"n{n}"})
        publisher.flush()

    store = app.extensions["runtime"].store
    print(f"store: {'embedded (mongomock-ng)' if store.embedded else 'MongoDB'}; {updates} updates per round "
          f"over 50 records", flush=True)
    interleaved({"PUT, history on / off": (lambda: run("withHistory"), lambda: run("withoutHistory"))}, rounds)
    # Process CPU time (every thread, the publisher's included) moves far less with the load of other processes.
    ratios = []
    for _ in range(rounds):
        start = time.process_time()
        run("withHistory")
        middle = time.process_time()
        run("withoutHistory")
        ratios.append((middle - start) / (time.process_time() - middle))
    print(f"{'PUT, history on / off, CPU time':34} ratio min {min(ratios):5.2f}x  median "
          f"{statistics.median(ratios):5.2f}x  ({rounds} rounds)")


if __name__ == "__main__":
    main()
