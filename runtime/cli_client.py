"""``runtime`` commands that talk to a running server through ``client``: login, records, import, export, jobs.

``runtime login`` keeps the URL and token in ``~/.config/entity-runtime/credentials.json`` (readable by you
only); every other command uses them unless ``--url`` / ``--token`` are given. Progress bars go to stderr, so
``runtime export companies > companies.csv`` writes only the CSV.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from client import ApiError, Client, JobFailed

DEFAULT_URL = "http://127.0.0.1:8080/api"


def credentials_path() -> Path:
    return Path.home() / ".config" / "entity-runtime" / "credentials.json"


def _connect(args: argparse.Namespace) -> Client:
    saved: dict[str, Any] = {}
    path = credentials_path()
    if path.exists():
        saved = json.loads(path.read_text())
    url = args.url or saved.get("url") or DEFAULT_URL
    token = args.token or (saved.get("token") if saved.get("url") == url or not args.url else None)
    if not token:
        raise SystemExit("Not logged in: run `runtime login --url <api url> --email <email>` (or pass --token)")
    return Client(url, token=token)


def _print(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


def _filters(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"A filter is name=value, got {pair!r}")
        out[name] = value
    return out


class _Bar:
    """A tqdm bar on stderr fed with job documents (``progress`` is a percentage)."""

    def __init__(self, label: str):
        from tqdm import tqdm

        self.bar = tqdm(total=100, desc=label, unit="%", file=sys.stderr, leave=True,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}|{postfix}")

    def __call__(self, job: dict[str, Any]) -> None:
        done = int(job.get("progress") or 0)
        self.bar.update(max(0, done - self.bar.n))
        self.bar.set_postfix_str(f"{job.get('status')} {job.get('recordsProcessed', 0)}/{job.get('recordsCount', 0)}")

    def close(self) -> None:
        self.bar.close()


def _with_bar(label: str, run: Any) -> Any:
    bar = _Bar(label)
    try:
        return run(bar)
    finally:
        bar.close()


# --- commands ----------------------------------------------------------------------------------

def _login(args: argparse.Namespace) -> None:
    password = args.password or getpass.getpass(f"Password for {args.email}: ")
    client = Client.login(args.url, args.email, password)
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": client.url, "token": client.token}, out)
    print(f"Logged in to {client.url} as {args.email}")


def _records_list(args: argparse.Namespace) -> None:
    records = _connect(args).records(args.entity).list(_filters(args.filters), page_size=args.page_size)
    for n, record in enumerate(records):
        if args.limit is not None and n >= args.limit:
            break
        _print(record)


def _records_get(args: argparse.Namespace) -> None:
    _print(_connect(args).records(args.entity).get(args.id))


def _records_create(args: argparse.Namespace) -> None:
    raw = sys.stdin.read() if args.body == "-" else args.body
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise SystemExit(f"The record must be JSON: {exc}") from None
    _print(_connect(args).records(args.entity).create(body))


def _import(args: argparse.Namespace) -> None:
    records = _connect(args).records(args.entity)
    job = _with_bar(f"import {args.entity}", lambda bar: records.import_csv(args.file, progress=bar))
    _print({"jobId": job["id"], "status": job["status"], "hasErrors": job["hasErrors"], "results": job["results"]})
    if job.get("hasErrors"):
        sys.exit(1)


def _export(args: argparse.Namespace) -> None:
    records = _connect(args).records(args.entity)
    params = _filters(args.filters)
    if args.fields:
        params["_fields"] = args.fields
    if args.field_names:
        params["_useFieldNames"] = "true"
    out = sys.stdout.buffer
    _with_bar(f"export {args.entity}", lambda bar: records.export_csv(out, params, progress=bar))
    out.flush()


def _jobs_watch(args: argparse.Namespace) -> None:
    client = _connect(args)
    job = _with_bar(f"job {args.id}", lambda bar: client.jobs.wait(args.id, progress=bar, raise_on_error=False))
    _print(job)
    if job["status"] != "FINISHED" or job.get("hasErrors"):
        sys.exit(1)


def add_commands(sub: Any) -> None:
    """Register the client commands on the ``runtime`` parser's subparsers."""
    def server(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--url", help=f"the API URL (default: the one you logged in to, or {DEFAULT_URL})")
        parser.add_argument("--token", help="a token (default: the one saved by `runtime login`)")
        return parser

    login = sub.add_parser("login", help="log in to a running server and remember the token")
    login.add_argument("--url", default=DEFAULT_URL)
    login.add_argument("--email", required=True)
    login.add_argument("--password", help="(asked for when not given)")
    login.set_defaults(func=_login)

    records = sub.add_parser("records", help="list, read or create records on a running server")
    actions = records.add_subparsers(dest="records_command", required=True)
    listing = server(actions.add_parser("list", help="print matching records, one JSON object per line"))
    listing.add_argument("entity")
    listing.add_argument("filters", nargs="*", metavar="FIELD=VALUE", help="e.g. state=active 'name=like(te)'")
    listing.add_argument("--page-size", type=int, default=200)
    listing.add_argument("--limit", type=int)
    listing.set_defaults(func=_records_list)
    get = server(actions.add_parser("get", help="print one record"))
    get.add_argument("entity")
    get.add_argument("id")
    get.set_defaults(func=_records_get)
    create = server(actions.add_parser("create", help="create a record from JSON (an argument, or - for stdin)"))
    create.add_argument("entity")
    create.add_argument("body")
    create.set_defaults(func=_records_create)

    imp = server(sub.add_parser("import", help="import a CSV file and wait for the job"))
    imp.add_argument("entity")
    imp.add_argument("file")
    imp.set_defaults(func=_import)
    exp = server(sub.add_parser("export", help="export matching records as CSV to stdout"))
    exp.add_argument("entity")
    exp.add_argument("filters", nargs="*", metavar="FIELD=VALUE")
    exp.add_argument("--fields", help="comma list of the columns")
    exp.add_argument("--field-names", action="store_true", help="headers are field names instead of labels")
    exp.set_defaults(func=_export)

    jobs = sub.add_parser("jobs", help="follow background jobs")
    job_actions = jobs.add_subparsers(dest="jobs_command", required=True)
    watch = server(job_actions.add_parser("watch", help="show a job's progress until it ends"))
    watch.add_argument("id")
    watch.set_defaults(func=_jobs_watch)


def run(func: Any, args: argparse.Namespace) -> None:
    """Run a client command; a server error is printed (with its field errors) and exits with status 1."""
    try:
        func(args)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err.get('field')}: {err.get('message')}", file=sys.stderr)
        sys.exit(1)
    except JobFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
