"""Failed-login counters kept in the store, so every web process sees the same numbers.

Per email: after ``throttle_after`` failures further attempts wait (429 + ``Retry-After``), the wait doubling
with every further failure; at ``block_after`` failures the user becomes ``BLOCKED`` (the caller does that).
Per client address: at most ``ip_per_minute`` failures in a calendar minute. Each counter is one atomic
``$inc`` (find-one-and-update with upsert), which is what makes them hold across gunicorn workers.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pymongo import ReturnDocument

from core.errors import ApiError
from core.storage import Store

ATTEMPTS = "sys.loginAttempts"
MAX_DELAY_SECONDS = 15 * 60
EMAIL_WINDOW = dt.timedelta(days=1)  # failures older than a day without a new one are forgotten


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class TooManyAttempts(ApiError):
    def __init__(self, message: str, retry_after: int):
        super().__init__(429, message, code="tooManyRequests")
        self.retry_after = max(1, retry_after)
        self.headers["Retry-After"] = str(self.retry_after)


@dataclass
class LoginGuard:
    store: Store
    throttle_after: int = 5
    block_after: int = 10
    delay_seconds: float = 2.0
    ip_per_minute: int = 20

    def __post_init__(self) -> None:
        self.attempts = self.store.collection(ATTEMPTS)

    def ensure_indexes(self) -> None:
        self.store.ensure_ttl(ATTEMPTS, "expiresAt", "expiry")

    def check(self, email: str, ip: str | None) -> None:
        """Raise 429 when this address or this email must wait before trying again."""
        now = _now()
        if ip:
            doc = self.attempts.find_one({"_id": _ip_key(ip, now)})
            if doc is not None and doc.get("failures", 0) >= self.ip_per_minute:
                raise TooManyAttempts("Too many failed logins from this address; try again later",
                                      60 - now.second)
        doc = self.attempts.find_one({"_id": _email_key(email)})
        until = doc.get("lockedUntil") if doc else None
        if until is not None and until > now:
            raise TooManyAttempts("Too many failed logins for this email; try again later",
                                  math.ceil((until - now).total_seconds()))

    def failed(self, email: str, ip: str | None) -> int:
        """Count a failure; returns how many failures this email has now."""
        now = _now()
        if ip:
            self.attempts.update_one({"_id": _ip_key(ip, now)},
                                     {"$inc": {"failures": 1},
                                      "$set": {"expiresAt": now + dt.timedelta(minutes=2)}}, upsert=True)
        doc = self.attempts.find_one_and_update(
            {"_id": _email_key(email)}, {"$inc": {"failures": 1}, "$set": {"expiresAt": now + EMAIL_WINDOW}},
            upsert=True, return_document=ReturnDocument.AFTER)
        failures = int(doc.get("failures", 1))
        if failures >= self.throttle_after:
            delay = min(self.delay_seconds * 2 ** (failures - self.throttle_after), MAX_DELAY_SECONDS)
            self.attempts.update_one({"_id": doc["_id"]},
                                     {"$set": {"lockedUntil": now + dt.timedelta(seconds=delay)}})
        return failures

    def reset(self, email: str) -> None:
        """A successful login or an unblock starts the email's count again."""
        self.attempts.delete_one({"_id": _email_key(email)})


def _email_key(email: str) -> str:
    return "email:" + email.strip().lower()


def _ip_key(ip: str, now: dt.datetime) -> str:
    return f"ip:{ip}:{now:%Y%m%d%H%M}"
