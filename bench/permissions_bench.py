"""The cost of permissions: a regular user under a ``when`` access rule vs a developer, same requests.

    python -m bench.permissions_bench [records] [rounds]      (default 2,000 records, 7 rounds)
    python -m bench.permissions_bench 100000 5                (100k records: about 70 s on the embedded store)

Lists 100 records (the rule is ANDed into the database query) and GETs one record (the rule is checked on
the record, timed over 100 calls), in interleaved rounds in one process; prints min and median ratios
regular user / developer.
"""

from __future__ import annotations

import sys

from bson import ObjectId

from bench.common import Client, interleaved, load, make_app

RULE = {"api": {"data": True}, "entities": {"companies": {
    "access": {"when": {"state": "active"}}, "fields": {"notes": "none"}}}}


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    app, developer = make_app()
    svc = app.extensions["runtime"]
    col = svc.records.collection("companies")
    for start in range(0, records, 10_000):
        col.insert_many([{"_id": ObjectId(), "version": 0, "label": f"c{i}", "name": f"c{i}",
                          "state": "active" if i % 2 else "inactive", "notes": "n"}
                         for i in range(start, min(records, start + 10_000))])
    gid = ObjectId()
    svc.store.collection("sys.groups").insert_one({"_id": gid, "name": "bench", "permissions": RULE, "version": 1})
    user = svc.auth.create_user("user@example.com", "user-password", "Bench", "User")
    svc.store.collection("sys.users").update_one({"_id": user["_id"]},
                                                 {"$set": {"groups": [{"id": gid, "primary": True}]}})
    token = app.test_client().post("/api/auth/login", json={"email": "user@example.com",
                                                            "password": "user-password"}).get_json()["token"]
    regular = Client(app, token)
    one = str(col.find_one({"state": "active"})["_id"])

    def calls(client: Client, path: str, repeat: int) -> object:
        def run() -> None:
            for _ in range(repeat):
                client.call("GET", path)
        return run

    listing, record = "/data/companies?_size=100&state=active", f"/data/companies/{one}"
    print(f"store: {'embedded' if svc.store.embedded else svc.config.mongodb_uri}; {records} records; "
          f"{rounds} interleaved rounds; {load()}")
    interleaved({"list 100 (when rule), user / developer": (calls(regular, listing, 1), calls(developer, listing, 1)),
                 "GET one x100, user / developer": (calls(regular, record, 100), calls(developer, record, 100))},
                rounds)
    print(load())


if __name__ == "__main__":
    main()
