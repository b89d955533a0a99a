"""The job-runner contract: how a package adds a job type.

Register a runner in your package's ``install`` (``services.jobs.register_runner("MY_JOB", run_my_job)``)::

    from jobs import runners

    def run_my_job(ctx: runners.JobContext) -> dict | None:
        after = ctx.checkpoint                       # None on a first run; what you saved last otherwise
        ctx.set_total(count_of_things)               # recordsCount (progress is derived from it)
        for batch in batches_after(after, ctx.batch_size):
            ctx.begin_batch([str(k) for k in batch]) # optional: lets a run after a crash see this batch
            outcome = {str(k): {"status": "ok"} for k in batch if do_one(k)}
            ctx.save_checkpoint(str(batch[-1]), processed_delta=len(batch), record_results=outcome)
        return {"summary": "..."}                    # optional: merged into the job's ``results``

and submit jobs from a request or from another job (a job submitted while a runner runs, in its thread or work
horse, is that job's child: ``parentJob``, ``rootJob`` and the parent's ``childrenJobsCount`` follow)::

    jobs = services().jobs
    job = jobs.submit("MY_JOB", "Doing my job", {"entityName": "companies"}, g.user, low_priority=False)
    return jsonify(jobs.job_link(job))   # {"jobLink": "/api/status/jobs/<id>", "jobId": "<id>"}

Rules of the contract:

* ``fn(ctx)`` runs in a worker (an RQ worker process, or a thread of the web process when there is no
  Redis). It gets everything through ``ctx``; ``ctx.data`` is the JSON ``data`` given to ``submit``.
* Work in batches (``ctx.batch_size``). After each batch call ``ctx.save_checkpoint`` ONCE: it writes the
  checkpoint, ``recordsProcessed``, ``progress``, the heartbeat and the results in one update. It raises
  ``JobInterrupted`` when the job was asked to stop (the job becomes STOPPED at that checkpoint) or was
  force-stopped; let it propagate (do not catch ``JobInterrupted``).
* A resumed job calls ``fn`` again with ``ctx.checkpoint`` set: continue strictly after it. If
  ``ctx.interrupted_batch`` is not None, the previous run died inside that batch: redo it idempotently.
* ``record_results`` adds ``{key: {"status": "ok"|"error", ...}}`` entries to ``results.results``
  (at most 1,000 entries are kept; keys must not contain ``.`` or start with ``$``). An ``error`` entry or
  ``errors=n`` sets ``hasErrors``. ``ctx.results_room()`` says how many more are kept, so a runner need not
  build the others. Once the kept entries reach ``RESULTS_MAX_BYTES`` (8 MB), later ones lose their
  ``response`` (a job document must stay under MongoDB's 16 MB).
* The returned dict (if any) is merged into ``results`` when the job finishes (e.g. ``{"response": ...}``).
  Raising any other exception finishes the job with ``hasErrors: true`` and the message in its logs;
  ``JobFailed(message, results)`` does so too and merges ``results`` into the job's ``results``.
* ``ctx.log(level, message)`` writes job logs (INFO, WARN, ERROR). ``ctx.write_context(path)`` is a
  ``WriteContext`` of the user who ran the job, for record writes with history (with the impersonating
  developer and client address of the request that submitted it).
* While a runner runs, a background thread beats for it every third of ``JOBS_STALE_SECONDS`` (30 s), so a
  long single step is fine: only a job whose worker died (no beat for that long) is taken for dead and
  STOPPED (it can be resumed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import bson
from bson import ObjectId

from core.context import WriteContext
from jobs.model import RESULTS_CAP, RESULTS_MAX_BYTES, STOPPED, STOPPING, now_ms

if TYPE_CHECKING:
    from core.services import Services
    from jobs.service import JobService

Runner = Callable[["JobContext"], "dict[str, Any] | None"]
MAX_LOGGED_FAILURES = 1000  # ERROR log lines of failed records per run (``save_checkpoint(log_failures=True)``)


class JobInterrupted(Exception):
    """The execution must end now: the job was stopped at a checkpoint or someone else owns it."""


class JobFailed(Exception):
    """The run failed in a way its results can tell (e.g. ``{"results": {"status": "error", ...}}``): the job
    finishes with ``hasErrors``, the message in its logs and ``results`` merged into its results."""

    def __init__(self, message: str, results: dict[str, Any]):
        super().__init__(message)
        self.results = results


class JobContext:
    """What a runner sees of its job. One context per execution (a resume gets a new one)."""

    def __init__(self, jobs: JobService, job: dict[str, Any], token: str,
                 cancelled: Callable[[], bool] = lambda: False):
        self.jobs = jobs
        self.services: Services = jobs.services
        self.job = job  # refreshed by each checkpoint, without ``results`` (see ``JobRepository.owned_update``)
        self.job_id: ObjectId = job["_id"]
        self.data: dict[str, Any] = job.get("data") or {}
        self.checkpoint: Any = job.get("checkpoint")
        self.interrupted_batch: list[str] | None = job.get("inFlight")
        self.batch_size: int = jobs.settings.batch_size
        self.transfer_batch_size: int = jobs.settings.transfer_batch_size  # CSV import and export jobs
        self._token = token
        self._cancelled = cancelled
        kept = (job.get("results") or {}).get("results") or {}
        self._results_kept = len(kept)
        self._results_bytes = encoded_size(kept)
        self._responses_dropped = False
        self._failures_logged = 0

    # --- progress ------------------------------------------------------------------------------

    def set_total(self, n: int) -> None:
        """``recordsCount``: how many records this job will process."""
        self._write({"$set": {"recordsCount": int(n)}})
        self.job["recordsCount"] = int(n)

    def results_room(self) -> int:
        """How many more ``record_results`` entries this job keeps: a runner need not build (or read the data
        of) outcomes past the cap."""
        return max(0, RESULTS_CAP - self._results_kept)

    def begin_batch(self, keys: Iterable[str]) -> None:
        """Record the batch about to be processed (cleared by ``save_checkpoint``)."""
        self.check_cancelled()
        self._write({"$set": {"inFlight": list(keys), "heartbeat": now_ms()}})

    def save_checkpoint(self, checkpoint: Any, processed_delta: int = 0,
                        record_results: dict[str, dict[str, Any]] | None = None, errors: int = 0,
                        log_failures: bool = False) -> None:
        """One update after a batch: checkpoint, counts, progress, heartbeat, results. Stops here if asked.
        ``log_failures``: an ERROR log line per failed record of ``record_results`` (see ``_log_failures``)."""
        if log_failures and record_results:
            self._log_failures(record_results)
        processed = int(self.job.get("recordsProcessed") or 0) + processed_delta
        total = int(self.job.get("recordsCount") or 0)
        fields: dict[str, Any] = {"checkpoint": checkpoint, "inFlight": None, "heartbeat": now_ms(),
                                  "progress": min(99, processed * 100 // total) if total else 0}
        has_errors = errors > 0
        for key, outcome in (record_results or {}).items():
            has_errors = has_errors or outcome.get("status") == "error"
            if self._results_kept < RESULTS_CAP:
                fields[f"results.results.{key}"] = self._within_budget(outcome)
                self._results_kept += 1
        if has_errors:
            fields["hasErrors"] = True
        doc = self._write({"$set": fields, "$inc": {"recordsProcessed": processed_delta}})
        self.job, self.checkpoint, self.interrupted_batch = {**doc, "data": self.data}, checkpoint, None
        if doc["status"] == STOPPING:
            self.jobs.repo.transition(self.job_id, STOPPING, {"status": STOPPED, "runner": None},
                                      {"runner": self._token})
            self.log("INFO", f"Stopped after {doc['recordsProcessed']} records; it can be resumed")
            raise JobInterrupted("stopped")
        self.check_cancelled()

    def _log_failures(self, record_results: dict[str, dict[str, Any]]) -> None:
        """``Record <id>: <error>`` at ERROR for the first ``MAX_LOGGED_FAILURES`` failed records of a run, so
        ``/logs?level=ERROR`` shows what went wrong, as an import's rows do (the results keep their entries too)."""
        for key, outcome in record_results.items():
            if outcome.get("status") != "error":
                continue
            self._failures_logged += 1
            if self._failures_logged <= MAX_LOGGED_FAILURES:
                self.log("ERROR", f"Record {key}: {outcome.get('errorMessage') or 'failed'}")
            elif self._failures_logged == MAX_LOGGED_FAILURES + 1:
                self.log("WARN", f"More than {MAX_LOGGED_FAILURES} records failed: only the first ones are logged")

    def _within_budget(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """The outcome as kept: without its ``response`` once the kept results would pass ``RESULTS_MAX_BYTES``
        (its status and error message are always kept)."""
        size = encoded_size(outcome)
        if self._results_bytes + size > RESULTS_MAX_BYTES and "response" in outcome:
            outcome = {k: v for k, v in outcome.items() if k != "response"}
            size = encoded_size(outcome)
            if not self._responses_dropped:
                self._responses_dropped = True
                self.log("WARN", f"The results keep responses up to {RESULTS_MAX_BYTES // (1024 * 1024)} MB; "
                                 "later entries have their status only")
        self._results_bytes += size
        return outcome

    def heartbeat(self) -> None:
        self._write({"$set": {"heartbeat": now_ms()}})

    # --- control -------------------------------------------------------------------------------

    def stop_requested(self) -> bool:
        """True when a stop or force stop was asked (``save_checkpoint`` acts on it by itself)."""
        if self._cancelled():
            return True
        doc = self.jobs.repo.get(self.job_id, {"runner": 1, "status": 1})  # a handler may ask per record
        return doc is None or doc.get("runner") != self._token or doc["status"] != self.job["status"]

    def check_cancelled(self) -> None:
        """Raise ``JobInterrupted`` at once if the job was force-stopped (cheap: call it per record)."""
        if self._cancelled():
            raise JobInterrupted("force-stopped")

    # --- helpers -------------------------------------------------------------------------------

    def log(self, level: str, message: str) -> None:
        self.jobs.logs.write(self.job_id, level, message)

    def write_context(self, context_path: str | None = None) -> WriteContext:
        """The user who ran the job, as a record write context (history shows them, and the developer
        impersonating them and the client address of the request that submitted the job)."""
        run_by = self.job.get("runBy") or {}
        return WriteContext(user_email=self.job.get("runByEmail"), user_id=run_by.get("id"),
                            user_name=run_by.get("fullName"), developer=bool(self.job.get("runByDeveloper")),
                            impersonator_email=self.job.get("impersonatorEmail"), ip=self.job.get("ip"),
                            context_path=context_path)

    def _write(self, update: dict[str, Any]) -> dict[str, Any]:
        doc = self.jobs.repo.owned_update(self.job_id, self._token, update)
        if doc is None:
            raise JobInterrupted("the job is no longer owned by this execution")
        return doc


def encoded_size(value: dict[str, Any]) -> int:
    """About how many bytes ``value`` takes in a job document (its BSON size; its JSON size when it is not
    encodable as BSON as it stands)."""
    try:
        return len(bson.encode(value))
    except Exception:
        return len(json.dumps(value, default=str))
