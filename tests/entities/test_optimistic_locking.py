"""Every write is a compare-and-set on version: no lost updates, stale versions get 409."""

from __future__ import annotations

import threading

from tests.conftest import Api, company, create, login


def test_stale_version_is_409_with_current_version(api: Api):
    created = create(api, "companies", company())
    assert api.put(f"/data/companies/{created['id']}", json={"version": 0, "type": "b"}).status_code == 200
    stale = api.put(f"/data/companies/{created['id']}", json={"version": 0, "type": "c"})
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["code"] == "optimisticLocking" and body["currentVersion"] == 1
    assert api.get(f"/data/companies/{created['id']}").get_json()["type"] == "b"


def test_a_no_op_update_is_not_a_conflict(api: Api):
    created = create(api, "companies", company())
    first = api.put(f"/data/companies/{created['id']}", json={"version": 0, "type": "a"})
    assert first.status_code == 200
    assert api.put(f"/data/companies/{created['id']}", json={"version": 1, "type": "a"}).status_code == 200


def test_writers_without_version_lose_nothing(app):
    api = login(app)
    record = create(api, "companies", company(numberOfEmployees=0, notes=""))
    threads, per_thread = 8, 200
    errors: list[object] = []

    def worker(n: int) -> None:
        client = login(app)
        for i in range(per_thread):
            current = client.get(f"/data/companies/{record['id']}").get_json()
            # read-modify-write of a counter: only safe because the server retries our write on a race...
            response = client.put(f"/data/companies/{record['id']}", json={"taxId": f"t{n}-{i}"})
            if response.status_code != 200:
                errors.append(response.get_json())
            del current

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    final = api.get(f"/data/companies/{record['id']}").get_json()
    assert final["version"] == threads * per_thread
    app.extensions["runtime"].history.publisher.flush()  # entries reach sys.history off the request path
    history = app.extensions["runtime"].history.col
    assert history.count_documents({"recordId": record["id"], "eventType": "USER_RECORD_CHANGED"}) == 1600


def test_concurrent_increments_through_the_service_lose_nothing(app):
    """Each writer adds 1 inside the compare-and-set: the final value counts every write."""
    api = login(app)
    record = create(api, "companies", company(numberOfEmployees=0))
    svc = app.extensions["runtime"]
    entity = svc.registry.all()["companies"]
    from core.context import WriteContext

    def bump(doc: dict) -> dict:
        return {**doc, "numberOfEmployees": doc.get("numberOfEmployees", 0) + 1}

    def worker() -> None:
        for _ in range(200):
            svc.records.write(entity, record["id"], bump, WriteContext(user_email="t@x"))

    pool = [threading.Thread(target=worker) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    final = api.get(f"/data/companies/{record['id']}").get_json()
    assert final["numberOfEmployees"] == 1600 and final["version"] == 1600


def test_same_version_exactly_one_wins(app):
    api = login(app)
    record = create(api, "companies", company())
    barrier = threading.Barrier(8)
    statuses: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        client = login(app)
        barrier.wait()
        response = client.put(f"/data/companies/{record['id']}", json={"version": 0, "notes": f"writer {n}"})
        with lock:
            statuses.append(response.status_code)

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert sorted(statuses) == [200] + [409] * 7
    assert api.get(f"/data/companies/{record['id']}").get_json()["version"] == 1
