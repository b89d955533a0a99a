"""HTTP throughput and latency of the runtime under gunicorn, against a bare Flask + pymongo app (same run).

    python -m bench.http_bench [--records 1000] [--seconds 3] [--threads 4] [--rounds 3]
    python -m bench.http_bench --records 100000            (100k records: a few minutes, mostly the seeding)

Both apps run under gunicorn with 2 sync workers on the same MongoDB wire test server and database: the runtime
is the Procfile's ``web`` line (with a ``runtime worker`` not needed here), the baseline is ``bench/bare_app.py``.
The load comes from a second process (threads, one connection per request, as gunicorn's sync workers close
them). Cases: GET one record by id, and a filtered list of 20 (with its total). Each round measures the runtime
then the bare app for ``--seconds`` each (interleaved, so load from elsewhere hits both); prints requests/s and
p50/p99 latency per round, then min and median of the ratios runtime / bare (requests/s: higher is better; p50:
lower is better). Needs redis-server on the PATH (the stack starts one).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import random
import statistics
import threading
import time
from typing import Any

from bench.common import load
from tests.e2e.stack import BIN, Stack, free_port, wait_until

ENTITY = "benchitems"
GROUPS = 10


# --- the load generator (runs in its own process) ---------------------------------------------------------

def _load(port: int, paths: list[str], headers: dict[str, str], seconds: float, threads: int,
          out: Any) -> None:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[float] = []
        while time.perf_counter() < stop_at:
            path = rng.choice(paths)
            start = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"{path}: {response.status}")
            except OSError as exc:
                errors.append(f"{path}: {exc}")
            finally:
                conn.close()
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    began = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    out.put({"elapsed": time.perf_counter() - began, "latencies": latencies, "errors": errors[:5],
             "error_count": len(errors)})


def measure(port: int, paths: list[str], headers: dict[str, str], seconds: float, threads: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_load, args=(port, paths, headers, seconds, threads, out))
    proc.start()
    result = out.get(timeout=seconds + 120)
    proc.join(30)
    if result["error_count"]:
        raise SystemExit(f"{result['error_count']} failed requests, e.g. {result['errors']}")
    lat = sorted(result["latencies"])
    return {"rps": len(lat) / result["elapsed"], "p50": statistics.median(lat) * 1000,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, "n": len(lat)}


# --- set-up ------------------------------------------------------------------------------------------------

def seed(stack: Stack, records: int) -> list[str]:
    """Define the entity and insert ``records`` records straight into the shared database; returns the ids."""
    from core.config import Config
    from runtime.app import create_app

    app = create_app(Config.from_env(mongodb_uri=stack.mongodb_uri, mongodb_db=stack.db, redis_url=None))
    svc = app.extensions["runtime"]
    with app.app_context():
        entity, _ = svc.registry.save({"name": ENTITY, "label": "Bench items", "history": False, "fields": [
            {"name": "name", "label": "Name", "type": "text"},
            {"name": "n", "label": "N", "type": "integer"},
            {"name": "group", "label": "Group", "type": "integer", "indexable": True}]})
        docs = [svc.records.build_new(entity, {"name": f"item {i}", "n": i, "group": i % GROUPS})
                for i in range(records)]
        for start in range(0, records, 10_000):
            svc.records.collection(entity).insert_many(docs[start:start + 10_000])
    svc.store.client.close()
    return [str(d["_id"]) for d in docs]


def start_bare(stack: Stack) -> int:
    port = free_port()
    env = {**stack.env, "BENCH_COLLECTION": f"data.{ENTITY}"}
    proc = stack.spawn([str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
                        "--control-socket", str(stack.dir / "bare.ctl"), "bench.bare_app:app"], "bare", env=env)

    def up() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"the bare app exited: {stack.log_tail('bare')}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/records?group=0")
            return conn.getresponse().status == 200
        except OSError:
            return False
    wait_until(up, 60, "the bare app to answer")
    return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    stack = Stack(web_workers=2, job_workers=0).start()
    try:
        ids = seed(stack, args.records)
        token = stack.login().token or ""
        bare_port = start_bare(stack)
        sample = random.Random(1).sample(ids, min(200, len(ids)))
        cases = {
            "GET one record": ([f"/api/data/{ENTITY}/{i}" for i in sample], [f"/records/{i}" for i in sample]),
            "list of 20 (filter)": ([f"/api/data/{ENTITY}?group={g}&_size=20" for g in range(GROUPS)],
                                    [f"/records?group={g}" for g in range(GROUPS)]),
        }
        print(f"gunicorn 2 sync workers per app, MongoDB wire test server, {args.records} records, "
              f"{args.threads} client threads in another process, {args.seconds:.0f} s per measurement; {load()}")
        print(f"{'case':<22}{'app':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        for name, (runtime_paths, bare_paths) in cases.items():
            # Warm both (caches, connection pools), then measure them in turns.
            measure(stack.port, runtime_paths, {"token": token}, 1, args.threads)
            measure(bare_port, bare_paths, {}, 1, args.threads)
            rps, p50 = [], []
            for _ in range(args.rounds):
                runtime = measure(stack.port, runtime_paths, {"token": token}, args.seconds, args.threads)
                bare = measure(bare_port, bare_paths, {}, args.seconds, args.threads)
                for label, m in (("runtime", runtime), ("bare", bare)):
                    print(f"{name:<22}{label:<9}{m['rps']:>9.0f}{m['p50']:>9.1f}{m['p99']:>9.1f}", flush=True)
                rps.append(runtime["rps"] / bare["rps"])
                p50.append(runtime["p50"] / bare["p50"])
            print(f"{name:<22}runtime / bare over {args.rounds} rounds: req/s min {min(rps):.2f} median "
                  f"{statistics.median(rps):.2f};  p50 min {min(p50):.2f} median {statistics.median(p50):.2f}  "
                  f"({load()})", flush=True)
    finally:
        stack.close()


if __name__ == "__main__":
    main()
