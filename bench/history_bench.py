"""Update throughput with history on vs off, through the runtime, in the same run.

    python -m bench.history_bench [updates]

Prints updates/s for both and the ratio (goal: history on costs at most 1.3x).
"""

from __future__ import annotations

import sys

from bench.common import make_app, timed

FIELDS = [{"name": "title", "type": "text"}, {"name": "count", "type": "integer"},
          {"name": "notes", "type": "longText"}]


def main() -> None:
    updates = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    app, client = make_app()
    results = {}
    for name, history in (("withHistory", True), ("withoutHistory", False)):
        client.call("PUT", f"/metadata/entities/{name}", json={"name": name, "history": history, "fields": FIELDS})
        ids = [client.call("POST", f"/data/{name}", json={"title": f"r{i}", "count": 0})["id"] for i in range(50)]

        def run(name: str = name, ids: list[str] = ids) -> None:
            for i in range(updates):
                client.call("PUT", f"/data/{name}/{ids[i % len(ids)]}", json={"count": i, "notes": f"n{i}"})
        results[name] = timed(run)
    on, off = results["withHistory"], results["withoutHistory"]
    print(f"updates:            {updates}")
    print(f"history off:        {updates / off:8.0f} updates/s")
    print(f"history on:         {updates / on:8.0f} updates/s")
    print(f"ratio on/off time:  {on / off:.2f}x   (goal <= 1.3x)")
    store = app.extensions["runtime"].store
    print(f"store:              {'embedded (mongomock-ng)' if store.embedded else 'MongoDB'}")


if __name__ == "__main__":
    main()
