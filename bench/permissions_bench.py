"""The cost of permissions: a regular user under a ``when`` access rule vs a developer, same requests.

    python -m bench.permissions_bench [records] [rounds]

Lists 100 records (the rule is ANDed into the database query) and GETs one record (the rule is checked on
the record), alternating user and developer calls in one process; prints min and median ratios.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from bson import ObjectId

from bench.common import Client, make_app

RULE = {"api": {"data": True}, "entities": {"companies": {
    "access": {"when": {"state": "active"}}, "fields": {"notes": "none"}}}}


def _seconds(fn: Any, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    app, developer = make_app()
    svc = app.extensions["runtime"]
    col = svc.records.collection("companies")
    col.insert_many([{"_id": ObjectId(), "version": 0, "label": f"c{i}", "name": f"c{i}",
                      "state": "active" if i % 2 else "inactive", "notes": "n"} for i in range(records)])
    gid = ObjectId()
    svc.store.collection("sys.groups").insert_one({"_id": gid, "name": "bench", "permissions": RULE, "version": 1})
    user = svc.auth.create_user("user@example.com", "user-password", "Bench", "User")
    svc.store.collection("sys.users").update_one({"_id": user["_id"]},
                                                 {"$set": {"groups": [{"id": gid, "primary": True}]}})
    token = app.test_client().post("/api/auth/login", json={"email": "user@example.com",
                                                            "password": "user-password"}).get_json()["token"]
    regular = Client(app, token)
    one = str(col.find_one({"state": "active"})["_id"])
    # (path, calls per timing): a GET of one record takes about a millisecond, so it is timed over more calls
    cases = {"list 100 (when rule)": ("/data/companies?_size=100&state=active", 5),
             "GET one record": (f"/data/companies/{one}", 100)}
    print(f"store: {'embedded' if svc.store.embedded else svc.config.mongodb_uri}; {records} records; "
          f"{rounds} interleaved rounds")
    for title, (path, calls) in cases.items():
        ratios = []
        for _ in range(rounds):
            user_s = dev_s = 0.0
            for _ in range(calls):  # alternate call by call, so load from elsewhere hits both sides alike
                user_s += _seconds(lambda path=path: regular.call("GET", path), 1)
                dev_s += _seconds(lambda path=path: developer.call("GET", path), 1)
            ratios.append(user_s / dev_s)
        print(f"{title}: regular user / developer  min {min(ratios):.2f}x  median {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
