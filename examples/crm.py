"""Action handlers of the sample app (listed in APP_MODULES by default).

Each handler is called as ``handler(ctx)``; see ``entities/actions/context.py`` for what ``ctx`` holds.
"""

from __future__ import annotations

from typing import Any


def log_something(ctx: Any) -> None:
    """oneRecord, parameters param1/param2: only logs them, so the response is the record as it is."""
    ctx.log("INFO", f"logSomething on {ctx.record['label']}: {ctx.params.get('param1')} {ctx.params.get('param2')}")


def custom_response(ctx: Any) -> str:
    """oneRecord with customResponse: the return value is the response."""
    return "This is a custom response"


def count_employees(ctx: Any) -> dict[str, int]:
    """manyRecords: one call over the whole selection; the return value is the response."""
    total = 0
    for record in ctx.records:
        if ctx.stop_requested():
            break
        total += record.get("numberOfEmployees") or 0
    return {"numberOfEmployees": total}


def add_contact(ctx: Any) -> dict[str, Any]:
    """oneRecord that writes to another entity through ctx.data (validated, with history)."""
    contact = ctx.data.create("contacts", {"firstName": ctx.params["firstName"], "lastName": ctx.params["lastName"],
                                           "company": {"id": ctx.record["id"]}})
    ctx.record["numberOfEmployees"] = (ctx.record.get("numberOfEmployees") or 0) + 1
    return contact


def create_sample(ctx: Any) -> dict[str, Any]:
    """global: no record, no query."""
    return ctx.data.create("companies", {"name": ctx.params["name"], "state": "pending"})


def nightly_report(ctx: Any) -> dict[str, int]:
    """A schedule handler: ``ctx.data`` reads records; the return value is the SCHEDULE job's response."""
    companies = ctx.data.find("companies", {"isCustomer": "true"})
    ctx.log("INFO", f"{len(companies)} customers at fire time {ctx.fire_time}")
    return {"customers": len(companies)}


def deal_won(event: dict[str, Any], record: dict[str, Any] | None, old_record: dict[str, Any] | None,
             ctx: Any) -> None:
    """A listener handler: called as ``handler(event, record, oldRecord, ctx)`` after the write is committed."""
    ctx.log("INFO", f"{event['event']}: deal {record['name']} is won ({record.get('amount')})")
