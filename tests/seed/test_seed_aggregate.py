"""Seed "Aggregate queries": ``PUT /data/{entity}/aggregate`` with a chain of operations."""

from __future__ import annotations

from tests.conftest import Api
from tests.seed.samples import assert_error, create

# totalSkills per company in the sample "counts the number of skills per company", in its order.
SKILLS = {"Trudoo": [1], "Riffwire": [1, 2], "Snaptags": [2], "Edgeify": [0], "Flipopia": [3], "Rooxo": [2, 2]}


def test_counts_the_number_of_skills_per_company(api: Api):
    companies = {name: create(api, "companies", {"name": name}) for name in SKILLS}
    for name, skills in SKILLS.items():
        for i, n in enumerate(skills):
            create(api, "contacts", {"firstName": name, "lastName": str(i), "company": {"id": companies[name]["id"]},
                                     "numberOfSkills": n})
    pipeline = [{"project": "company,numberOfSkills"},
                {"group": {"by": "company", "totalSkills": "sum(numberOfSkills)"}}]
    response = api.put("/data/contacts/aggregate", json=pipeline,
                       headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert response.status_code == 200
    result = response.get_json()
    assert list(result) == ["total", "items"] and result["total"] == 6
    assert all(set(item) == {"company", "totalSkills"} for item in result["items"])
    totals = {item["company"]["label"]: item["totalSkills"] for item in result["items"]}
    assert totals == {"Trudoo": 1, "Riffwire": 3, "Snaptags": 2, "Edgeify": 0, "Flipopia": 3, "Rooxo": 4}
    for item in result["items"]:  # a relationship key keeps its REST form
        assert item["company"] == {"id": companies[item["company"]["label"]]["id"],
                                   "label": item["company"]["label"]}


def test_group_without_by_and_count(api: Api):
    create(api, "companies", {"name": "A", "numberOfEmployees": 95})
    create(api, "companies", {"name": "B", "numberOfEmployees": 534})
    total = api.put("/data/companies/aggregate", json=[{"group": {"employees": "sum(numberOfEmployees)"}}])
    assert total.get_json() == {"total": 1, "items": [{"employees": 629}]}
    counted = api.put("/data/companies/aggregate", json=[{"match": {"numberOfEmployees": "greater(100)"}},
                                                         {"count": "bigOnes"}])
    assert counted.get_json() == {"total": 1, "items": [{"bigOnes": 1}]}


def test_aggregate_errors(api: Api, anon: Api):
    assert_error(api.put("/data/contacts/aggregate", json=[{"explode": "now"}]), 400)
    assert_error(api.put("/data/contacts/aggregate", json=[{"group": {"by": "noSuchField", "n": "count()"}}]), 400)
    assert_error(api.put("/data/contacts/aggregate", json=[{"group": {"n": "eval(numberOfSkills)"}}]), 400)
    assert_error(api.put("/data/contacts/aggregate", data="[{", content_type="application/json"), 400)
    assert_error(api.put("/data/ghosts/aggregate", json=[{"count": "n"}]), 404)
    assert_error(anon.put("/data/contacts/aggregate", json=[{"count": "n"}]), 401)
