"""The Procfile's ``release`` command: run twice, it changes nothing the second time and exits 0."""

from __future__ import annotations

from typing import Any

import pymongo

from tests.e2e.conftest import unique
from tests.e2e.stack import Stack


def snapshot(uri: str, db_name: str) -> dict[str, Any]:
    """Entity definitions with their versions, the users, and every collection's indexes."""
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        db = client[db_name]
        indexes = {name: {ix["name"]: {k: list(v.items()) if k == "key" else v for k, v in ix.items()}
                          for ix in db[name].list_indexes()}
                   for name in db.list_collection_names()}
        return {"indexes": indexes, "meta": list(db["sys.meta"].find()),
                "entities": {d["name"]: (d["version"], d["definition"]) for d in db["sys.entities"].find()},
                "users": sorted(u["email"] for u in db["sys.users"].find())}


def test_release_is_idempotent(stack: Stack):
    db = unique("release_")
    first = stack.run_release(db)
    assert first.returncode == 0, first.stdout
    assert "release: indexes ensured" in first.stdout
    after_first = snapshot(stack.mongodb_uri, db)
    assert set(after_first["entities"]) == {"companies", "contacts"}
    assert {v for v, _ in after_first["entities"].values()} == {1}
    assert after_first["users"] == ["admin@example.com"]
    assert "unique_name" in after_first["indexes"]["data.companies"]
    assert len(after_first["indexes"]) >= 5

    second = stack.run_release(db)
    assert second.returncode == 0, second.stdout
    assert snapshot(stack.mongodb_uri, db) == after_first


def test_release_keeps_a_changed_developer_password(stack: Stack):
    """A deploy runs ``release`` with RUNTIME_ADMIN_PASSWORD set: it must not undo a change-password."""
    db = unique("release_pw_")
    assert stack.run_release(db).returncode == 0
    with pymongo.MongoClient(stack.mongodb_uri, serverSelectionTimeoutMS=10_000) as client:
        users = client[db]["sys.users"]
        users.update_one({}, {"$set": {"passwordHash": "changed-by-the-developer"}})
        again = stack.run_release(db)
        assert again.returncode == 0, again.stdout
        assert [u["passwordHash"] for u in users.find()] == ["changed-by-the-developer"]
