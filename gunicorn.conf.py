"""gunicorn settings of the Procfile's ``web`` process (``gunicorn --config gunicorn.conf.py``).

Access logs never show API keys or tokens (``logger_class``, imported after the metrics directory is set).

Metrics in multiprocess mode: every worker writes its counters to ``PROMETHEUS_MULTIPROC_DIR`` so that the
``/metrics`` of any worker reports the whole web process. When the variable is not set, a fresh directory is
made for this gunicorn and removed when it exits; a directory that is set is emptied at start (the files of
a previous run would otherwise be counted again). This file is read by the gunicorn master before it forks,
so the workers inherit the variable. It must import nothing of the app: ``prometheus_client`` decides how it
stores values when it is first imported, which has to happen after the variable is set (in each worker).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_made_here: str | None = None


def _prepare_metrics_dir() -> None:
    global _made_here
    path = os.environ.get(_VARIABLE)
    if not path:
        _made_here = path = tempfile.mkdtemp(prefix="runtime-metrics-")
        os.environ[_VARIABLE] = path
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink()


# Before anything imports the app: the logger class below is ``runtime.*``, which imports prometheus_client.
_prepare_metrics_dir()
logger_class = "runtime.log_redaction.RedactingLogger"


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges stop counting; its counters and histograms stay in the totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _made_here:
        shutil.rmtree(_made_here, ignore_errors=True)
