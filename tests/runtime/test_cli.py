"""The ``runtime`` command line: ``serve`` starts a working API and says how to log in; ``apply`` is idempotent."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.storage import connect
from runtime.cli import main

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_prints_the_store_and_a_login_that_works():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL", "RUNTIME_ADMIN_PASSWORD")}
    env["RUNTIME_ADMIN_EMAIL"] = "dev@example.com"
    command = [sys.executable, "-m", "runtime.cli", "serve", "--port", str(port), "--in-memory"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.time() + 60
        while time.time() < deadline and not any(line.startswith("API:") for line in lines):
            line = proc.stdout.readline()
            assert line, f"serve exited early: {''.join(lines)}"
            lines.append(line)
        output = "".join(lines)
        assert "embedded in-memory store" in output
        email, password = re.search(r"Developer login: (\S+) / (\S+)", output).groups()
        assert email == "dev@example.com" and len(password) >= 12  # generated when none is given

        sample_email, sample_password = re.search(r"Sample user \(group sales, not a developer\): (\S+) / (\S+)",
                                                  output).groups()

        base = f"http://127.0.0.1:{port}/api"
        sample = _post_json(f"{base}/auth/login", {"email": sample_email, "password": sample_password}, deadline)
        request = urllib.request.Request(f"{base}/users/{sample_email}", headers={"token": sample["token"]})
        with urllib.request.urlopen(request, timeout=10) as response:
            user = json.load(response)
            assert user["permissions"]["developer"] is False and [g["name"] for g in user["groups"]] == ["sales"]
        body = _post_json(f"{base}/auth/login", {"email": email, "password": password}, deadline)
        request = urllib.request.Request(f"{base}/data/companies", headers={"token": body["token"]})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["total"] == 0  # the sample app's entity exists and is empty
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _post_json(url: str, payload: dict, deadline: float) -> dict:
    data = json.dumps(payload).encode()
    while True:
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def test_apply_is_idempotent_and_reports_changes(tmp_path, database, capsys):
    definition = {"name": "tickets", "fields": [{"name": "title", "type": "text", "required": True}]}
    (tmp_path / "tickets.json").write_text(json.dumps(definition))

    main(["apply", str(tmp_path)])
    assert capsys.readouterr().out.strip() == "tickets: created"
    main(["apply", str(tmp_path)])
    assert capsys.readouterr().out.strip() == "tickets: unchanged"

    definition["fields"].append({"name": "done", "type": "boolean"})
    (tmp_path / "tickets.json").write_text(json.dumps(definition))
    main(["apply", str(tmp_path)])
    assert capsys.readouterr().out.strip() == "tickets: updated"
    stored = connect(None, database).collection("sys.entities").find_one({"name": "tickets"})
    assert stored["version"] == 2 and [f["name"] for f in stored["definition"]["fields"]] == ["title", "done"]


def test_apply_refuses_invalid_files_without_writing(tmp_path, database):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SystemExit, match="not valid JSON"):
        main(["apply", str(tmp_path)])
    (tmp_path / "broken.json").write_text(json.dumps({"name": "bad", "fields": [{"name": "x", "type": "nope"}]}))
    with pytest.raises(SystemExit, match="bad"):
        main(["apply", str(tmp_path)])
    assert connect(None, database).collection("sys.entities").find_one({"name": "bad"}) is None


def test_apply_refuses_a_missing_path_a_file_and_a_folder_without_definitions(tmp_path, database, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("{}")
    for folder, message in ((tmp_path / "missing", "no such folder"), (tmp_path / "notes.txt", "not a folder"),
                            (tmp_path / "empty", "no \\*.json files")):
        with pytest.raises(SystemExit, match=message) as stopped:
            main(["apply", str(folder)])
        assert stopped.value.code not in (0, None)
    assert capsys.readouterr().out == ""


def test_apply_validates_every_file_before_saving_any(tmp_path, database, capsys):
    good = {"name": "alpha", "fields": [{"name": "title", "type": "text"}]}
    (tmp_path / "a.json").write_text(json.dumps(good))
    (tmp_path / "b.json").write_text(json.dumps({"name": "beta", "fields": [{"name": "x", "type": "nope"}]}))
    with pytest.raises(SystemExit, match=r"beta.*nothing was applied"):
        main(["apply", str(tmp_path)])
    assert connect(None, database).collection("sys.entities").count_documents({"name": {"$in": ["alpha", "beta"]}}) == 0
    # rules naming another entity of the folder hold whatever the order of the files
    (tmp_path / "b.json").write_text(json.dumps({"name": "beta", "fields": [{"name": "code", "type": "text"}]}))
    (tmp_path / "a.json").write_text(json.dumps({"name": "alpha", "fields": [
        {"name": "b", "type": "relationship", "typeRules": {"entity": "beta", "copiedFields": ["code"]}}]}))
    main(["apply", str(tmp_path)])
    assert capsys.readouterr().out.split() == ["alpha:", "created", "beta:", "created"]
