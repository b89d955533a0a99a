"""Small request helpers shared by the routes: JSON bodies, booleans, query parameter values (the 400 that names
a bad one, comma lists of names, periods), the paged list shape."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from bson import ObjectId
from bson.errors import InvalidId
from flask import g, request
from flask.json.provider import DefaultJSONProvider

from core.errors import BadRequest, field_error
from core.periods import PeriodError, parse_period

MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
# a surrogate can only come from a \uD800-\uDFFF escape or from its (surrogatepass) UTF-8 bytes ED A0-BF
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


class UnsafeJSON(ValueError):
    """JSON that parses but must not reach the runtime: nested too deeply, or text that is not Unicode.
    ``path`` names the offending value (``fields[0].label``) when there is one."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


def _refuse_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity``, which Python's parser takes but JSON does not have."""
    raise ValueError(f"{name} is not a JSON number (numbers must be finite)")


class JsonFloat(float):
    """A JSON number with more significant digits than a float keeps: the float, and in ``text`` the number as the
    body wrote it (a field that stores exact decimals reads that)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonFloat:
        number = super().__new__(cls, text)
        number.text = text
        return number


_SIGNIFICANT = re.compile(r"[1-9][0-9]*")  # from the first significant digit on (of the part before the exponent)


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or an exponent; one too large for a float (``1e400``) would read as infinity.
    A float holds any number of 15 significant digits exactly as written; one with more keeps its text too."""
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:40]} is too large")
    if len(text) > 16:
        mantissa = text.partition("e")[0].partition("E")[0].replace(".", "").replace("-", "")
        digits = _SIGNIFICANT.search(mantissa)
        if digits is not None and len(digits.group().rstrip("0")) > 15:
            return JsonFloat(text)
    return number


