"""Every write of a data record goes through the record lifecycle: no module outside ``entities.records``
writes a ``data.*`` collection, whatever starts the write (API, actions, imports, jobs, metadata)."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from core.storage import Store
from tests.conftest import Api, company, create, wait_for_job

WRITES = ("insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one", "delete_many",
          "bulk_write", "find_one_and_update", "find_one_and_replace", "find_one_and_delete", "drop")


class _Watched:
    """A collection that notes which module called each of its write methods."""

    def __init__(self, col: Any, name: str, writers: set[tuple[str, str]]):
        self._col, self._name, self._writers = col, name, writers

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._col, attr)
        if attr not in WRITES:
            return value

        def write(*args: Any, **kwargs: Any) -> Any:
            self._writers.add((sys._getframe(1).f_globals.get("__name__", "?"), self._name))
            return value(*args, **kwargs)
        return write


@pytest.fixture
def writers(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    real = Store.collection

    def collection(self: Store, name: str) -> Any:
        col = real(self, name)
        return _Watched(col, name, seen) if name.startswith("data.") else col

    monkeypatch.setattr(Store, "collection", collection)
    return seen


def _run_job(api: Api, response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_json()
    job = wait_for_job(api, response.get_json()["jobId"])
    assert job["status"] == "FINISHED", job
    return job


def test_only_the_record_lifecycle_writes_data_collections(app, api: Api, writers: set[tuple[str, str]]):
    acme = create(api, "companies", company(name="Acme"))
    other = create(api, "companies", company(name="Other", state="inactive"))
    assert api.put(f"/data/companies/{acme['id']}", json={"notes": "n"}).status_code == 200
    assert api.put(f"/data/companies/{other['id']}/activate").status_code == 200  # declarative, one record
    assert api.put("/data/companies/logSomething?name=Acme").status_code == 200  # handler over a query
    contact = create(api, "contacts", {"firstName": "A", "lastName": "B", "company": {"id": acme["id"]}})
    csv = "firstName,lastName,email\nC,D,c@example.com\nE,F,e@example.com\n"
    _run_job(api, api.post("/data/contacts/import", data={"file": (io.BytesIO(csv.encode()), "c.csv")},
                           content_type="multipart/form-data"))
    _run_job(api, api.delete("/data/contacts?lastName=D&_async=true"))
    assert api.delete(f"/data/contacts/{contact['id']}").status_code == 200
    assert api.delete("/data/contacts?lastName=F").status_code == 200
    definition = {"name": "scratch", "history": False, "fields": [{"name": "title", "type": "text"},
                                                                   {"name": "flag", "type": "boolean"}],
                  "actions": [{"name": "flagAll", "type": "manyRecords", "update": {"flag": True}}]}
    assert api.post("/metadata/entities", json=definition).status_code == 200
    for i in range(3):
        create(api, "scratch", {"title": f"t{i}"})
    _run_job(api, api.put("/data/scratch/flagAll?_async=true"))  # set-based: one update_many per batch
    assert api.get("/data/scratch?flag=true").get_json()["total"] == 3
    _run_job(api, api.delete("/data/scratch?_async=true"))  # set-based: one delete_many per batch
    assert api.delete("/metadata/entities/scratch").status_code == 200

    collections = {name for _, name in writers}
    assert {"data.companies", "data.contacts", "data.scratch"} <= collections  # the tour did write them
    outside = sorted((module, name) for module, name in writers if not module.startswith("entities.records."))
    assert outside == []
