"""Seed 002 shapes that were off: history totals, id offsets with any sort, every field error, result maps."""

from __future__ import annotations

import time

from tests.conftest import Api, company, create


def test_entity_history_total_counts_every_match_whatever_the_page(api: Api):
    start = int(time.time() * 1000) - 1000
    for i in range(5):
        create(api, "companies", company(name=f"H{i}"))
    end = int(time.time() * 1000) + 1000
    first = api.get(f"/data/companies/history?from={start}&to={end}&_size=2").get_json()
    assert first["total"] == 5 and len(first["items"]) == 2
    second = api.get(f"/data/companies/history?from={start}&to={end}&_size=2&_offset={first['offset']}").get_json()
    assert second["total"] == 5 and len(second["items"]) == 2
    assert {i["id"] for i in first["items"]}.isdisjoint(i["id"] for i in second["items"])
    plain = api.get("/data/companies/history?_size=2").get_json()
    assert api.get(f"/data/companies/history?_size=2&_offset={plain['offset']}").get_json()["total"] == 5


def test_delete_many_and_action_over_many_name_the_entity_in_each_response(app, api: Api):
    entity_id = app.extensions["runtime"].registry.get("companies").id
    ids = [create(api, "companies", company(name=f"E{i}"))["id"] for i in range(2)]
    acted = api.put(f"/data/companies/{','.join(ids)}/logSomething", json={"param1": "a"}).get_json()
    deleted = api.delete(f"/data/companies/{','.join(ids)}").get_json()
    for results in (acted, deleted):
        assert set(results) == set(ids)
        for rid in ids:
            response = results[rid]["response"]
            assert results[rid]["status"] == "ok" and response["id"] == rid
            assert response["entity"] == {"id": entity_id, "name": "Companies"}
            assert list(response)[:4] == ["id", "version", "label", "entity"]
