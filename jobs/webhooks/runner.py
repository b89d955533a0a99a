"""The ``WEBHOOK`` job: one delivery attempt. A failed attempt ends the job with errors; its retry is a new job."""

from __future__ import annotations

from typing import Any

from jobs import runners
from jobs.webhooks.service import FAILED, RETRYING, SUCCEEDED


class DeliveryFailed(Exception):
    pass


def run_webhook_job(jctx: runners.JobContext) -> dict[str, Any]:
    doc = jctx.services.webhooks.attempt(jctx.data["deliveryId"])
    status, code = doc.get("status"), doc.get("lastResponseCode")
    jctx.log("INFO", f"Attempt {doc.get('attempts')} to {doc.get('url')}: {status}"
                     + (f" (HTTP {code})" if code is not None else "")
                     + (f" — {doc['lastError']}" if doc.get("lastError") and status != SUCCEEDED else ""))
    if status == RETRYING:
        raise DeliveryFailed(f"{doc.get('lastError')}; retrying at {doc.get('nextAttemptAt')}")
    if status == FAILED:
        raise DeliveryFailed(f"{doc.get('lastError')}; no retries left")
    return {"deliveryId": doc["_id"], "status": status, "responseCode": code}

