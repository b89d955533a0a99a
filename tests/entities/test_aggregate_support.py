"""Shared data and helpers for the aggregate tests (no tests here; the name keeps it in the aggregate set)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Api, company, create

# mongomock-ng warns that maxTimeMS is a no-op; the runtime passes it on purpose for a real server.
IGNORE_MAX_TIME_WARNING = pytest.mark.filterwarnings("ignore:'maxTimeMS' is accepted")


@dataclass
class Crm:
    companies: dict[str, dict[str, Any]]  # by name
    contacts: dict[str, dict[str, Any]]  # by first name


ADDRESS_CA = {"addressLine": "1 Main St", "zipCode": "90001", "city": "Los Angeles", "state": "CA"}
ADDRESS_NV = {"addressLine": "4 Magdeline Place", "zipCode": "89145", "city": "Las Vegas", "state": "NV"}


def seed_crm(api: Api) -> Crm:
    """Three companies and five contacts, created through the API."""
    companies = {
        "Flashset": create(api, "companies", company(name="Flashset", numberOfEmployees=10, isCustomer=True,
                                                     state="active", type="a", lastMeeting=1000,
                                                     addresses=[ADDRESS_NV, ADDRESS_CA])),
        "Rooxo": create(api, "companies", company(name="Rooxo", numberOfEmployees=200, isCustomer=False,
                                                  state="inactive", type="b", lastMeeting=3000,
                                                  addresses=[ADDRESS_CA])),
        "Trudoo": create(api, "companies", company(name="Trudoo", numberOfEmployees=55, isCustomer=True,
                                                   state="pending", type="a", lastMeeting=2000, addresses=[])),
    }
    people = [("Ann", "Flashset", 2, "1990-01-01"), ("Bob", "Flashset", 3, "1985-06-15"),
              ("Cid", "Rooxo", 4, "2000-02-29"), ("Dee", "Trudoo", 0, "1970-12-31"), ("Eve", None, 1, None)]
    contacts = {}
    for first, company_name, skills, birth in people:
        body: dict[str, Any] = {"firstName": first, "lastName": "Smith", "numberOfSkills": skills,
                                "email": f"{first.lower()}@example.com"}
        if company_name:
            body["company"] = {"id": companies[company_name]["id"]}
        if birth:
            body["birthDate"] = birth
        contacts[first] = create(api, "contacts", body)
    return Crm(companies, contacts)


def agg(api: Api, entity: str, body: Any, status: int = 200) -> dict[str, Any]:
    response = api.put(f"/data/{entity}/aggregate", json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def items(api: Api, entity: str, body: Any) -> list[dict[str, Any]]:
    result = agg(api, entity, body)
    assert result["total"] == len(result["items"])
    return result["items"]


def error(api: Api, entity: str, body: Any) -> str:
    result = agg(api, entity, body, status=400)
    assert result["code"] == "badRequest"
    return result["message"]
