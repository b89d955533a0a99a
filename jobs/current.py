"""The job being executed in this thread (an embedded runner thread, or an RQ work horse).

A job submitted while another one runs is its child: ``parentJob`` is the running job, ``rootJob`` the top
of its chain, and the parent's ``childrenJobsCount`` goes up (the contract's job JSON). ``execute`` marks the
running job here, so every path that submits jobs (listeners, webhooks, cascades, actions, a handler's own
jobs) gets the parent without passing it along. A context variable, not a global: each runner thread (and
the request threads beside them) sees only its own job; threads a runner starts see none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_RUNNING: ContextVar[dict[str, Any] | None] = ContextVar("running_job", default=None)


def current_job() -> dict[str, Any] | None:
    """``{_id, label, rootJob}`` of the job running in this context, or None."""
    return _RUNNING.get()


@contextmanager
def running(job: dict[str, Any]) -> Iterator[None]:
    """Mark ``job`` as the one running here until the block ends."""
    token = _RUNNING.set({"_id": job["_id"], "label": job.get("label"), "rootJob": job.get("rootJob")})
    try:
        yield
    finally:
        _RUNNING.reset(token)
