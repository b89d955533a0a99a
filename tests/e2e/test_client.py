"""The Python client and the ``runtime`` client commands against the Procfile's processes: a CSV import and
export round trip through RQ jobs, lazy paging, errors as exceptions."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from client import ApiError, Client, JobFailed
from tests.e2e.conftest import define, unique
from tests.e2e.stack import ADMIN_EMAIL, ADMIN_PASSWORD, BIN, ROOT, Stack

FIELDS = [{"name": "code", "label": "Code", "type": "text", "required": True, "unique": True},
          {"name": "size", "label": "Size", "type": "integer"},
          {"name": "kind", "label": "Kind", "type": "choice", "typeRules": {"possibleValues": ["a", "b"]}}]
ROWS = 45


@pytest.fixture(scope="module")
def client(stack: Stack) -> Client:
    return Client.login(f"{stack.base_url}/api", ADMIN_EMAIL, ADMIN_PASSWORD)


def csv_file(rows: list[tuple[str, int, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["code", "size", "kind"])
    writer.writerows(rows)
    return out.getvalue().encode()


def test_the_client_round_trips_a_csv_import_and_export(stack: Stack, api, client: Client, tmp_path: Path):
    entity = unique("parts")
    define(api, entity, FIELDS, history=False)
    rows = [(f"P{i:03d}", i, "ab"[i % 2]) for i in range(ROWS)]
    source = tmp_path / "parts.csv"
    source.write_bytes(csv_file([*rows, ("BAD", "not a number", "a")]))
    seen: list[dict] = []
    job = client.records(entity).import_csv(source, progress=seen.append, timeout=60)
    assert job["status"] == "FINISHED" and job["type"] == "IMPORT_RECORDS"
    assert job["hasErrors"] is True  # the bad row is reported, the others imported
    assert seen and seen[-1]["id"] == job["id"] and seen[-1]["status"] == "FINISHED"
    with pytest.raises(JobFailed) as failed:  # jobs.wait raises on errors unless told not to
        client.jobs.wait(job["id"])
    assert failed.value.job["results"] == job["results"]

    records = client.records(entity).list(page_size=10)  # lazily, five pages
    assert next(records)["code"] == f"P{ROWS - 1:03d}"  # newest first
    assert len(list(records)) == ROWS - 1
    assert [r["code"] for r in client.records(entity).list(kind="a", size="less(5)")] == ["P004", "P002", "P000"]

    out = io.BytesIO()
    exported = client.records(entity).export_csv(out, progress=seen.append, _useFieldNames="true", timeout=60)
    assert exported["status"] == "FINISHED"
    lines = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert sorted((r["code"], int(r["size"]), r["kind"]) for r in lines) == rows

    target = tmp_path / "again.csv"
    client.records(entity).export_csv(target, {"kind": "b"}, _useFieldNames="true")
    assert len(list(csv.DictReader(target.open(encoding="utf-8-sig")))) == ROWS // 2


def test_records_actions_aggregate_and_errors_through_the_client(client: Client):
    companies = client.records("companies")
    made = companies.run_action("createSample", params={"name": unique("Client ")})
    assert made["state"] == "pending"
    updated = companies.update(made["id"], {"numberOfEmployees": 7}, version=made["version"])
    assert updated["version"] == made["version"] + 1
    with pytest.raises(ApiError) as stale:
        companies.update(made["id"], {"numberOfEmployees": 8}, version=made["version"])
    assert stale.value.status == 409 and stale.value.code == "optimisticLocking"
    with pytest.raises(ApiError) as invalid:
        companies.create({"name": unique("Bad "), "numberOfEmployees": -1})
    assert invalid.value.status == 400 and invalid.value.errors[0]["field"] == "numberOfEmployees"
    total = companies.aggregate([{"match": {"name": made["name"]}}, {"count": "n"}])
    assert total["items"] == [{"n": 1}]
    logged = companies.run_action("logSomething", ids=[made["id"]], params={"param1": "a", "param2": "b"})
    assert logged["id"] == made["id"] and logged["numberOfEmployees"] == 7
    assert companies.delete(made["id"])["id"] == made["id"]
    with pytest.raises(ApiError) as missing:
        companies.get(made["id"])
    assert missing.value.status == 404 and missing.value.body["code"] == "notFound"


def test_the_cli_logs_in_imports_exports_lists_and_watches_jobs(stack: Stack, api, tmp_path: Path):
    entity = unique("cli")
    define(api, entity, FIELDS, history=False)
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def runtime(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "runtime"), *args], env=env, capture_output=True, timeout=120,
                              check=False)

    login = runtime("login", "--url", f"{stack.base_url}/api", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
    assert login.returncode == 0, login.stderr
    saved = tmp_path / ".config" / "entity-runtime" / "credentials.json"
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    source = tmp_path / "in.csv"
    source.write_bytes(csv_file([("C1", 1, "a"), ("C2", 2, "b"), ("C3", 3, "b")]))
    imported = runtime("import", entity, str(source))
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert summary["status"] == "FINISHED" and summary["hasErrors"] is False
    assert b"100%" in imported.stderr  # the progress bar

    exported = runtime("export", entity, "kind=b", "--field-names")
    assert exported.returncode == 0, exported.stderr
    lines = list(csv.DictReader(io.StringIO(exported.stdout.decode("utf-8-sig"))))
    assert sorted(r["code"] for r in lines) == ["C2", "C3"]

    listed = runtime("records", "list", entity, "size=greater(1)", "--page-size", "1")
    assert [json.loads(line)["code"] for line in listed.stdout.splitlines()] == ["C3", "C2"]
    created = runtime("records", "create", entity, '{"code": "C4", "size": 4}')
    record = json.loads(created.stdout)
    assert json.loads(runtime("records", "get", entity, record["id"]).stdout)["code"] == "C4"
    watched = runtime("jobs", "watch", summary["jobId"])
    assert watched.returncode == 0 and json.loads(watched.stdout)["status"] == "FINISHED"

    bad = runtime("records", "create", entity, '{"size": 5}')
    assert bad.returncode == 1 and b"code: This field is required" in bad.stderr
