"""The paths a restricted caller's query names are checked, never the values it compares them with."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import Api, company, create
from tests.entities.test_permissions import HIDDEN_CONTACT, SALES, SECRET, add_group, user_in


@pytest.fixture
def sales(app: Flask, api: Api) -> Api:
    """Active A holds the hidden ``contactInformation.email`` and ``notes``."""
    create(api, "companies", company(name="Active A", state="active", type="a", notes=SECRET,
                                     contactInformation=HIDDEN_CONTACT))
    create(api, "companies", company(name="Active B", state="active", type="b", notes=SECRET,
                                     contactInformation={"phoneNumber": "1-800-000-0000"}))
    return user_in(app, "sales@example.com", add_group(app, SALES, "sales"))


@pytest.mark.parametrize("query", ["_query=filter('name','notes')", "_query=filter('name','contactInformation.email')",
                                   "_query=or(filter('name','notes'),filter('type','a'))", "name=notes"])
def test_a_filter_value_that_names_a_hidden_field_is_not_refused(sales: Api, query: str):
    response = sales.get(f"/data/companies?{query}")
    assert response.status_code == 200, response.get_json()


def test_a_hidden_field_named_as_a_query_path_is_still_refused(sales: Api):
    for query in ("_query=filter('notes','x')", "_query=and(filter('name','x'),filter('contactInformation.email','y'))",
                  "_query=filter('contactInformation','{\"email\": \"x\"}')"):
        assert sales.get(f"/data/companies?{query}").status_code == 403, query
