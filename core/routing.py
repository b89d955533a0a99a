"""Which route serves the request's path, for each method.

Several rules can match one path: ``/data/companies/aggregate`` matches ``PUT /data/<entity>/aggregate`` and the
generic ``/data/<entity>/<segment>`` rules. The path belongs to the rules with the most literal segments among
those matching it: OPTIONS lists their methods, and a generic rule reached by another method answers 405
naming them.
"""

from __future__ import annotations

from flask import request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect, Rule


def served_rules() -> dict[str, Rule]:
    """Method → the rule that serves it on this request's path, keeping only the most literal rules."""
    adapter = request_ctx.url_adapter
    if adapter is None:
        return {}
    rules: dict[str, Rule] = {}
    for method in adapter.allowed_methods():
        if method in ("HEAD", "OPTIONS"):
            continue
        try:
            rule, _ = adapter.match(method=method, return_rule=True)
        except (HTTPException, RequestRedirect):
            continue
        rules[method] = rule
    most = max((_literal_segments(r) for r in rules.values()), default=0)
    return {m: r for m, r in rules.items() if _literal_segments(r) == most}


def refuse_if_path_of_another_route() -> None:
    """405 naming the methods of the route that owns this path, when the request reached a less literal one (a
    generic ``/data/{entity}/{id}`` rule taking ``aggregate`` or ``history`` for an id or an action name)."""
    served = served_rules()
    if served and not any(rule is request.url_rule for rule in served.values()):
        raise MethodNotAllowed(valid_methods=sorted(served))


def _literal_segments(rule: Rule) -> int:
    return sum(1 for part in rule.rule.split("/") if part and "<" not in part)
