"""App code named ``module:function``: action, listener and schedule handlers live in the ``APP_MODULES``."""

from __future__ import annotations

import importlib
from typing import Any


def resolve_handler(spec: str, modules: tuple[str, ...]) -> Any:
    """Import ``module:function`` if the module is one of ``modules`` (or inside one); else ValueError."""
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name.isidentifier():
        raise ValueError("A handler is named 'module:function'")
    if not any(module_name == m or module_name.startswith(m + ".") for m in modules):
        raise ValueError(f"Module '{module_name}' is not listed in APP_MODULES ({', '.join(modules) or 'none'})")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"Module '{module_name}' cannot be imported: {exc}") from None
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise ValueError(f"'{spec}' is not a function")
    return fn


def check_handler(spec: Any, modules: tuple[str, ...]) -> str | None:
    """The problem with a handler reference, or None when it resolves."""
    if not isinstance(spec, str):
        return "A handler is named 'module:function'"
    try:
        resolve_handler(spec, modules)
    except ValueError as exc:
        return str(exc)
    return None
