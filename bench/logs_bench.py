"""The cost of the automatic app logs on a write: PUT with logs vs without, in interleaved rounds.

    python -m bench.logs_bench [rounds] [puts_per_round]

Two apps in one process: one as configured by default (``APP_LOGS_REQUESTS=writes``: a request line and a
record-change message per PUT), one whose log queue drops everything. Rounds alternate which app goes first;
each round's ratio is (time with logs) / (time without). The queued logs are written between rounds (the
background writer's work, reported apart as "with the flush"). Goal: median ratio <= 1.05.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from bench.common import make_app


def _puts(client: Any, ids: list[str], n: int, offset: int) -> tuple[float, float]:
    """(wall-clock, CPU time of this thread) of ``n`` PUTs: the CPU time leaves out other processes on a shared
    machine, and the background log writer (measured apart)."""
    start, cpu = time.perf_counter(), time.thread_time()
    for i in range(n):
        client.call("PUT", f"/data/companies/{ids[i % len(ids)]}", json={"numberOfEmployees": offset + i})
    return time.perf_counter() - start, time.thread_time() - cpu


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    apps = {}
    for name in ("logs", "none"):
        app, client = make_app()
        logs = app.extensions["runtime"].app_logs
        if name == "none":
            logs.defer = lambda make: None
            logs.log = lambda *args, **kwargs: None
        ids = [client.call("POST", "/data/companies", json={"name": f"{name} {i}"})["id"] for i in range(20)]
        _puts(client, ids, 50, 0)  # warm up
        logs.flush()
        apps[name] = (client, ids, logs)
    ratios, cpu_ratios, ratios_flush, times = [], [], [], {"logs": [], "none": []}
    for r in range(rounds):
        spent, cpu = {}, {}
        flushed = 0.0
        for name in (("logs", "none") if r % 2 == 0 else ("none", "logs")):
            client, ids, logs = apps[name]
            spent[name], cpu[name] = _puts(client, ids, per_round, r * per_round)
            start = time.perf_counter()
            logs.flush()
            if name == "logs":
                flushed = time.perf_counter() - start
            times[name].append(spent[name])
        ratios.append(spent["logs"] / spent["none"])
        cpu_ratios.append(cpu["logs"] / cpu["none"])
        ratios_flush.append((spent["logs"] + flushed) / spent["none"])
    written = apps["logs"][2].col.estimated_document_count()
    print(f"PUTs: {rounds} rounds x {per_round}, interleaved; {written} app logs written")
    print(f"  without logs: median {statistics.median(times['none']) / per_round * 1e3:.3f} ms/PUT")
    print(f"  with logs:    median {statistics.median(times['logs']) / per_round * 1e3:.3f} ms/PUT")
    print(f"  ratio with/without (request path): min {min(ratios):.3f}  median {statistics.median(ratios):.3f}"
          f"   (goal <= 1.05)")
    print(f"  ratio of the median times: {statistics.median(times['logs']) / statistics.median(times['none']):.3f}")
    print(f"  ratio of the request thread's CPU time: min {min(cpu_ratios):.3f}  median "
          f"{statistics.median(cpu_ratios):.3f}")
    print(f"  ratio with the background flush included: min {min(ratios_flush):.3f}  "
          f"median {statistics.median(ratios_flush):.3f}")


if __name__ == "__main__":
    main()
