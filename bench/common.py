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


def interleaved(pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]], rounds: int,
                warmup: bool = True, between: Callable[[], Any] | None = None) -> dict[str, list[float]]:
    """Ratios measured fairly on a loaded machine: each round times every pair's runtime side then its
    baseline side, back to back, so a load spike moves both; prints min and median per ratio.

    ``pairs`` maps a name to (runtime, baseline) callables; returns the ratios per name. ``between`` runs
    untimed before the warm-up and before each round (fresh collections, clean-up)."""
    if warmup:
        if between is not None:
            between()
        for runtime, baseline in pairs.values():
            runtime()
            baseline()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pairs}
    for _ in range(rounds):
        if between is not None:
            between()
        for name, (runtime, baseline) in pairs.items():
            start = time.perf_counter()
            runtime()
            middle = time.perf_counter()
            baseline()
            samples[name].append((middle - start, time.perf_counter() - middle))
    ratios: dict[str, list[float]] = {}
    for name, pairs_of_times in samples.items():
        ratios[name] = [r / b for r, b in pairs_of_times]
        runtime_med = statistics.median(r for r, _ in pairs_of_times)
        base_med = statistics.median(b for _, b in pairs_of_times)
        print(f"{name:34} runtime {runtime_med * 1000:9.1f} ms  baseline {base_med * 1000:9.1f} ms  "
              f"ratio min {min(ratios[name]):5.2f}x  median {statistics.median(ratios[name]):5.2f}x  "
              f"({rounds} rounds)", flush=True)
    return ratios