# one decoder for every body (json.loads with options would build one per call); the hooks cost nothing to a body
# without floats or constants
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def loads_safe(raw: bytes | str) -> Any:
    """``json.loads`` that refuses nesting deeper than ``MAX_JSON_DEPTH`` before parsing (the parser recurses),
    strings with a lone surrogate (``"\\ud800"``: not Unicode, so no store can hold it) and numbers that are not
    finite (``NaN``, ``Infinity``, ``1e400``: not JSON, so no response could carry them back)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:  # fewer openings cannot nest that deep
        depth = deepest = 0
        for bracket in _BRACKET.findall(_STRING.sub(b'""', data)):
            depth += 1 if bracket in b"[{" else -1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    raise UnsafeJSON(f"nested deeper than {MAX_JSON_DEPTH} levels")
    value = _DECODER.decode(data.decode(json.detect_encoding(data), "surrogatepass"))
    if not _MAYBE_SURROGATE.search(data):  # no escape or byte sequence that could make one
        return value
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJSON("a string holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode",
                         _surrogate_path(value, "")) from None
    return value


def _surrogate_path(value: Any, path: str) -> str | None:
    """Where the first string that is not valid Unicode is (a key or a value), as a field path."""
    def bad(text: str) -> bool:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, str):
        return path if bad(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        here = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
        if isinstance(key, str) and bad(key):
            return path or "body"
        found = _surrogate_path(inner, here)
        if found is not None:
            return found
    return None


def dumps_finite(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes ``NaN`` or ``Infinity`` (not JSON: strict clients cannot parse them). A value
    that is not finite (one stored before bodies refused them, one a handler computed) is written as ``null``, so a
    bad value makes no read fail; the second pass runs only when the first met such a value."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:
        pass
    default = kwargs.pop("default", None)
    if default is not None:
        kwargs["default"] = lambda obj: _finite(default(obj))
    return json.dumps(_finite(value), allow_nan=False, **kwargs)


def _finite(value: Any) -> Any:
    """``value`` with every float that is not finite (in a list, tuple or dict, keys too) made None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_finite(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# what Flask's encoder hands its ``default`` (dates as HTTP dates, dataclasses through ``asdict``) goes there too
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON with ``loads_safe``: bodies read through ``request.get_json`` get the same limits.

    Responses are written by orjson (a tenth of the standard encoder's time; the JSON answer was the largest
    single cost of a small request), the same text as before but for non-ASCII characters, which it writes as
    UTF-8 instead of ``\\u`` escapes. Whatever orjson does not write as the standard encoder would (integers
    past 64 bits, keys that are not strings, lone surrogates, float subclasses, values ``default`` refuses)
    goes through ``dumps_finite`` as before; both write a float that is not finite as ``null``."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_safe(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if not kwargs:
            encoded = self._orjson(obj)
            if encoded is not None:
                return encoded.decode()
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return dumps_finite(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        """As Flask's (compact JSON and a final newline, indented in debug mode), written by orjson."""
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        encoded = self._orjson(obj)
        if encoded is None:
            return super().response(obj)
        return self._app.response_class(encoded + b"\n", mimetype=self.mimetype)

    def _orjson(self, obj: Any) -> bytes | None:
        """``obj`` as orjson writes it, or None when the standard encoder must decide."""
        options = _ORJSON_OPTIONS | orjson.OPT_SORT_KEYS if self.sort_keys else _ORJSON_OPTIONS
        try:
            return orjson.dumps(obj, default=self.default, option=options)
        except orjson.JSONEncodeError:
            return None


def json_body(default: Any = None) -> Any:
    """The parsed JSON body; an empty body gives ``default``; anything unparsable is a 400 that says so."""
    raw = request.get_data(cache=True)
    if not raw or not raw.strip():
        return default
    try:
        return loads_safe(raw)
    except UnsafeJSON as exc:
        errors = [field_error(exc.path, "invalid", str(exc))] if exc.path else None
        raise BadRequest(f"Malformed JSON in request body: {exc}", errors=errors) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"Malformed JSON in request body: {exc}") from None


def json_object(default: Any = None) -> dict[str, Any]:
    body = json_body(default)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


def parse_bool(raw: str) -> bool:
    """The one boolean parser of request and file values: ``true/1/yes`` → True, ``false/0/no`` → False (any case,
    blanks around ignored); anything else is a ValueError."""
    low = raw.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise ValueError(f"{raw!r} is not true or false")


def preset_record_id() -> ObjectId | None:
    """The id a create in this request must give its record, when the request fixed one (an Idempotency-Key
    does, so that a retried create is the same insert); None lets the store pick."""
    return g.get("preset_record_id")


def page(total: int, docs: list[dict[str, Any]], render: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """A listing's ``{total, offset, items}``: ``offset`` is the id of the last document, sent back as ``_offset``."""
    return {"total": total, "offset": str(docs[-1]["_id"]) if docs else None, "items": [render(d) for d in docs]}


def arg_flag(name: str, default: bool) -> bool:
    """A boolean query parameter a route's schema does not declare (``parse_bool``); 400 when malformed."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_bool(raw)
    except ValueError:
        raise invalid_param(name, "must be true or false") from None


def invalid_param(name: str, reason: str, rejected: Any = None, code: str = "invalid") -> BadRequest:
    """The 400 of a bad query parameter, as the schemas' checks (``core.api``) give it: the message and its one
    field error name the parameter (with the ``rejected`` value, when given)."""
    return BadRequest(f"Invalid query parameter '{name}': {reason}",
                      errors=[field_error(name, code, reason, rejected=rejected)])


def name_list(raw: str | Iterable[str] | None, allowed: Sequence[str], name: str) -> tuple[str, ...]:
    """Query parameter ``name``: a comma list (or a list) of upper-case names such as log levels or job statuses,
    accepted in any case; upper-cased, each one of ``allowed``, duplicates dropped."""
    values = raw.split(",") if isinstance(raw, str) else list(raw or ())
    wanted = [v.strip().upper() for v in values if v.strip()]
    bad = [v for v in wanted if v not in allowed]
    if bad:
        raise invalid_param(name, f"must be a comma list of {', '.join(allowed)}; got {', '.join(bad)}")
    return tuple(dict.fromkeys(wanted))


def period_param(raw: str, name: str = "period") -> tuple[int, int]:
    """Query parameter ``name`` read by ``parse_period``: (from, to) in epoch millis."""
    try:
        return parse_period(raw)
    except PeriodError as exc:
        raise invalid_param(name, str(exc)) from None


MAX_SKIP = 2**31 - 1


def offset_param(raw: str | None, what: str) -> tuple[int, ObjectId | None]:
    """Query parameter ``_offset`` of a paged list: the id of the last ``what`` of a previous page (the ``offset``
    of its response) → (0, id), or a number of items to skip → (n, None); absent → (0, None)."""
    if raw in (None, ""):
        return 0, None
    assert raw is not None
    if raw.isascii() and raw.isdigit() and len(raw) < 24:
        if int(raw) > MAX_SKIP:
            raise invalid_param("_offset", f"a numeric offset is at most {MAX_SKIP}")
        return int(raw), None
    try:
        return 0, ObjectId(raw)
    except (InvalidId, TypeError):
        raise invalid_param("_offset", f"must be the offset of a previous response (a {what} id) or a number",
                            rejected=raw) from None
