"""``runtime users create|list|update|set-password|add-group`` and ``runtime groups apply`` (idempotent)."""

from __future__ import annotations

import json

import pytest

from core.config import Config
from core.storage import connect
from runtime.app import bootstrap, create_app
from runtime.cli import main
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, EXAMPLES, create, login


def users(database: str) -> dict[str, dict]:
    return {u["email"]: u for u in connect(None, database).collection("sys.users").find({})}


def test_groups_apply_is_idempotent(tmp_path, database, capsys):
    group = {"name": "support", "label": "Support",
             "permissions": {"entities": {"contacts": {"access": "always", "fields": {"email": "none"}}}}}
    (tmp_path / "support.json").write_text(json.dumps(group))
    main(["apply", EXAMPLES])  # the entities the group's permissions name
    capsys.readouterr()
    main(["groups", "apply", str(tmp_path)])
    assert capsys.readouterr().out.strip() == "support: created"
    main(["groups", "apply", str(tmp_path)])
    assert capsys.readouterr().out.strip() == "support: unchanged"
    group["usersManagement"] = True
    (tmp_path / "support.json").write_text(json.dumps(group))
    main(["apply", EXAMPLES])  # the entities the group's permissions name
    capsys.readouterr()
    main(["groups", "apply", str(tmp_path)])
    assert capsys.readouterr().out.strip() == "support: updated"
    stored = connect(None, database).collection("sys.groups").find_one({"name": "support"})
    assert stored["usersManagement"] is True and stored["version"] == 1


def test_groups_apply_refuses_invalid_groups(tmp_path, database):
    (tmp_path / "bad.json").write_text(json.dumps({"name": "bad", "permissions": {"entities": {"ghosts": {}}}}))
    with pytest.raises(SystemExit, match="ghosts"):
        main(["groups", "apply", str(tmp_path)])
    assert connect(None, database).collection("sys.groups").find_one({"name": "bad"}) is None


def test_users_create_list_set_password_add_group(tmp_path, database, capsys):
    (tmp_path / "support.json").write_text(json.dumps({"name": "support"}))
    (tmp_path / "ops.json").write_text(json.dumps({"name": "ops"}))
    main(["groups", "apply", str(tmp_path)])
    main(["users", "create", "ann@example.com", "--password", "ann-password", "--first-name", "Ann",
          "--group", "support"])
    main(["users", "create", "dev@example.com", "--developer"])
    out = capsys.readouterr().out
    assert "created ann@example.com" in out and "password: " in out.splitlines()[-1]
    main(["users", "list"])
    listed = capsys.readouterr().out.splitlines()
    assert "ann@example.com\tACTIVE\t\tsupport" in listed and "dev@example.com\tACTIVE\tdeveloper\t" in listed
    main(["users", "set-password", "ann@example.com", "new-password"])
    main(["users", "add-group", "ann@example.com", "ops", "--primary"])
    stored = users(database)["ann@example.com"]
    assert [g["primary"] for g in stored["groups"]] == [False, True]
    assert stored["passwordHash"].startswith("$argon2") and users(database)["dev@example.com"]["developer"]
    with pytest.raises(SystemExit, match="already exists"):
        main(["users", "create", "ann@example.com", "--password", "long-enough"])
    with pytest.raises(SystemExit, match="password"):
        main(["users", "set-password", "ann@example.com", "short"])
    with pytest.raises(SystemExit, match="does not exist"):
        main(["users", "set-password", "ghost@example.com", "long-enough"])
    with pytest.raises(SystemExit, match="does not exist"):
        main(["users", "add-group", "ann@example.com", "nope"])


def test_cli_password_works_for_login(database):
    main(["users", "create", "ann@example.com", "--password", "ann-password"])
    main(["users", "set-password", "ann@example.com", "new-password"])
    app = create_app(Config.from_env(mongodb_uri=None, mongodb_db=database, redis_url=None))
    login(app, "ann@example.com", "new-password")



def test_users_update_renames_and_relabels_the_records_holding_the_user(database, capsys):
    """``runtime users update`` changes the names; the user fields of records show the new full name when it ends."""
    main(["users", "create", "ann@example.com", "--password", "ann-password", "--first-name", "Ann",
          "--last-name", "Jones"])
    app = create_app(Config.from_env(mongodb_uri=None, mongodb_db=database, redis_url=None,
                                     admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD))
    bootstrap(app)
    api = login(app)
    tasks = {"name": "tasks", "fields": [{"name": "title", "type": "text"}, {"name": "owner", "type": "user"}]}
    assert api.post("/metadata/entities", json=tasks).status_code == 200
    record = create(api, "tasks", {"title": "t", "owner": "ann@example.com"})
    assert record["owner"]["label"] == "Ann Jones"
    main(["users", "update", "ann@example.com", "--last-name", "Smith"])
    assert capsys.readouterr().out.strip().endswith("ann@example.com is now Ann Smith")
    assert api.get(f"/data/tasks/{record['id']}").get_json()["owner"]["label"] == "Ann Smith"
    found = api.get("/data/tasks?owner.label=Ann%20Smith").get_json()
    assert [r["id"] for r in found["items"]] == [record["id"]]
    with pytest.raises(SystemExit, match="does not exist"):
        main(["users", "update", "ghost@example.com", "--first-name", "G"])
