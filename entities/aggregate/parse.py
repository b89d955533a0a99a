"""The request body → an ordered list of ``(stage name, settings)``, rejecting anything Mongo-like.

Accepted forms (platform-facts §2.1): a JSON list of one-key objects; a single object instead of a
list; objects with several keys (run in key order); and stage objects separated by commas with no
surrounding brackets, as some samples show.
"""

from __future__ import annotations

from typing import Any

from core.errors import BadRequest
from core.http import loads_safe
from entities.aggregate.context import stage_error

Stage = tuple[str, Any]
MAX_STAGES = 100


def parse_body(raw: bytes) -> Any:
    """JSON of the body; ``{..},{..}`` without brackets is read as a list."""
    if not raw or not raw.strip():
        raise BadRequest("The body must be a JSON list of stages, e.g. [{\"match\": {...}}, {\"group\": {...}}]")
    try:
        return loads_safe(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        error = exc
    try:
        wrapped = loads_safe(b"[" + raw + b"]")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(f"Malformed JSON in request body: {error}") from None
    if all(isinstance(s, dict) for s in wrapped):
        return wrapped
    raise BadRequest(f"Malformed JSON in request body: {error}")


def normalize(body: Any) -> list[Stage]:
    """The stages in order; every key or string starting with ``$`` anywhere is a 400."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise BadRequest("The body must be a JSON list of stage objects (or a single stage object)")
    if not body:
        raise BadRequest("The pipeline is empty: send at least one stage")
    stages: list[Stage] = []
    for position, item in enumerate(body, start=1):
        if not isinstance(item, dict):
            raise BadRequest(f"Element {position} of the pipeline must be an object like {{\"match\": {{...}}}}")
        if not item:
            raise BadRequest(f"Element {position} of the pipeline is an empty object: a stage needs a name")
        stages.extend(item.items())
    if len(stages) > MAX_STAGES:
        raise BadRequest(f"The pipeline has {len(stages)} stages; at most {MAX_STAGES} are allowed")
    for index, (name, settings) in enumerate(stages, start=1):
        found = find_dollar({name: settings})
        if found is not None:
            raise stage_error(index, None, f"'{found}' is not allowed: keys and values starting with '$' are "
                                           "rejected (only the documented stages and operators can be used)")
    return stages


def find_dollar(value: Any) -> str | None:
    """The first key or string value that starts with ``$`` (at any depth), or None."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            for key, inner in current.items():
                if not isinstance(key, str) or key.lstrip().startswith("$"):
                    return str(key)
                pending.append(inner)
        elif isinstance(current, list):
            pending.extend(current)
        elif isinstance(current, str) and current.lstrip().startswith("$"):
            return current
    return None
