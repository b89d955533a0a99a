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
