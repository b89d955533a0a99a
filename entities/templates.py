"""A tiny, safe template language for record labels and calculated fields: ``#{field}``, ``#{nested.field}``.

Templates only substitute values; there is no evaluation of user text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_PLACEHOLDER = re.compile(r"#\{\s*([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)\s*\}")


class TemplateError(ValueError):
    pass


class Template:
    def __init__(self, source: Any):
        if not isinstance(source, str) or not source:
            raise TemplateError("A template must be a non-empty string")
        if len(source) > 500:
            raise TemplateError("A template is at most 500 characters")
        leftover = _PLACEHOLDER.sub("", source)
        if "#{" in leftover:
            raise TemplateError("Placeholders look like #{field} or #{nested.field}")
        self.source = source
        self.paths = [m.group(1) for m in _PLACEHOLDER.finditer(source)]

    def render(self, lookup: Callable[[str], str]) -> str:
        return _PLACEHOLDER.sub(lambda m: lookup(m.group(1)), self.source)
