"""``runtime users create|list|update|set-password|add-group`` and ``runtime groups apply <folder>``.

For a deployment's release step: provision users and groups without the API."""

from __future__ import annotations

import argparse
import json
import secrets
from typing import Any

from core.errors import ApiError

CALLER = {"_id": "", "email": "system", "fullName": "System", "developer": True}  # who the CLI acts as


def _app_services() -> tuple[Any, Any]:
    from runtime.app import create_app
    from runtime.cli_support import ensure_indexes

    app = create_app()
    svc = app.extensions["runtime"]
    with app.app_context():
        ensure_indexes(svc)
    return app, svc


def _fail(exc: ApiError) -> SystemExit:
    details = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in exc.errors)
    return SystemExit(f"error: {exc.message}" + (f" ({details})" if details else ""))


def users_create(args: argparse.Namespace) -> None:
    app, svc = _app_services()
    password = args.password or secrets.token_urlsafe(12)
    body = {"email": args.email, "password": password, "firstName": args.first_name, "lastName": args.last_name,
            "groups": [{"name": n, "primary": i == 0} for i, n in enumerate(args.group or [])]}
    with app.app_context():
        try:
            if args.developer:
                from runtime.auth import check_password

                check_password(password, svc.config.password_min_length)
                if svc.auth.find_user(args.email):
                    raise SystemExit(f"error: a user with email {args.email} already exists")
                doc = svc.auth.create_user(args.email, password, args.first_name, args.last_name, developer=True)
            else:
                doc, _ = svc.users.create(body, CALLER)
        except ApiError as exc:
            raise _fail(exc) from None
    print(f"created {doc['email']} ({doc['_id']})" + ("" if args.password else f" password: {password}"))


def users_list(args: argparse.Namespace) -> None:
    app, svc = _app_services()
    with app.app_context():
        offset = None
        while True:
            page = svc.users.list({}, 500, offset)
            for user in page["items"]:
                print(json.dumps(user) if args.json else
                      f"{user['email']}\t{user['status']}\t{'developer' if user['permissions']['developer'] else ''}"
                      f"\t{','.join(g['name'] or g['id'] for g in user['groups'])}")
            if len(page["items"]) < 500:
                break
            offset = page["offset"]


def users_update(args: argparse.Namespace) -> None:
    """Change a user's names; the records whose ``user`` fields hold them show the new full name once the
    cascade jobs ran (here, when jobs run in this process)."""
    app, svc = _app_services()
    body = {key: value for key, value in (("firstName", args.first_name), ("lastName", args.last_name))
            if value is not None}
    with app.app_context():
        try:
            doc = svc.users.update(args.email, body, CALLER, impersonating=False)
        except ApiError as exc:
            raise _fail(exc) from None
        wait_idle = getattr(svc.jobs.dispatcher, "wait_idle", None)
        if wait_idle is not None and not wait_idle(600):
            raise SystemExit("error: the user was changed, but the jobs updating its records did not finish")
    print(f"{doc['email']} is now {doc.get('fullName')}")


def users_set_password(args: argparse.Namespace) -> None:
    from runtime.auth import check_password

    app, svc = _app_services()
    with app.app_context():
        user = svc.auth.find_user(args.email)
        if user is None:
            raise SystemExit(f"error: user {args.email} does not exist")
        try:
            check_password(args.password, svc.config.password_min_length)
        except ApiError as exc:
            raise _fail(exc) from None
        svc.auth.set_password(user["_id"], args.password)
        svc.auth.sync_user(user["_id"])
    print(f"password of {args.email} set; its sessions were ended")


def users_add_group(args: argparse.Namespace) -> None:
    app, svc = _app_services()
    with app.app_context():
        try:
            svc.users.add_group(args.email, {"name": args.group, "primary": args.primary}, CALLER)
        except ApiError as exc:
            raise _fail(exc) from None
    print(f"{args.email} is in group {args.group}" + (" (primary)" if args.primary else ""))


def groups_apply(args: argparse.Namespace) -> None:
    from runtime.cli_support import apply_groups_folder

    app, svc = _app_services()
    with app.app_context():
        for name, state in apply_groups_folder(svc, args.folder):
            print(f"{name}: {state}")


def add_commands(sub: Any) -> None:
    users = sub.add_parser("users", help="create, list and change users").add_subparsers(dest="action", required=True)
    create = users.add_parser("create", help="create a user (a developer with --developer)")
    create.add_argument("email")
    create.add_argument("--password", help="generated and printed when not given")
    create.add_argument("--first-name", default="")
    create.add_argument("--last-name", default="")
    create.add_argument("--group", action="append", help="group name (repeat; the first is primary)")
    create.add_argument("--developer", action="store_true")
    create.set_defaults(func=users_create)
    listing = users.add_parser("list", help="every user: email, status, developer, groups")
    listing.add_argument("--json", action="store_true", help="one JSON user per line")
    listing.set_defaults(func=users_list)
    update = users.add_parser("update", help="change a user's names (records holding the user show the new name)")
    update.add_argument("email")
    update.add_argument("--first-name")
    update.add_argument("--last-name")
    update.set_defaults(func=users_update)
    password = users.add_parser("set-password", help="set a user's password (ends its sessions)")
    password.add_argument("email")
    password.add_argument("password")
    password.set_defaults(func=users_set_password)
    add_group = users.add_parser("add-group", help="put a user in a group")
    add_group.add_argument("email")
    add_group.add_argument("group", help="group name or id")
    add_group.add_argument("--primary", action="store_true")
    add_group.set_defaults(func=users_add_group)
    groups = sub.add_parser("groups", help="provision groups").add_subparsers(dest="action", required=True)
    apply = groups.add_parser("apply", help="apply a folder of groups (one JSON group per file, idempotent)")
    apply.add_argument("folder")
    apply.set_defaults(func=groups_apply)
