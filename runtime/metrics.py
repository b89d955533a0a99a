"""``GET /metrics``: Prometheus text format.

Request metrics (count and latency by method, route template and status) and login failures are counted in
the process that served the request with ``prometheus-client``; under gunicorn every worker writes them to
``PROMETHEUS_MULTIPROC_DIR`` (``gunicorn.conf.py`` sets it up) and any worker's ``/metrics`` adds them
all up. Job metrics are read from ``sys.jobs`` and the queues when scraped, so they count jobs run by every
worker process on every host. ``METRICS_TOKEN`` set → the scrape needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Request, Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from core.errors import Unauthorized
from core.services import Services
from jobs.model import public_type_expr

log = logging.getLogger("runtime.metrics")

disable_created_metrics()  # the ``*_created`` series only add noise to every counter
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
LOGIN_ENDPOINT = "auth.login"

REQUESTS = Counter("runtime_http_requests_total", "HTTP requests answered, by method, route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("runtime_http_request_duration_seconds", "Time to answer an HTTP request",
                    ["method", "route", "status"], buckets=LATENCY_BUCKETS)
LOGIN_FAILURES = Counter("runtime_login_failures_total", "Failed logins, by HTTP status (401 wrong credentials or "
                         "an inactive or blocked user, 400 missing ones)", ["status"])


# (method, route, status) → its counter and histogram series: labels() looks them up under a lock per call.
# Routes are templates, so the keys are few.
_SERIES: dict[tuple[str, str, str], tuple[Any, Any]] = {}


class TimedRequest(Request):
    """A request that notes when it arrived: its latency is measured from there, before every hook (the auth
    guard included), without a hook of its own."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.arrived = time.perf_counter()


def install(app: Flask, svc: Services) -> None:
    app.request_class = TimedRequest
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", lambda: scrape(svc), methods=["GET"])


def _observe(response: Response) -> Response:
    req = request._get_current_object()  # type: ignore[attr-defined]
    started = getattr(req, "arrived", None)
    if started is None or req.endpoint == "metrics":
        return response
    rule = req.url_rule.rule if req.url_rule is not None else "unmatched"
    status = str(response.status_code)
    key = (req.method, rule, status)
    series = _SERIES.get(key)
    if series is None:
        series = _SERIES[key] = (REQUESTS.labels(*key), LATENCY.labels(*key))
    series[0].inc()
    series[1].observe(time.perf_counter() - started)
    if req.endpoint == LOGIN_ENDPOINT and response.status_code in (400, 401, 403):
        LOGIN_FAILURES.labels(status).inc()
    return response


def scrape(svc: Services) -> Response:
    _authorize(svc.config.metrics_token)
    if svc.config.prometheus_multiproc_dir:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=svc.config.prometheus_multiproc_dir)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    jobs = CollectorRegistry()
    jobs.register(JobsCollector(svc))
    return Response(counted + generate_latest(jobs), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _authorize(expected: str | None) -> None:
    if not expected:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise Unauthorized("GET /metrics needs 'Authorization: Bearer <METRICS_TOKEN>'")


class JobsCollector(Collector):
    """Jobs by type and status, durations of ended jobs, and queue depths, read when scraped."""

    def __init__(self, svc: Services):
        self.svc = svc

    def collect(self) -> Iterator[Any]:
        jobs = self.svc.jobs
        if jobs is None:
            return
        counts = GaugeMetricFamily("runtime_jobs", "Jobs in sys.jobs, by type and status", labels=["type", "status"])
        for row in jobs.repo.col.aggregate([{"$group": {"_id": {"type": public_type_expr(), "status": "$status"},
                                                        "n": {"$sum": 1}}}]):
            counts.add_metric([str(row["_id"].get("type")), str(row["_id"].get("status"))], row["n"])
        yield counts
        yield self._durations(jobs.repo.col)
        depth = GaugeMetricFamily("runtime_job_queue_depth", "Jobs waiting in each queue", labels=["queue"])
        for name, size in queue_depths(jobs.dispatcher).items():
            depth.add_metric([name], size)
        yield depth

    @staticmethod
    def _durations(col: Any) -> HistogramMetricFamily:
        """Run time (endDate - startDate) of every ended job, by type, as a cumulative histogram."""
        seconds = {"$divide": [{"$subtract": ["$endDate", "$startDate"]}, 1000]}
        group: dict[str, Any] = {"_id": public_type_expr(), "count": {"$sum": 1}, "sum": {"$sum": seconds}}
        for i, bound in enumerate(JOB_BUCKETS):
            group[f"b{i}"] = {"$sum": {"$cond": [{"$lte": [seconds, bound]}, 1, 0]}}
        family = HistogramMetricFamily("runtime_job_duration_seconds", "Run time of ended jobs, by type",
                                       labels=["type"])
        rows = col.aggregate([{"$match": {"startDate": {"$ne": None}, "endDate": {"$ne": None}}},
                              {"$group": group}])
        for row in rows:
            buckets = [(str(bound), row[f"b{i}"]) for i, bound in enumerate(JOB_BUCKETS)]
            buckets.append(("+Inf", row["count"]))
            family.add_metric([str(row["_id"])], buckets, row["sum"])
        return family


def queue_depths(dispatcher: Any) -> dict[str, int]:
    """``{queue name: waiting jobs}`` for RQ, or the embedded runner's one queue."""
    connection = getattr(dispatcher, "connection", None)
    if connection is not None:
        from rq import Queue

        from jobs.dispatch import QUEUES

        try:
            return {name: Queue(name, connection=connection).count for name in QUEUES}
        except Exception as exc:  # Redis down: the scrape still answers, without depths
            log.warning("queue depth unavailable: %s", exc)
            return {}
    depth = getattr(dispatcher, "depth", None)
    return {"embedded": depth()} if callable(depth) else {}
