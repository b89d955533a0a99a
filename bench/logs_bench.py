"""The cost of the automatic app logs on a write: PUT with logs vs without, in interleaved rounds.

    python -m bench.logs_bench [rounds] [puts_per_round]      (default 20 rounds of 150 PUTs: about a minute)

Two apps in one process: one as configured by default (``APP_LOGS_REQUESTS=writes``: a request line and a
record-change message per PUT), one whose log queue drops everything. Each round times the PUTs with logs, then
without (``bench.common.interleaved``); the queued logs are written untimed before each side (the background
writer's work). Each round's ratio is (time with logs) / (time without); goal: median <= 1.05. The cost is per
request, not per stored record, so the collection size does not matter (no 100k variant needed).
"""

from __future__ import annotations

import sys
from typing import Any

from bench.common import interleaved, load, make_app


def _puts(client: Any, ids: list[str], n: int, offset: int) -> None:
    for i in range(n):
        client.call("PUT", f"/data/companies/{ids[i % len(ids)]}", json={"numberOfEmployees": offset + i})


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    sides, flushes = [], []
    for name in ("logs", "none"):
        app, client = make_app()
        logs = app.extensions["runtime"].app_logs
        if name == "none":
            logs.defer = lambda make: None
            logs.log = lambda *args, **kwargs: None
        ids = [client.call("POST", "/data/companies", json={"name": f"{name} {i}"})["id"] for i in range(20)]
        offset = iter(range(0, 10**9, per_round))
        sides.append(lambda client=client, ids=ids, offset=offset: _puts(client, ids, per_round, next(offset)))
        flushes.append(logs.flush)
    written = flushes[0].__self__

    def flush() -> None:
        for f in flushes:
            f()

    print(f"PUTs: {rounds} rounds x {per_round}, interleaved; {load()}")
    interleaved({f"{per_round} PUTs, with logs / without": (sides[0], sides[1], flush)}, rounds)
    print(f"{written.col.estimated_document_count()} app logs written; {load()}")


if __name__ == "__main__":
    main()
