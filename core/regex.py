"""User-supplied regular expressions, evaluated in linear time (RE2).

Python's ``re`` backtracks: ``(a|a)*b`` over 30 characters takes minutes. RE2 guarantees time linear in
the input, at the price of back-references and look-around, which a pattern from a request must not use
(``SafeRegexError`` → a 400 at the caller). Every place that evaluates a pattern a user wrote (``like(/…/)``,
the aggregate ``match`` stage, ``_globalSearch``, a field's ``typeRules.pattern``, the embedded store's
``$regex``) goes through ``compile_safe``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

MAX_PATTERN = 2000


class SafeRegexError(ValueError):
    """The pattern is not valid, or uses what a linear-time engine cannot evaluate (back-references…)."""


def compile_safe(pattern: Any, ignore_case: bool = False, dot_all: bool = False,
                 multiline: bool = False) -> re2._Regexp:
    """A compiled RE2 pattern; ``SafeRegexError`` says what is wrong with one it refuses."""
    if not isinstance(pattern, str):
        raise SafeRegexError("a regular expression must be text")
    return _compile(pattern, ignore_case, dot_all, multiline)


@functools.lru_cache(maxsize=512)
def _compile(pattern: str, ignore_case: bool, dot_all: bool, multiline: bool) -> re2._Regexp:
    if len(pattern) > MAX_PATTERN:
        raise SafeRegexError(f"a regular expression is at most {MAX_PATTERN} characters")
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    options.dot_nl = dot_all
    options.one_line = not multiline
    options.max_mem = 8 << 20
    try:
        return re2.compile(("(?m)" if multiline else "") + pattern, options)
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise SafeRegexError(f"invalid or unsupported regular expression ({detail}); back-references and "
                             f"look-around are not supported") from None


def from_options(pattern: str, options: str = "") -> re2._Regexp:
    """A Mongo ``$regex`` with its ``$options`` letters (``i``, ``m``, ``s``; ``x`` is refused)."""
    if "x" in options:
        raise SafeRegexError("the x (extended) regular expression option is not supported")
    return compile_safe(pattern, "i" in options, "s" in options, "m" in options)


def from_flags(pattern: str, flags: int) -> re2._Regexp:
    """The same for a pattern compiled with Python ``re`` flags."""
    letters = ("i" if flags & re.IGNORECASE else "") + ("s" if flags & re.DOTALL else "") + \
              ("m" if flags & re.MULTILINE else "") + ("x" if flags & re.VERBOSE else "")
    return from_options(pattern, letters)
