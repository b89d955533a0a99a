"""A calculated field made of a field hidden from the caller is hidden too: its value would show the hidden one."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.conftest import Api, create
from tests.entities.test_permissions import add_group, user_in

DEALS = {"name": "deals", "recordLabel": "#{title}", "fields": [
    {"name": "title", "type": "text"}, {"name": "secret", "type": "text"}, {"name": "n", "type": "integer"},
    {"name": "code", "type": "text", "calculated": "#{secret}/#{n}"},
    {"name": "echo", "type": "text", "calculated": "#{code}!"},
    {"name": "heading", "type": "text", "calculated": "#{title} #{n}"}]}
GROUP = {"api": {"data": True}, "entities": {"deals": {
    "access": "always", "create": "always", "edit": "always", "fields": {"secret": "none"}}}}


def setup(app: Flask, api: Api) -> tuple[Api, dict[str, Any]]:
    assert api.post("/metadata/entities", json=DEALS).status_code == 200
    record = create(api, "deals", {"title": "Big", "secret": "zebracorn", "n": 3})
    assert record["code"] == "zebracorn/3" and record["echo"] == "zebracorn/3!"
    return user_in(app, "seller@example.com", add_group(app, GROUP, "sellers")), record


def test_reads_leave_out_calculated_fields_made_of_hidden_ones(app: Flask, api: Api):
    user, record = setup(app, api)
    one = user.get(f"/data/deals/{record['id']}")
    assert one.status_code == 200
    shown = one.get_json()
    assert "secret" not in shown and "code" not in shown and "echo" not in shown
    assert shown["heading"] == "Big 3"
    listed = user.get("/data/deals").get_json()["items"][0]
    assert "code" not in listed and "echo" not in listed and listed["heading"] == "Big 3"
    assert "zebracorn" not in user.get("/data/deals").get_data(as_text=True)
    assert api.get(f"/data/deals/{record['id']}").get_json()["code"] == "zebracorn/3"  # a developer sees it


def test_filtering_sorting_or_asking_for_them_is_forbidden(app: Flask, api: Api):
    user, _ = setup(app, api)
    for query in ("code=zebracorn/3", "_sortField=echo", "_fields=title,code", "_query=code.like('zebra')"):
        response = user.get(f"/data/deals?{query}")
        assert response.status_code == 403, (query, response.get_json())
    assert user.get("/data/deals?heading=Big%203").get_json()["total"] == 1


def test_a_write_through_the_user_answers_without_them(app: Flask, api: Api):
    user, record = setup(app, api)
    response = user.put(f"/data/deals/{record['id']}", json={"n": 4})
    assert response.status_code == 200, response.get_json()
    assert "code" not in response.get_json() and response.get_json()["heading"] == "Big 4"
    assert api.get(f"/data/deals/{record['id']}").get_json()["code"] == "zebracorn/4"
