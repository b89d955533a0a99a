"""``_query``: ``or(filter('a','x'),and(filter('b','greater(3)'),...))``, nested to any depth.

Grammar (whitespace between tokens is ignored)::

    expr   := ("and" | "or") "(" expr ("," expr)* ")"  |  "filter" "(" string "," string ")"
    string := "'" characters "'"      -- inside, \\' or '' is a quote and \\\\ a backslash

Each ``filter`` is an ordinary field filter (operators, comma lists, JSON objects for nested groups).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from entities.query.values import bad

MAX_LENGTH = 20000
MAX_DEPTH = 32
Leaf = Callable[[str, str], dict[str, Any]]


class _Parser:
    def __init__(self, text: str, leaf: Leaf, param: str):
        self.text, self.pos, self.leaf, self.param = text, 0, leaf, param

    def fail(self, reason: str) -> Exception:
        return bad(self.param, f"{reason} at position {self.pos}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def expect(self, char: str) -> None:
        self.skip()
        if not self.text.startswith(char, self.pos):
            raise self.fail(f"expected '{char}'")
        self.pos += 1

    def name(self) -> str:
        self.skip()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isalpha():
            self.pos += 1
        return self.text[start:self.pos]

    def string(self) -> str:
        self.expect("'")
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
            elif ch == "'" and self.text.startswith("''", self.pos):
                out.append("'")
                self.pos += 2
            elif ch == "'":
                self.pos += 1
                return "".join(out)
            else:
                out.append(ch)
                self.pos += 1
        raise self.fail("unterminated string")

    def expr(self, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels")
        start = self.pos
        word = self.name()
        if word == "filter":
            self.expect("(")
            path = self.string()
            self.expect(",")
            value = self.string()
            self.expect(")")
            return self.leaf(path, value)
        if word in ("and", "or"):
            self.expect("(")
            parts = [self.expr(depth + 1)]
            self.skip()
            while self.text.startswith(",", self.pos):
                self.pos += 1
                parts.append(self.expr(depth + 1))
                self.skip()
            self.expect(")")
            parts = [p for p in parts if p]
            if not parts:
                return {}
            return parts[0] if len(parts) == 1 else {f"${word}": parts}
        self.pos = start
        raise self.fail("expected and(...), or(...) or filter('field','value')")


def parse_complex(text: str, leaf: Leaf, param: str = "_query") -> dict[str, Any]:
    """The Mongo filter for a ``_query`` expression; ``leaf(path, value)`` builds each ``filter``."""
    if len(text) > MAX_LENGTH:
        raise bad(param, f"at most {MAX_LENGTH} characters")
    parser = _Parser(text, leaf, param)
    result = parser.expr(0)
    parser.skip()
    if parser.pos != len(text):
        raise parser.fail("unexpected text after the expression")
    return result
