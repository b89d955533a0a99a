"""The documented options that change how records are written: ``setDefaultValues``, ``performValidations``,
``updateRelationships`` and ``cascadeOperations`` of an import, and ``_cascadeOperations`` of a delete (§5.1,
§5.5 of the platform facts)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api, create, wait_for_job

VENDORS = {"name": "vendors", "recordLabel": "#{name}", "fields": [
    {"name": "name", "type": "text", "unique": True},
    {"name": "tier", "type": "text", "defaultValue": "basic"},
    {"name": "rating", "type": "integer", "required": True, "defaultValue": 3}]}
ORDERS = {"name": "orders", "recordLabel": "#{title}", "fields": [
    {"name": "title", "type": "text"},
    {"name": "vendor", "type": "relationship",
     "typeRules": {"entity": "vendors", "copiedFields": ["tier"], "onDelete": "removeRelationship"}}]}


@pytest.fixture
def shop(api: Api) -> Api:
    for definition in (VENDORS, ORDERS):
        assert api.put(f"/metadata/entities/{definition['name']}", json=definition).status_code == 200
    return api


def import_csv(api: Api, entity: str, text: str, query: str = "") -> dict[str, Any]:
    response = api.post(f"/data/{entity}/import{query}", data={"file": (io.BytesIO(text.encode()), "data.csv")},
                        content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    job = wait_for_job(api, response.get_json()["jobId"])
    assert job["status"] == "FINISHED", job
    return job


def cascade_jobs(api: Api) -> list[dict[str, Any]]:
    jobs = api.get("/status/jobs?type=CASCADE_UPDATE").get_json()["items"]
    for job in jobs:
        assert wait_for_job(api, job["id"])["status"] == "FINISHED"
    return jobs


def by_name(api: Api, entity: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in api.get(f"/data/{entity}?_size=100").get_json()["items"]}


def job_log_messages(api: Api, job_id: str) -> list[str]:
    return [line["message"] for line in api.get(f"/status/jobs/{job_id}/logs").get_json()["items"]]


# --- import ----------------------------------------------------------------------------------------

def test_imported_records_get_default_values_unless_set_default_values_is_false(shop: Api):
    import_csv(shop, "vendors", "name\nAcme\n")
    job = import_csv(shop, "vendors", "name,rating\nBolt,5\n", "?setDefaultValues=false")
    refused = import_csv(shop, "vendors", "name\nCorex\n", "?setDefaultValues=false")
    vendors = by_name(shop, "vendors")
    assert (vendors["Acme"]["tier"], vendors["Acme"]["rating"]) == ("basic", 3)
    assert (vendors["Bolt"]["tier"], vendors["Bolt"]["rating"]) == (None, 5)
    assert job["data"]["options"] == {"setDefaultValues": False}
    assert not any("setDefaultValues" in m for m in job_log_messages(shop, job["id"]))
    # without its default, a required field the row leaves empty is an error of that row
    assert refused["results"]["rowsImported"] == 0 and refused["results"]["rowsWithErrors"] == 1
    assert [e["field"] for e in refused["results"]["results"]["2"]["errors"]] == ["rating"]
    assert "Corex" not in vendors


RULED = {"name": "ruled", "fields": [
    {"name": "code", "type": "text", "typeRules": {"maxLength": 4, "pattern": "[A-Z]+"}},
    {"name": "qty", "type": "integer", "typeRules": {"min": 1, "max": 10}},
    {"name": "price", "type": "decimal", "typeRules": {"decimals": 1, "extraDecimals": "error", "min": 0}},
    {"name": "contact", "type": "email"}]}
BREAKING_RULES = "code,qty,price,contact\nlowercase-and-long,99,-2.55,a@b.co\n"
BAD_FORMAT = "code,qty,price,contact\nOK,many,1.5,a@b.co\nOK,2,1.5,not-an-email\n"


def test_perform_validations_false_skips_type_rules_only(api: Api):
    assert api.put("/metadata/entities/ruled", json=RULED).status_code == 200
    checked = import_csv(api, "ruled", BREAKING_RULES)
    assert checked["results"]["rowsImported"] == 0
    assert {e["field"] for e in checked["results"]["results"]["2"]["errors"]} == {"code", "qty", "price"}
    job = import_csv(api, "ruled", BREAKING_RULES, "?performValidations=false")
    assert job["results"]["rowsImported"] == 1 and job["data"]["options"] == {"performValidations": False}
    (record,) = api.get("/data/ruled").get_json()["items"]
    assert (record["code"], record["qty"], record["price"]) == ("lowercase-and-long", 99, -2.5)
    # what a value is (a number, an email) is still checked
    formats = import_csv(api, "ruled", BAD_FORMAT, "?performValidations=false")
    assert formats["results"]["rowsImported"] == 0 and formats["results"]["rowsWithErrors"] == 2
    assert [e["field"] for r in ("2", "3") for e in formats["results"]["results"][r]["errors"]] == ["qty", "contact"]
    # and the REST API keeps checking every rule
    refused = api.post("/data/ruled", json={"code": "lowercase-and-long"})
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["field"] == "code"


def test_every_field_gets_its_default_after_an_empty_list_default(api: Api):
    fields = [{"name": "tags", "type": "text", "multiplicity": "many", "defaultValue": []},
              {"name": "tier", "type": "text", "defaultValue": "basic"}]
    assert api.put("/metadata/entities/tagged", json={"name": "tagged", "fields": fields}).status_code == 200
    record = create(api, "tagged", {})
    assert record["tier"] == "basic"


@pytest.mark.parametrize("option", ["updateRelationships", "cascadeOperations"])
def test_an_import_with_cascades_off_leaves_the_copies_in_referencing_records(shop: Api, option: str):
    acme = create(shop, "vendors", {"name": "Acme", "tier": "silver"})
    order = create(shop, "orders", {"title": "o1", "vendor": acme["id"]})
    job = import_csv(shop, "vendors", "name,tier\nAcme,gold\n", f"?{option}=false")
    assert job["results"]["rowsImported"] == 1 and job["data"]["options"] == {option: False}
    assert by_name(shop, "vendors")["Acme"]["tier"] == "gold"
    assert cascade_jobs(shop) == []
    assert shop.get(f"/data/orders/{order['id']}").get_json()["vendor"]["tier"] == "silver"
    import_csv(shop, "vendors", "name,tier\nAcme,platinum\n")  # the default: the copy follows
    assert len(cascade_jobs(shop)) == 1
    assert shop.get(f"/data/orders/{order['id']}").get_json()["vendor"]["tier"] == "platinum"


def test_write_options_of_an_import_are_for_developers_only(shop: Api, user_api: Api):
    for option in ("setDefaultValues", "performValidations", "updateRelationships", "cascadeOperations"):
        response = user_api.post(f"/data/vendors/import?{option}=false",
                                 data={"file": (io.BytesIO(b"name\nx\n"), "data.csv")},
                                 content_type="multipart/form-data")
        assert response.status_code == 403 and option in response.get_json()["message"]
    bad = shop.post("/data/vendors/import?setDefaultValues=perhaps",
                    data={"file": (io.BytesIO(b"name\nx\n"), "data.csv")}, content_type="multipart/form-data")
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "setDefaultValues"


# --- delete ----------------------------------------------------------------------------------------

def linked_orders(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    acme = create(api, "vendors", {"name": "Acme"})
    bolt = create(api, "vendors", {"name": "Bolt"})
    o1 = create(api, "orders", {"title": "o1", "vendor": acme["id"]})
    o2 = create(api, "orders", {"title": "o2", "vendor": bolt["id"]})
    return acme, bolt, o1, o2


def vendor_of(api: Api, order: dict[str, Any]) -> Any:
    return api.get(f"/data/orders/{order['id']}").get_json()["vendor"]


def test_delete_with_cascade_operations_false_leaves_the_links(shop: Api):
    acme, bolt, o1, o2 = linked_orders(shop)
    assert shop.delete(f"/data/vendors/{acme['id']}?_cascadeOperations=false").status_code == 200
    assert vendor_of(shop, o1)["id"] == acme["id"]  # dangling, as the policy "none" leaves it
    assert shop.delete(f"/data/vendors/{bolt['id']}").status_code == 200  # the default applies the policy
    assert vendor_of(shop, o2) is None


def test_delete_over_a_query_with_cascade_operations_false_now_and_in_the_background(shop: Api):
    acme, bolt, o1, o2 = linked_orders(shop)
    now = shop.delete("/data/vendors?name=Acme&_cascadeOperations=false")
    assert now.status_code == 200 and set(now.get_json()) == {acme["id"]}
    assert vendor_of(shop, o1)["id"] == acme["id"]
    queued = shop.delete("/data/vendors?name=Bolt&_cascadeOperations=false&_async=true")
    assert queued.status_code == 200
    job = wait_for_job(shop, queued.get_json()["jobId"])
    assert job["status"] == "FINISHED" and job["data"]["cascadeOperations"] is False
    assert shop.get(f"/data/vendors/{bolt['id']}").status_code == 404
    assert vendor_of(shop, o2)["id"] == bolt["id"]


def test_async_delete_of_ids_honours_cascade_operations(shop: Api):
    acme, bolt, o1, o2 = linked_orders(shop)
    off = shop.delete(f"/data/vendors/{acme['id']}?_async=true&_cascadeOperations=false").get_json()
    on = shop.delete(f"/data/vendors/{bolt['id']}?_async=true").get_json()
    for queued in (off, on):
        assert wait_for_job(shop, queued["jobId"])["status"] == "FINISHED"
    assert vendor_of(shop, o1)["id"] == acme["id"] and vendor_of(shop, o2) is None


def test_a_malformed_cascade_operations_flag_is_a_400_that_deletes_nothing(shop: Api):
    acme, _, o1, _ = linked_orders(shop)
    for path in (f"/data/vendors/{acme['id']}?_cascadeOperations=maybe", "/data/vendors?_cascadeOperations=maybe"):
        response = shop.delete(path)
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["errors"][0]["field"] == "_cascadeOperations"
    assert shop.get(f"/data/vendors/{acme['id']}").status_code == 200
    assert vendor_of(shop, o1)["id"] == acme["id"]


def test_a_user_cannot_delete_without_listeners_or_delete_policies(app: Flask, shop: Api):
    from tests.entities.test_permissions import add_group, user_in

    acme, bolt, o1, _ = linked_orders(shop)
    rules = {"api": {"data": True, "jobs": True},
             "entities": {e: {"access": "always", "delete": "always"} for e in ("vendors", "orders")}}
    user = user_in(app, "deleter@example.com", add_group(app, rules))
    for path in (f"/data/vendors/{acme['id']}?_cascadeOperations=false",
                 f"/data/vendors/{acme['id']}?_triggerEvents=false&_async=true",
                 "/data/vendors?name=Acme&_cascadeOperations=false",
                 "/data/vendors?name=Acme&_triggerEvents=false&_async=true"):
        refused = user.delete(path)
        assert refused.status_code == 403, (path, refused.get_json())
        assert refused.get_json()["message"].startswith("Only developers can set _")
    assert shop.get(f"/data/vendors/{acme['id']}").status_code == 200  # nothing deleted
    assert user.delete(f"/data/vendors/{acme['id']}?_cascadeOperations=true").status_code == 200  # the default
    assert vendor_of(shop, o1) is None and shop.get(f"/data/vendors/{bolt['id']}").status_code == 200
