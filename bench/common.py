"""Shared set-up for the benchmarks: an app on the embedded store (or MONGODB_URI), logged in."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Config
from runtime.app import bootstrap, create_app

EXAMPLES = str(Path(__file__).resolve().parent.parent / "examples" / "entities")


class Client:
    def __init__(self, app: Any, token: str):
        self.http = app.test_client()
        self.headers = {"token": token}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.open(f"/api{path}", method=method, headers=self.headers, **kwargs)
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response.get_json()


def make_app(examples: str | None = EXAMPLES, **config: Any) -> tuple[Any, Client]:
    """A fresh ``bench_*`` database, bootstrapped (with the sample app's entities unless ``examples=None``);
    ``config`` overrides settings (the app's ``Config`` is ``app.extensions["runtime"].config``)."""
    settings: dict[str, Any] = {"mongodb_uri": os.environ.get("MONGODB_URI") or None,
                                "mongodb_db": f"bench_{uuid.uuid4().hex[:8]}",
                                "admin_email": "bench@example.com", "admin_password": "bench-password", **config}
    app = create_app(Config.from_env(**settings))
    bootstrap(app, examples)
    client = app.test_client()
    token = client.post("/api/auth/login", json={"email": "bench@example.com", "password": "bench-password"}
                        ).get_json()["token"]
    return app, Client(app, token)


def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Best of ``repeat`` wall-clock runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def median_timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """One warm-up run (caches, schema, registry), then the median of ``repeat`` runs in seconds, and the
    last run's result."""
    fn()
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def wait_job(client: Client, job_id: str) -> dict[str, Any]:
    """Poll the job until it ends; it must have FINISHED. Returns its JSON."""
    while True:
        job = client.call("GET", f"/status/jobs/{job_id}")
        if job["status"] in ("FINISHED", "STOPPED", "CANCELED"):
            assert job["status"] == "FINISHED", job
            return job
        time.sleep(0.01)


def report(title: str, n: int, runtime_s: float, baseline: str, bare_s: float, unit: str = "records") -> None:
    """The runtime's time and rate against the baseline's, and their ratio."""
    print(f"{title}: {n} {unit}")
    print(f"  {'runtime (job):':22} {runtime_s:7.2f} s  {n / runtime_s:9.0f} {unit}/s")
    print(f"  {baseline + ':':22} {bare_s:7.2f} s  {n / bare_s:9.0f} {unit}/s")
    print(f"  ratio runtime/bare time: {runtime_s / bare_s:.1f}x")


Side = Callable[[], Any]


def interleaved(pairs: dict[str, tuple[Side, Side] | tuple[Side, Side, Side]], rounds: int,
                warmup: bool = True, clock: Callable[[], float] = time.perf_counter,
                between: Callable[[], Any] | None = None) -> dict[str, list[float]]:
    """Ratios measured fairly on a loaded machine: each round times every pair's two sides back to back, so a
    load spike moves both, the runtime side first in even rounds and the baseline first in odd ones (the side
    that runs second meets what the first left: a larger heap, warm caches); prints min and median per ratio.

    ``pairs`` maps a name to (runtime, baseline) callables, or (runtime, baseline, prepare) where
    ``prepare`` runs untimed before each side (e.g. re-seeding what the side consumes); returns the
    ratios per name. ``clock``: wall-clock time by default; ``time.process_time`` counts the CPU the process
    spent (all its threads), which other processes' load does not inflate. ``between`` runs untimed before the
    warm-up and before each round (fresh collections, clean-up)."""
    cpu: dict[str, list[float]] = {name: [] for name in pairs}  # the runtime side's CPU time (this process)

    def run(pair: tuple[Side, ...], side: int, name: str | None = None) -> float:
        if len(pair) > 2:
            pair[2]()
        start, start_cpu = clock(), time.process_time()
        pair[side]()
        if name is not None:
            cpu[name].append(time.process_time() - start_cpu)
        return clock() - start

    if warmup:
        if between is not None:
            between()
        for pair in pairs.values():
            run(pair, 0)
            run(pair, 1)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pairs}
    for round_number in range(rounds):
        if between is not None:
            between()
        for name, pair in pairs.items():
            times = {side: run(pair, side, name if side == 0 else None)
                     for side in ((0, 1) if round_number % 2 == 0 else (1, 0))}
            samples[name].append((times[0], times[1]))
    ratios: dict[str, list[float]] = {}
    for name, times in samples.items():
        ratios[name] = [r / b for r, b in times]
        runtime_med = statistics.median(r for r, _ in times)
        base_med = statistics.median(b for _, b in times)
        print(f"{name:34} runtime {runtime_med * 1000:9.1f} ms  baseline {base_med * 1000:9.1f} ms  "
              f"ratio min {min(ratios[name]):5.2f}x  median {statistics.median(ratios[name]):5.2f}x  "
              f"(runtime min {min(r for r, _ in times) * 1000:.1f} ms, CPU min {min(cpu[name]) * 1000:.1f} ms; "
              f"{rounds} rounds)", flush=True)
    return ratios


def load() -> str:
    """The machine's load averages, to print beside absolute times (others may be running too)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"
