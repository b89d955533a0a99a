"""How answers are written as JSON: strict JSON, UTF-8, one final newline, and the values the fast encoder
leaves to the standard one (integers past 64 bits, lone surrogates) written all the same."""

from __future__ import annotations

import json

from flask import Flask

from tests.conftest import Api, company, create


def strict(raw: bytes) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"{name} is not JSON")
    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def test_an_answer_is_compact_utf8_json_with_a_final_newline(api: Api):
    record = create(api, "companies", company(name="Snow ☃ 😀 Ünïcode"))
    response = api.get(f"/data/companies/{record['id']}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    raw = response.get_data()
    assert raw.endswith(b"}\n") and b"\n" not in raw[:-1]
    assert "Snow ☃ 😀 Ünïcode".encode() in raw  # UTF-8, not \\u escapes
    assert b'", "' not in raw and b'": ' not in raw  # compact separators
    assert strict(raw)["name"] == "Snow ☃ 😀 Ünïcode"
    assert int(response.headers["Content-Length"]) == len(raw)


def test_keys_keep_the_order_the_record_is_rendered_in(api: Api):
    record = create(api, "companies", company())
    keys = list(strict(api.get(f"/data/companies/{record['id']}").get_data()))
    assert keys[:2] == ["id", "version"] and keys != sorted(keys)


def test_what_the_fast_encoder_leaves_to_the_standard_one_is_written_all_the_same(app: Flask):
    """Values no stored record holds but a computed answer may (an aggregate's sum of large integers, text
    built from a lone surrogate): the standard encoder writes them, as before."""
    with app.app_context():
        response = app.json.response({"sum": 2**70, "text": "x\ud800y", 3: "int key", "nan": float("nan")})
    raw = response.get_data()
    assert raw.endswith(b"\n")
    assert strict(raw) == {"sum": 2**70, "text": "x\ud800y", "3": "int key", "nan": None}
    with app.app_context():
        assert app.json.dumps({"a": float("inf")}) == '{"a":null}'
