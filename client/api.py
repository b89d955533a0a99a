"""The client: records of one entity, jobs, and errors raised as exceptions carrying the server's error body."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import requests

Progress = Callable[[dict[str, Any]], None]  # called with the job document after every poll
ENDED = ("FINISHED", "STOPPED", "CANCELED")


class ApiError(Exception):
    """A 4xx/5xx answer: ``status``, and the error body ``{code, message, errors}`` as ``body``."""

    def __init__(self, status: int, body: Any, method: str, url: str):
        self.status = status
        self.body = body if isinstance(body, dict) else {"message": str(body)}
        self.code: str | None = self.body.get("code")
        self.message: str = str(self.body.get("message") or "")
        self.errors: list[dict[str, Any]] = list(self.body.get("errors") or [])
        super().__init__(f"{method} {url} → {status} {self.code}: {self.message}")


class JobFailed(Exception):
    """A job ended with errors, or stopped/canceled before finishing; ``job`` is its last state."""

    def __init__(self, job: dict[str, Any]):
        self.job = job
        super().__init__(f"job {job.get('id')} ended {job.get('status')} (hasErrors={job.get('hasErrors')})")


class Client:
    """One server and one credential: a session token (``token``) or an API key (``api_key``)."""

    def __init__(self, url: str, token: str | None = None, api_key: str | None = None, timeout: float = 60.0,
                 session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        if token:
            self.session.headers["token"] = token
        if api_key:
            self.session.headers["X-API-KEY"] = api_key
        self.token = token
        self.jobs = Jobs(self)

    @classmethod
    def login(cls, url: str, email: str, password: str, **kwargs: Any) -> Client:
        """Log in with ``POST /auth/login`` and return a client that sends the session token."""
        anonymous = cls(url, **kwargs)
        body = anonymous.request("POST", "/auth/login", json={"email": email, "password": password})
        return cls(url, token=body["token"], **kwargs)

    def records(self, entity: str) -> Records:
        return Records(self, entity)

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/auth/me")

    # --- transport -----------------------------------------------------------------------------

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The HTTP response (any 4xx/5xx raised as ``ApiError``); ``path`` is relative to the API URL."""
        url = path if path.startswith(("http://", "https://")) else self.url + path
        kwargs.setdefault("timeout", self.timeout)
        response = self.session.request(method, url, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise ApiError(response.status_code, body, method, url)
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a successful answer."""
        response = self.raw(method, path, **kwargs)
        return response.json() if response.content else None


class Records:
    """``/data/{entity}``: list (lazily, every page), get, create, update, delete, aggregate, actions, CSV."""

    def __init__(self, client: Client, entity: str):
        self.client = client
        self.entity = entity
        self.path = f"/data/{entity}"

    def list(self, filters: Mapping[str, Any] | None = None, /, *, page_size: int = 200,
             **more: Any) -> Iterator[dict[str, Any]]:
        """Every record the filters match, fetched a page at a time as you iterate.

        Filters are query parameters: ``state="active"``, ``numberOfEmployees="between(10,100)"``; paths with
        dots go in the mapping: ``list({"addresses.state": "NV"})``. With the default order the pages follow
        record ids, so records added meanwhile are neither skipped nor repeated."""
        params: dict[str, Any] = {**(filters or {}), **more}
        params["_size"] = page_size
        by_id = params.get("_sortField", "id") == "id"
        skipped = 0
        while True:
            page = self.client.request("GET", self.path, params=params)
            yield from page["items"]
            if len(page["items"]) < page_size or not page.get("offset"):
                return
            skipped += len(page["items"])
            params["_offset"] = page["offset"] if by_id else skipped

    def get(self, record_id: str, **params: Any) -> dict[str, Any]:
        return self.client.request("GET", f"{self.path}/{record_id}", params=params)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.request("POST", self.path, json=body)

    def update(self, record_id: str, changes: dict[str, Any], version: int | None = None) -> dict[str, Any]:
        """Partial update; with ``version`` a concurrent change raises ``ApiError`` with status 409."""
        body = dict(changes) if version is None else {**changes, "version": version}
        return self.client.request("PUT", f"{self.path}/{record_id}", json=body)

    def delete(self, record_id: str) -> dict[str, Any]:
        return self.client.request("DELETE", f"{self.path}/{record_id}")

    def aggregate(self, stages: list[dict[str, Any]]) -> dict[str, Any]:
        return self.client.request("PUT", f"{self.path}/aggregate", json=stages)

    def run_action(self, action: str, ids: str | list[str] | None = None, params: dict[str, Any] | None = None,
                   query: Mapping[str, Any] | None = None, run_async: bool = False) -> Any:
        """Run an action on records by id, on what ``query`` matches, or (global actions) on nothing."""
        if isinstance(ids, list):
            ids = ",".join(ids)
        path = f"{self.path}/{ids}/{action}" if ids else f"{self.path}/{action}"
        args = dict(query or {})
        if run_async:
            args["_async"] = "true"
        return self.client.request("PUT", path, params=args, json=params or {})

    def import_csv(self, source: str | Path | IO[bytes], progress: Progress | None = None,
                   timeout: float | None = None, **options: Any) -> dict[str, Any]:
        """Upload a CSV file, wait for the import job and return it: rows in error do not raise, the job's
        ``results`` lists them with their row numbers."""
        params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in options.items()}
        if isinstance(source, str | Path):
            with open(source, "rb") as handle:
                link = self.client.request("POST", f"{self.path}/import", params=params,
                                           files={"file": (Path(source).name, handle, "text/csv")})
        else:
            link = self.client.request("POST", f"{self.path}/import", params=params,
                                       files={"file": ("import.csv", source, "text/csv")})
        return self.client.jobs.wait(link["jobId"], progress=progress, timeout=timeout, raise_on_error=False)

    def export_csv(self, target: str | Path | IO[bytes], filters: Mapping[str, Any] | None = None, /, *,
                   progress: Progress | None = None, timeout: float | None = None, **more: Any) -> dict[str, Any]:
        """Export what the filters match (``_fields``, ``_useFieldNames`` allowed) into ``target``; returns the job."""
        params = {**(filters or {}), **more}
        link = self.client.request("PUT", f"{self.path}/export", params=params)
        job = self.client.jobs.wait(link["jobId"], progress=progress, timeout=timeout)
        response = self.client.raw("GET", f"/files/{job['results']['fileId']}", stream=True)
        with response:
            if isinstance(target, str | Path):
                with open(target, "wb") as out:
                    shutil.copyfileobj(response.raw, out)
            else:
                for chunk in response.iter_content(64 * 1024):
                    target.write(chunk)
        return job


class Jobs:
    """``/status/jobs``."""

    def __init__(self, client: Client):
        self.client = client

    def get(self, job_id: str) -> dict[str, Any]:
        return self.client.request("GET", f"/status/jobs/{job_id}")

    def logs(self, job_id: str, **params: Any) -> dict[str, Any]:
        return self.client.request("GET", f"/status/jobs/{job_id}/logs", params=params)

    def wait(self, job_id: str, progress: Progress | None = None, timeout: float | None = None,
             poll: float = 0.25, raise_on_error: bool = True) -> dict[str, Any]:
        """Poll until the job ends. ``progress(job)`` sees every state. A job that stopped or was canceled raises
        ``JobFailed``, and so does one that finished with errors unless ``raise_on_error=False``; ``timeout``
        raises ``TimeoutError``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if progress is not None:
                progress(job)
            if job["status"] in ENDED:
                if job["status"] != "FINISHED" or (raise_on_error and job.get("hasErrors")):
                    raise JobFailed(job)
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout}s")
            time.sleep(poll)
