"""The baseline of ``bench/http_bench.py``: a bare Flask + pymongo app doing the same reads as the runtime.

``gunicorn bench.bare_app:app`` with ``MONGODB_URI``, ``MONGODB_DB`` and ``BENCH_COLLECTION`` set. No auth,
no metadata, no validation: one ``find_one`` by id, or one ``find`` (20, newest first) plus its ``count``."""

from __future__ import annotations

import os
from typing import Any

import pymongo
from bson import ObjectId
from flask import Flask, jsonify, request

app = Flask("bare")
_client = pymongo.MongoClient(os.environ["MONGODB_URI"], tz_aware=False)
_col = _client[os.environ.get("MONGODB_DB", "runtime")][os.environ["BENCH_COLLECTION"]]


def _out(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc["id"] = str(doc.pop("_id"))
    return doc


@app.get("/records/<record_id>")
def one(record_id: str):
    doc = _col.find_one({"_id": ObjectId(record_id)}, {"_hist": 0})
    return (jsonify(_out(doc)), 200) if doc else (jsonify({"message": "not found"}), 404)


@app.get("/records")
def listed():
    cond = {"group": int(request.args["group"])}
    docs = [_out(d) for d in _col.find(cond, {"_hist": 0}).sort("_id", pymongo.DESCENDING).limit(20)]
    return jsonify({"total": _col.count_documents(cond), "items": docs})
