"""Filters on html fields compare the visible text (tags removed, entities decoded, whitespace collapsed), not the
markup: simple filters, ``_query``, ``_globalSearch``, aggregate ``match``, nested fields, imports, records stored
without their visible text, a text → html refactoring; no response shows the visible text the record keeps."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from bson import ObjectId
from flask import Flask

from tests.conftest import Api, create, wait_for_job
from tests.entities.test_import_export import run_export, run_import

DOCS = {"name": "docs", "recordLabel": "#{title}", "history": True, "fields": [
    {"name": "title", "type": "text"},
    {"name": "body", "type": "html"},
    {"name": "notes", "type": "nestedFields", "multiplicity": "many",
     "nestedFields": [{"name": "note", "type": "html"}, {"name": "tag", "type": "text"}]},
]}
ONE_BODY = '<p>Hello <b class="loud">bold</b> world</p><p>Second&nbsp;block &amp; more</p>'
ONE_TEXT = "Hello bold world Second block & more"


def seed(api: Api) -> dict[str, dict[str, Any]]:
    assert api.put("/metadata/entities/docs", json=DOCS).status_code == 200
    return {r["title"]: r for r in [
        create(api, "docs", {"title": "one", "body": ONE_BODY}),
        create(api, "docs", {"title": "two", "body": "<div>Other</div>",
                             "notes": [{"note": "<i>deep</i> item", "tag": "t1"}, {"note": "plain", "tag": "t2"}]}),
        create(api, "docs", {"title": "three"}),
    ]}


def titles(api: Api, query: str) -> set[str]:
    response = api.get(f"/data/docs?_size=100&{query}")
    assert response.status_code == 200, response.get_json()
    return {r["title"] for r in response.get_json()["items"]}


def body(value: str) -> str:
    return f"body={quote(value)}"


def test_simple_filters_compare_the_visible_text(api: Api):
    seed(api)
    assert titles(api, body("like(Hello bold)")) == {"one"}
    assert titles(api, body("like(world Second)")) == {"one"}  # text of two blocks, one space between
    assert titles(api, body("like(block & more)")) == {"one"}  # entities decoded
    assert titles(api, body(ONE_TEXT)) == {"one"}
    assert titles(api, body(f"{ONE_TEXT},Other")) == {"one", "two"}
    assert titles(api, body("like(/^hello/)")) == {"one"}
    assert titles(api, body("notEquals(Other)")) == {"one", "three"}
    assert titles(api, body("empty()")) == {"three"}
    assert titles(api, body("notEmpty()")) == {"one", "two"}
    for markup in ("like(<b>)", "like(class)", "like(loud)", "like(&amp;)", "like(<p>Hello)", ONE_BODY):
        assert titles(api, body(markup)) == set(), markup
    assert titles(api, body("notEquals(<div>Other</div>)")) == {"one", "two", "three"}


def test_query_global_search_and_nested_fields(api: Api):
    seed(api)
    assert titles(api, "_query=" + quote("or(filter('body','like(hello bold)'),filter('title','three'))")) == {
        "one", "three"}
    assert titles(api, "_query=" + quote("filter('body','like(<b)')")) == set()
    assert titles(api, "_globalSearch=bold") == {"one"}
    assert titles(api, "_globalSearch=" + quote('"deep item"')) == {"two"}
    assert titles(api, "_globalSearch=loud") == set()
    assert titles(api, "notes.note=" + quote("like(deep item)")) == {"two"}
    assert titles(api, "notes.note=" + quote("deep item")) == {"two"}
    assert titles(api, "notes.note=" + quote("like(<i>)")) == set()
    assert titles(api, "notes=" + quote(json.dumps({"note": "like(deep)", "tag": "t1"}))) == {"two"}
    assert titles(api, "notes=" + quote(json.dumps({"note": "like(deep)", "tag": "t2"}))) == set()


def test_aggregate_match_on_the_visible_text(api: Api):
    seed(api)
    response = api.put("/data/docs/aggregate", json=[{"match": {"body": "like(hello bold)"}}])
    assert response.status_code == 200, response.get_json()
    rows = response.get_json()["items"]
    assert [r["title"] for r in rows] == ["one"] and rows[0]["body"] == ONE_BODY
    assert "_text" not in json.dumps(rows)
    empty = api.put("/data/docs/aggregate", json=[{"match": {"body": "like(class)"}}]).get_json()
    assert empty["items"] == []


def test_no_response_shows_the_visible_text(app: Flask, api: Api):
    records = seed(api)
    stored = app.extensions["runtime"].records.collection("docs").find_one({"title": "two"})
    assert stored["_text"] == {"body": "Other"} and stored["notes"][0]["_text"] == {"note": "deep item"}
    one, two = records["one"]["id"], records["two"]["id"]
    assert records["one"]["body"] == ONE_BODY
    updated = api.put(f"/data/docs/{one}", json={"title": "one"})
    responses = [
        updated,
        api.get(f"/data/docs/{one}"), api.get(f"/data/docs/{two}"),
        api.get("/data/docs"), api.get("/data/docs?_fields=body,notes"),
        api.get("/data/docs?_fields=notes.note"), api.get("/data/docs?_format=plainText"),
        api.get(f"/data/docs/{two}/history"), api.get("/data/docs/history"),
        api.put("/data/docs/aggregate", json=[{"group": {"by": "body", "n": "count()"}}]),
        api.put("/data/docs/aggregate", json=[{"group": {"by": "title", "notes": "first(notes)"}}]),
    ]
    for response in responses:
        assert response.status_code == 200, response.get_json()
        assert "_text" not in response.get_data(as_text=True)
    assert api.get(f"/data/docs/{one}").get_json()["body"] == ONE_BODY
    _, rows = run_export(api, "docs")
    assert "_text" not in json.dumps(rows) and ONE_BODY in rows[1] + rows[2] + rows[3]


def test_import_then_filter(api: Api):
    assert api.put("/metadata/entities/docs", json=DOCS).status_code == 200
    job = run_import(api, "docs", 'title,body\nimported,"<p>From <em>the</em> file</p>"\n')
    assert job["status"] == "FINISHED", job
    assert titles(api, body("like(from the file)")) == {"imported"}
    assert titles(api, body("like(<em>)")) == set()


def test_records_stored_without_the_visible_text_are_found_until_rewritten(app: Flask, api: Api):
    seed(api)
    col = app.extensions["runtime"].records.collection("docs")
    oid = ObjectId()
    col.insert_one({"_id": oid, "version": 0, "label": "old", "title": "old", "body": "<p>Legacy <b>note</b></p>",
                    "notes": [{"id": ObjectId(), "label": "Notes", "note": "<i>kept</i>"}]})
    assert titles(api, body("like(Legacy)")) == {"old"}  # compared on the stored value
    assert titles(api, "notes.note=like(kept)") == {"old"}
    assert titles(api, body("empty()")) == {"three"}
    assert titles(api, "_globalSearch=legacy") == {"old"}
    assert api.put(f"/data/docs/{oid}", json={"title": "old"}).status_code == 200  # any write adds it
    assert titles(api, body("like(Legacy note)")) == {"old"}
    assert titles(api, body("like(<b>)")) == set()


def test_text_to_html_and_back(api: Api):
    defn = {**DOCS, "fields": [{"name": "title", "type": "text"}, {"name": "body", "type": "text"}]}
    assert api.put("/metadata/entities/docs", json=defn).status_code == 200
    create(api, "docs", {"title": "a", "body": "x < y & z"})
    create(api, "docs", {"title": "b", "body": "<b>tag</b> as text"})
    for kind, expected_body in (("html", "x &lt; y &amp; z"), ("text", "x &lt; y &amp; z")):
        current = api.get("/metadata/entities/docs").get_json()
        current["fields"][1]["type"] = kind
        response = api.put("/metadata/entities/docs", json=current)
        assert response.status_code == 200, response.get_json()
        job = wait_for_job(api, response.get_json()["refactoring"]["jobId"])
        assert job["status"] == "FINISHED", job
        assert api.get("/data/docs?title=a").get_json()["items"][0]["body"] == expected_body
        if kind == "html":
            assert titles(api, body("x < y & z")) == {"a"}
            assert titles(api, body("like(tag as text)")) == {"b"}
            assert titles(api, body("like(&lt;)")) == set()
        else:  # a text field compares what it stores
            assert titles(api, body("like(&lt;)")) == {"a"}
            assert titles(api, body("x < y & z")) == set()


def test_set_based_update_keeps_the_visible_text(api: Api):
    definition = {"name": "posts", "history": False, "recordLabel": "#{title}",
                  "fields": [{"name": "title", "type": "text"}, {"name": "body", "type": "html"}],
                  "actions": [{"name": "publish", "type": "manyRecords", "update": {"body": "<p>Done <b>now</b></p>"}},
                              {"name": "clear", "type": "manyRecords", "update": {"body": None}}]}
    assert api.put("/metadata/entities/posts", json=definition).status_code == 200
    create(api, "posts", {"title": "a", "body": "<p>draft</p>"})
    create(api, "posts", {"title": "b", "body": "<p>draft</p>"})

    def found(query: str) -> set[str]:
        return {r["title"] for r in api.get(f"/data/posts?{query}").get_json()["items"]}
    assert api.put("/data/posts/publish?title=a").status_code == 200
    assert found("body=" + quote("Done now")) == {"a"} and found("body=like(draft)") == {"b"}
    assert api.put("/data/posts/clear?title=b").status_code == 200
    assert found("body=empty()") == {"b"} and found("body=like(draft)") == set()
