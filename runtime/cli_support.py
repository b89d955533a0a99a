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
    """The JSON of every ``*.json`` file in ``folder``, in name order. A path that is missing or not a folder, a
    folder with no such file, or a file that is not JSON stops the command with a message (exit code 1)."""
    path = Path(folder)
    if not path.exists():
        raise SystemExit(f"{folder}: no such folder")
    if not path.is_dir():
        raise SystemExit(f"{folder}: not a folder (give the folder that holds the *.json files)")
    files = sorted(path.glob("*.json"))
    if not files:
        raise SystemExit(f"{folder}: no *.json files in this folder")
    definitions = []
    for path in files:
        try:
            definitions.append(json.loads(path.read_text()))
        except ValueError as exc:
            raise SystemExit(f"{path}: not valid JSON: {exc}") from None
    return definitions


def apply_folder(svc: Services, folder: str) -> list[tuple[str, str]]:
    """Apply every ``*.json`` definition in ``folder`` (idempotent). Returns (name, created|updated|unchanged).

    Every file is validated before any is saved, so an invalid one leaves the stored metadata as it was.
    Relationships may point at entities defined anywhere in the folder (``known_names``, ``batch``)."""
    outcome = []
    for ready in _prepare_all(svc, load_folder(folder)):
        before = _version(svc, ready[1].name)
        try:
            entity, created = svc.registry.save(ready[0], prepared=ready)
        except ApiError as exc:
            raise SystemExit(f"{ready[1].name}: {exc.message} {exc.errors}") from None
        state = "created" if created else ("updated" if entity.version != before else "unchanged")
        outcome.append((entity.name, state))
    return outcome


def _prepare_all(svc: Services, definitions: list[Any]) -> list[tuple[dict[str, Any], Any, Any]]:
    """Every definition validated (``Registry.prepare``), in the given order, before anything is saved. A rule
    naming another entity of the folder (copied fields) is checked once that entity is validated, whatever the
    order of the files; a definition that stays invalid stops the command."""
    known = {d["name"] for d in definitions if isinstance(d, dict) and isinstance(d.get("name"), str)}
    batch: dict[str, Any] = {}
    ready: dict[int, tuple[dict[str, Any], Any, Any]] = {}
    pending = list(range(len(definitions)))
    while pending:
        failed: list[tuple[int, ApiError]] = []
        for i in pending:
            try:
                ready[i] = svc.registry.prepare(definitions[i], known_names=known, batch=batch)
            except ApiError as exc:
                failed.append((i, exc))
                continue
            batch[ready[i][1].name] = ready[i][1]
        if len(failed) == len(pending):
            i, exc = failed[0]
            raw = definitions[i]
            name = raw.get("name") if isinstance(raw, dict) else None
            raise SystemExit(f"{name or f'file {i + 1}'}: {exc.message} {exc.errors}; nothing was applied")
        pending = [i for i, _ in failed]
    return [ready[i] for i in range(len(definitions))]


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
