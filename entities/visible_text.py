"""The visible text of a field with markup (html), which filters and global search compare against.

A record stores, beside its values, the visible text of each markup value under ``TEXT_KEY`` (``{name: text}``,
in the record and in each nested item that has such a field); the API never shows it (renders, exports and
history go by the definition's fields). The lifecycle sets it on every write (``set_visible_text``); records
stored without it are compared on their stored value (``entities.query.operators``).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from entities.metadata import Entity, Field

TEXT_KEY = "_text"

# Tags that start a new line or cell when shown: their text is separated from the text around it.
_BLOCKS = frozenset({"address", "article", "blockquote", "br", "caption", "dd", "div", "dl", "dt", "h1", "h2", "h3",
                     "h4", "h5", "h6", "hr", "li", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot",
                     "th", "thead", "tr", "ul"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append(" ")


def html_text(html: str) -> str:
    """``<p>Hello <b>bold</b></p><p>a &amp; b</p>`` → ``Hello bold a & b``: tags removed, entities decoded,
    every run of whitespace (between blocks too) one space."""
    if "<" not in html and "&" not in html:
        return " ".join(html.split())
    parser = _Text()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())


# (field, its inner plan when it is a nested group holding markup fields, else None)
Plan = list[tuple["Field", "Plan | None"]]


def _plan(fields: list[Field]) -> Plan:
    out: Plan = []
    for f in fields:
        if f.is_nested:
            inner = _plan(f.nested)
            if inner:
                out.append((f, inner))
        elif f.type.visible_text is not None:
            out.append((f, None))
    return out


def markup_plan(entity: Entity) -> Plan:
    """The entity's fields with markup, and the nested groups that hold some (empty for most entities)."""
    return entity.derived("_markup_plan", lambda e: _plan(e.fields))


def set_visible_text(entity: Entity, doc: dict[str, Any]) -> None:
    """Set ``doc``'s ``TEXT_KEY`` (and its nested items') from its markup values, in place; a nested item that
    changes is replaced by a copy, so items shared with another document are left as they are."""
    plan = markup_plan(entity)
    if plan:
        _set(plan, doc)


def _set(plan: Plan, doc: dict[str, Any]) -> None:
    texts: dict[str, Any] = {}
    for f, inner in plan:
        value = doc.get(f.name)
        if value is None:
            continue
        if inner is not None:
            doc[f.name] = [_item(inner, v) for v in value] if isinstance(value, list) else _item(inner, value)
            continue
        show = f.type.visible_text
        assert show is not None
        if isinstance(value, list):
            texts[f.name] = [show(v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, str):
            texts[f.name] = show(value)
    if texts:
        doc[TEXT_KEY] = texts
    else:
        doc.pop(TEXT_KEY, None)


def _item(plan: Plan, item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    out = dict(item)
    _set(plan, out)
    return out


def text_updates(entity: Entity, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``($set, $unset)`` of the visible texts for a set-based update of top-level ``values``."""
    sets: dict[str, Any] = {}
    unsets: dict[str, Any] = {}
    for f, inner in markup_plan(entity):
        if inner is not None or f.name not in values:
            continue
        probe: dict[str, Any] = {f.name: values[f.name]}
        _set([(f, None)], probe)
        key = f"{TEXT_KEY}.{f.name}"
        if TEXT_KEY in probe:
            sets[key] = probe[TEXT_KEY][f.name]
        else:
            unsets[key] = ""
    return sets, unsets
