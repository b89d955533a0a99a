"""What the CLI and the release step do: indexes, applying a folder of entity definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import ApiError
from core.services import Services
from entities.registry import ensure_data_indexes


def ensure_indexes(svc: Services) -> None:
    svc.auth.ensure_indexes()
    svc.registry.ensure_indexes()
    svc.history.ensure_indexes()
    for hook in svc.plugins.index_hooks:
        hook()
    for entity in svc.registry.all().values():
        ensure_data_indexes(svc.store, entity)


def load_folder(folder: str) -> list[dict[str, Any]]:
    files = sorted(Path(folder).glob("*.json"))
    definitions = []
    for path in files:
        try:
            definitions.append(json.loads(path.read_text()))
        except ValueError as exc:
            raise SystemExit(f"{path}: not valid JSON: {exc}") from None
    return definitions


def apply_folder(svc: Services, folder: str) -> list[tuple[str, str]]:
    """Apply every ``*.json`` definition in ``folder`` (idempotent). Returns (name, created|updated|unchanged)."""
    definitions = load_folder(folder)
    names = {d.get("name") for d in definitions if isinstance(d, dict)}
    outcome = []
    pending = list(definitions)
    # Relationships may point at entities defined later in the folder: the known names cover that.
    for raw in pending:
        before = _version(svc, raw.get("name"))
        try:
            entity, created = svc.registry.save(raw, known_names={n for n in names if isinstance(n, str)})
        except ApiError as exc:
            raise SystemExit(f"{raw.get('name')}: {exc.message} {exc.errors}") from None
        state = "created" if created else ("updated" if entity.version != before else "unchanged")
        outcome.append((entity.name, state))
    return outcome


def apply_groups_folder(svc: Services, folder: str) -> list[tuple[str, str]]:
    """Apply every ``*.json`` group in ``folder`` by name (idempotent): (name, created|updated|unchanged)."""
    groups = svc.groups
    outcome = []
    for raw in load_folder(folder):
        if not isinstance(raw, dict):
            raise SystemExit(f"{folder}: a group file holds one JSON object")
        try:
            doc, state = groups.apply(raw)
        except ApiError as exc:
            raise SystemExit(f"group {raw.get('name')}: {exc.message} {exc.errors}") from None
        outcome.append((doc["name"], state))
    return outcome


def _version(svc: Services, name: Any) -> int | None:
    try:
        return svc.registry.get(name).version if isinstance(name, str) else None
    except ApiError:
        return None
