"""The field paths a query names (not the values it compares them with): what a permission check looks at.

A value is never read as a path, so filtering ``name`` by the text ``notes`` names ``name`` only. A JSON-object
value names the inner paths it compares (``contactInformation={"email": ...}`` names ``contactInformation.email``).
"""

from __future__ import annotations

from typing import Any

from core.http import loads_safe
from entities.query.complex import parse_complex
from entities.query.values import QueryError

QUERY_MAP_LOGICAL = ("_or", "_and")


def object_paths(path: str, value: Any) -> list[str]:
    """The inner paths a filter value names when it is a JSON object (given parsed or as text): matching a nested
    group by ``{"email": ...}`` under ``contactInformation`` tests ``contactInformation.email``, and a
    relationship by ``{"notes": ...}`` tests the related record's ``notes``."""
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith(("{", "[")):
            return []
        try:
            value = loads_safe(text)
        except (ValueError, RecursionError):
            return []  # not JSON: the query parser reports it
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            inner_path = f"{path}.{key}"
            found.append(inner_path)
            found.extend(object_paths(inner_path, inner))
    elif isinstance(value, list):
        for inner in value:
            found.extend(object_paths(path, inner))
    return found


def complex_paths(text: str) -> list[str] | None:
    """The paths of every ``filter('path','value')`` of a ``_query`` expression; None when it does not parse
    (the query parser then answers 400)."""
    paths: list[str] = []

    def leaf(path: str, value: str) -> dict[str, Any]:
        paths.extend([path, *object_paths(path, value)])
        return {}

    try:
        parse_complex(text, leaf)
    except QueryError:
        return None
    return paths


def map_paths(mapping: Any) -> list[str]:
    """The paths a query map names (the aggregate ``match`` on records): its keys, the inner paths of JSON-object
    values, and those of ``_or``/``_and`` and ``_query`` at any depth."""
    if not isinstance(mapping, dict):
        return []
    paths: list[str] = []
    for key, value in mapping.items():
        if key in QUERY_MAP_LOGICAL:
            for part in value if isinstance(value, list) else [value]:
                paths.extend(map_paths(part) if isinstance(part, dict) else [])
        elif key == "_query" and isinstance(value, str):
            paths.extend(complex_paths(value) or [])
        elif isinstance(key, str) and not key.startswith("_"):
            paths.extend([key, *object_paths(key, value)])
    return paths
