"""``runtime`` command line: serve, apply, release, worker, clock; and, against a running server, login, records,
import, export and jobs (``runtime.cli_client``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from core.config import Config
from core.embedded_journal import DataDirInUse
from core.services import Services

log = logging.getLogger("runtime.cli")

DATA_DIR = "./.runtime-data"
EXAMPLES = str(Path(__file__).resolve().parent.parent / "examples" / "entities")


def _serve(args: argparse.Namespace) -> None:
    from runtime.app import bootstrap, create_app, ensure_sample_user
    from runtime.log_redaction import install_werkzeug_filter

    data_dir = None if args.in_memory else str(Path(args.data_dir).resolve())
    config = Config.from_env(embedded_data_dir=data_dir)
    try:
        app = create_app(config)
    except DataDirInUse as exc:
        raise SystemExit(str(exc)) from None
    install_werkzeug_filter()
    email, password = bootstrap(app, None if args.no_examples else args.examples)
    sample = None if args.no_examples else ensure_sample_user(app)
    if config.mongodb_uri:
        store = "MongoDB at " + config.mongodb_uri
    elif data_dir:
        store = (f"the embedded store in {data_dir} (kept across restarts; stop the server and delete the folder "
                 f"to start over, or use --in-memory)")
    else:
        store = "the embedded in-memory store (data is lost when the process stops; drop --in-memory to keep it)"
    print(f"Entity Runtime: storage is {store}", flush=True)
    kept = ("(unchanged: RUNTIME_ADMIN_PASSWORD only sets it when the user is created; change it with "
            f"POST {config.api_prefix}/auth/change-password, or with the server stopped: "
            f"`runtime users set-password {email} <new password>` with MONGODB_URI or EMBEDDED_DATA_DIR as here)")
    print(f"Developer login: {email} / {password or kept}", flush=True)
    if sample is not None:
        print(f"Sample user (group sales, not a developer): {sample[0]} / "
              f"{sample[1] or '(unchanged: the one printed at the first start)'}", flush=True)
    print(f"API: http://{args.host}:{args.port}{config.api_prefix}", flush=True)
    for start in app.extensions["runtime"].plugins.start_hooks:
        start()
    _stop_on_sigterm()
    try:
        app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    finally:
        _write_queued(app.extensions["runtime"])


def _stop_on_sigterm() -> None:
    """SIGTERM (a supervisor, ``kill``, ``Popen.terminate``) stops the server as Ctrl-C does, so the process ends
    through ``_write_queued`` and the exit handlers (the data folder's journal is closed). Python's default for
    SIGTERM ends it without either."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # werkzeug's serve_forever returns on it

    signal.signal(signal.SIGTERM, stop)


def _write_queued(svc: Services) -> None:
    """Write what background threads hold queued (history entries, app logs) before the exit handlers run: the
    journal's handler, registered when the data folder was opened (after the app log buffer's), runs first, and
    whatever is written after it closed is lost at exit."""
    from runtime.applogs.buffer import flush_all

    for hook in svc.plugins.flush_hooks:
        try:
            hook()
        except Exception:  # queued history is safe in its record's outbox too
            log.exception("could not write queued background work at shutdown")
    flush_all()


def _apply(args: argparse.Namespace) -> None:
    from runtime.app import create_app
    from runtime.cli_support import apply_folder, ensure_indexes

    app = create_app()
    svc = app.extensions["runtime"]
    with app.app_context():
        ensure_indexes(svc)
        for name, state in apply_folder(svc, args.folder):
            print(f"{name}: {state}")


def _release(args: argparse.Namespace) -> None:
    from runtime.app import bootstrap, create_app

    app = create_app()
    email, _ = bootstrap(app, args.folder)
    print(f"release: indexes ensured, metadata from {args.folder} applied, developer user {email} present")


def _worker(args: argparse.Namespace) -> None:
    from jobs.worker import run_worker
    from runtime.app import create_app

    run_worker(create_app, burst=args.burst)


def _clock(args: argparse.Namespace) -> None:
    from jobs.clock import run_clock
    from runtime.app import create_app

    run_clock(create_app)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="runtime", description="Entity Runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the API (with the sample app by default)")
    serve.add_argument("--host", default="127.0.0.1")
    defaults = Config.from_env()
    serve.add_argument("--port", type=int, default=defaults.port)
    serve.add_argument("--examples", default=EXAMPLES, help="folder of entity definitions to apply at start")
    serve.add_argument("--no-examples", action="store_true", help="start without the sample app")
    serve.add_argument("--data-dir", default=defaults.embedded_data_dir or DATA_DIR,
                       help="folder of the embedded store's data, kept across restarts (without MONGODB_URI)")
    serve.add_argument("--in-memory", action="store_true", help="keep the embedded store in memory only")
    serve.set_defaults(func=_serve)
    apply = sub.add_parser("apply", help="apply a folder of entity definitions (one JSON file per entity)")
    apply.add_argument("folder")
    apply.set_defaults(func=_apply)
    release = sub.add_parser("release", help="create indexes and apply metadata (idempotent)")
    release.add_argument("folder", nargs="?", default=EXAMPLES)
    release.set_defaults(func=_release)
    from runtime.cli_users import add_commands

    add_commands(sub)
    worker = sub.add_parser("worker", help="run a job worker on the default and low queues")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.set_defaults(func=_worker)
    clock = sub.add_parser("clock", help="fire due schedules and webhook retries (several may run at once)")
    clock.set_defaults(func=_clock)
    from runtime.cli_client import add_commands, run

    add_commands(sub)
    args = parser.parse_args(argv)
    try:
        if args.command in ("login", "records", "import", "export", "jobs"):
            run(args.func, args)
        else:
            args.func(args)
    except DataDirInUse as exc:  # e.g. `runtime apply` while `runtime serve` has EMBEDDED_DATA_DIR open
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main(sys.argv[1:])
