"""Field types: everything a type does is a method or attribute of its ``FieldType`` class.

``load`` turns a REST value into the stored value (raising ``FieldInvalid``); ``dump`` renders a stored value
as REST JSON; ``text`` gives the human-readable form (``text_in`` for a reader in a timezone); ``parse_filter``
converts a query-string value and ``operators`` are the filters it allows; ``accumulators`` and
``missing_value`` shape aggregate output; ``cell_in``/``cell_out`` are its CSV cell; ``index_keys`` its indexes;
``resolve`` completes a reference (relationship, file) against the store; ``check_rules`` validates its
``typeRules`` in a definition.
Callers ask the type instead of testing its name, so a new type is one class here plus its tests.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import nh3

from core.errors import field_error
from core.http import parse_bool
from core.ids import parse_object_id
from core.periods import MAX_MILLIS, MIN_MILLIS
from core.regex import compile_safe
from entities.visible_text import html_text

if TYPE_CHECKING:
    from entities.metadata import Field

ALL_OPERATORS = frozenset({"equals", "notEquals", "empty", "notEmpty", "like", "greater", "greaterOrEquals",
                           "less", "lessOrEquals", "between"})
NO_LIKE = ALL_OPERATORS - {"like"}
EQUALITY = frozenset({"equals", "notEquals", "empty", "notEmpty"})
SCALAR_ACC = frozenset({"first", "last", "min", "max"})
NUMERIC_ACC = SCALAR_ACC | {"sum", "avg"}


_INTEGER = re.compile(r"^[+-]?\d+$")
_INT64 = 2**63 - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Shapes of _CELL_DATE_TIMES / the date format that fromisoformat reads exactly as strptime does (ASCII digits,
# zero-padded, milliseconds only): parsed without strptime. Z is UTC, as the formats without a zone.
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ISO_DATE_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{3})?)?Z)"
                            r"|(?: [0-9]{2}:[0-9]{2}(?::[0-9]{2})?))?$")
_CELL_DATE_TIMES = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d %H:%M:%S",
                    "%Y-%m-%d %H:%M", "%Y-%m-%d")

Errors = list[dict[str, Any]]
FIELD_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
ON_DELETE = ("none", "removeRelationship", "deleteRecord")  # what a relationship does when its target is deleted
EXTRA_DECIMALS = ("round", "truncate", "error")  # what a decimal does with more decimals than its rule allows


class References(Protocol):
    """What resolving a reference needs from the store (given by the records service)."""

    def relationship(self, field: Field, ref: dict[str, Any], path: str, errors: Errors) -> Any:
        """The stored value of a relationship written as ``{id}``, ``{label}`` or ``{lookup: {field: value}}``
        (what ``RelationshipType.load`` gives); None (and an error) if none."""

    def complete_file(self, ref: dict[str, Any]) -> str | None: ...

    def user(self, field: Field, ref: dict[str, Any], path: str, errors: Errors) -> Any:
        """The stored value of a user reference written as ``{id}`` or ``{email}``; None (and an error) if none."""

    def group(self, field: Field, ref: dict[str, Any], path: str, errors: Errors) -> Any:
        """The stored value of a group reference (what ``GroupType.load`` gives); None (and an error) if none."""


def rule_error(field: str, message: str, rejected: Any = None) -> dict[str, Any]:
    """A definition error in core.errors' field error shape."""
    return field_error(field, "invalid", message, rejected=rejected)


class FieldInvalid(Exception):
    """A value does not fit its field; ``code`` is ``invalid`` unless said otherwise."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class FieldType:
    name: str
    family: str
    operators: frozenset[str] = ALL_OPERATORS
    accumulators: frozenset[str] = SCALAR_ACC
    unique_allowed: bool = False
    sortable: bool = True
    writable: bool = True
    text_search: bool = False

    def load(self, value: Any, field: Field) -> Any:
        raise NotImplementedError

    def dump(self, stored: Any, field: Field) -> Any:
        return stored

    def text(self, stored: Any, field: Field) -> str:
        return "" if stored is None else str(self.dump(stored, field))

    def text_in(self, stored: Any, field: Field, tz: dt.tzinfo) -> str:
        """The text form for a reader in timezone ``tz`` (``_formatForUser``): only date-times depend on it."""
        return self.text(stored, field)

    def parse_filter(self, raw: str, field: Field) -> Any:
        return self.load(raw, field)

    def equal_forms(self, value: Any) -> list[Any]:
        """The stored values an ``equals`` (or ``notEquals``) filter value, as converted, stands for."""
        return [value]

    def range_forms(self, bounds: dict[str, Any]) -> list[dict[str, Any]]:
        """The stored ranges a comparison (``{"$gt": v}``, ``{"$gte": a, "$lte": b}``) stands for: any one."""
        return [bounds]

    def filter_value(self, value: Any, field: Field) -> Any:
        """Convert a filter value that arrived as JSON (aggregate ``match``) or as a string."""
        if isinstance(value, str):
            return self.parse_filter(value, field)
        return self.load(value, field)

    def like_path(self, path: str) -> str:
        return path

    # --- what callers ask instead of testing the type's name ------------------------------------

    reference_key: ClassVar[str | None] = None  # a reference (relationship, file) is found by this sub-key
    text_key: ClassVar[str | None] = None  # ... and read as text by this one (label, file name)
    importable: ClassVar[bool] = True  # an import writes it (read-only stamps and files are skipped)
    like_digits: ClassVar[bool] = False  # like() text keeps only digits (phone)
    holds_files: ClassVar[bool] = False  # its values are stored files (kept while referenced)
    numbered: ClassVar[bool] = False  # the runtime gives every new record the next number (autoIncrement)
    totals_keep_type: ClassVar[bool] = False  # aggregate sum() and avg() read as this type, not a plain number
    groups_by_key: ClassVar[bool] = False  # aggregate groups on the reference key, keeping the whole value
    sub_keys: ClassVar[tuple[str, ...]] = ()  # sub-fields every value carries (id, label, name), for aggregate
    # the text a value with markup shows (html): filters and global search compare it, not the stored value
    visible_text: ClassVar[Callable[[str], str] | None] = None
    filter_example: ClassVar[str | None] = None  # a filter value for the OpenAPI document, when not its example
    filter_key: ClassVar[str | None] = None  # filters and sorts read this sub-key of a value (dynamicChoice)
    index_allowed: ClassVar[bool] = True  # a definition may ask for an index (``indexable``)
    many_allowed: ClassVar[bool] = True  # a definition may make it multi-valued
    # a definition may give it a ``calculated`` template: its value is then the template's text read as a CSV cell
    # of the type is (references, nested groups, files and runtime-set values are not text)
    calculable: ClassVar[bool] = True
    index_kind: ClassVar[int | str] = 1  # the kind of its indexes: ascending, or "2dsphere" (geoPoint)
    # a bare filter value is looked up among the targets (a group by id, name or label): ``named_ids``
    finds_by_name: ClassVar[bool] = False
    # a definition may make it required / give it a default (facts §3.6: a boolean is never missing, dates of the
    # record are set by the runtime; files and nested groups take no default)
    required_allowed: ClassVar[bool] = True
    default_allowed: ClassVar[bool] = True

    @property
    def is_reference(self) -> bool:
        return self.reference_key is not None

    @property
    def is_nested(self) -> bool:
        return self.family == "nested"

    def key_path(self, path: str) -> str:
        """The stored key that identifies a value (``company.id`` for a relationship)."""
        return f"{path}.{self.reference_key}" if self.reference_key else path

    def missing_value(self) -> Any:
        """How an unset single value reads (records, aggregate output)."""
        return None

    def named_ids(self, values: list[Any]) -> list[Any]:
        """The ids of the targets bare filter values name, for a type that ``finds_by_name``."""
        raise NotImplementedError

    def stamp(self, created: bool) -> bool:
        """Whether the runtime sets this field to now on this write (created / modified dates)."""
        return False

    # a record created without a value gets ``value_after`` the highest value its entity holds (rank)
    sequenced: ClassVar[bool] = False
    # the stored values that count for that highest one: a value this type holds (an unconverted record may still
    # hold the text of the type the field had before)
    sequence_filter: ClassVar[dict[str, Any]] = {"$ne": None}

    def value_after(self, highest: Any) -> Any:
        """The value of a new record when the highest one stored is ``highest`` (None: none), for ``sequenced``."""
        raise NotImplementedError

    def set_by_runtime(self, field: Field) -> bool:
        """Whether the runtime, not a client, sets the values of ``field`` (a client value is refused as
        ``readOnly``, unless it is the one the record holds)."""
        return not self.writable

    def search_path(self, path: str) -> str | None:
        """The path global search looks in, or None when the type is not searched."""
        return path if self.text_search else None

    def target_entity(self, field: Field) -> str | None:
        """The entity a reference points at (relationships)."""
        return None

    def check_rules(self, rules: dict[str, Any], path: str, errors: Errors, entity_names: set[str] | None) -> None:
        """Type-specific ``typeRules`` checks of a definition (the common ones are in entities.metadata)."""

    def check_field(self, field: Field, path: str, errors: Errors) -> None:
        """Type-specific checks of a parsed field's options (multiplicity, required, default, calculated)."""


    def check_default(self, value: Any, field: Field) -> None:
        self.load(value, field)

    def default_value(self, value: Any, field: Field) -> Any:
        """An action parameter's default, as ``resolve`` takes it."""
        return self.load(value, field)

    def unique_index_options(self, key: str) -> dict[str, Any]:
        """The options of a unique index on ``key``: records without a value are left out (empty values are
        ignored, facts §3.6). A text value is empty when it is ``""`` as well, which a sparse index would count."""
        if self.family == "text":  # every non-empty string is greater than ""; MongoDB takes no $ne here
            return {"unique": True, "partialFilterExpression": {key: {"$gt": ""}}}
        return {"unique": True, "sparse": True}

    def index_keys(self, path: str, field: Field, top_level: bool) -> list[tuple[str, str, bool]]:
        """``(key, index name, unique)`` for the indexes a field of this type needs."""
        key = self.key_path(path)
        if field.unique and top_level:
            return [(key, f"unique_{path}", True)]
        if field.unique or field.indexable:
            return [(key, f"idx_{path}", False)]
        return []

    def resolve(self, field: Field, value: Any, path: str, refs: References, errors: Errors) -> Any:
        """Complete a loaded value against the store (a reference's label, a file's name)."""
        return value

    def cell_in(self, text: str, field: Field) -> Any:
        """The REST value of one (non-empty) CSV cell; ``FieldInvalid`` when malformed."""
        return text

    def cell_out(self, stored: Any, field: Field) -> str:
        """The CSV text of one (non-None) stored value."""
        return str(stored)

    def json_schema(self, field: Field, writing: bool) -> dict[str, Any] | None:
        """The OpenAPI schema of one value read (or, ``writing``, sent), with an ``example``, when the type gives
        its own; None: the document derives it from the type's name and family."""
        return None


# --- text family -------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^(https?|ftp)://[^\s]+$", re.IGNORECASE)
_MD_URL = re.compile(r"^\((?P<url>[^)]+)\)<(?P<label>[^>]*)>$")
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")

HTML_TAGS = {"a", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "div", "dl",
             "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "i", "img", "li", "ol", "p", "pre", "q", "small",
             "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
             "span", "hr"}
HTML_ATTRS = {
    "*": {"class"}, "a": {"href", "title"}, "blockquote": {"cite"}, "col": {"span", "width"},
    "colgroup": {"span", "width"}, "img": {"align", "alt", "height", "src", "title", "width"},
    "ol": {"start", "type"}, "q": {"cite"}, "table": {"summary", "width"},
    "td": {"abbr", "axis", "colspan", "rowspan", "width"},
    "th": {"abbr", "axis", "colspan", "rowspan", "width", "scope"},
    "ul": {"type"},
}
HTML_LINK_SCHEMES = {"http", "https", "ftp", "mailto"}  # a href; img src takes http and https only
_URL_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
_URL_NOISE = re.compile(r"[\t\n\r\x01-\x1f]")  # characters a browser drops from a URL before reading it


# False while values are loaded without their type rules (an import's ``performValidations=false``): lengths,
# patterns, ranges and the refusal of extra decimals are not checked; the value's format and structure are.
_RULES_CHECKED: ContextVar[bool] = ContextVar("type_rules_checked", default=True)


@contextmanager
def type_rules(checked: bool) -> Iterator[None]:
    """Load values with (True) or without (False) checking their fields' type rules, in this context (thread or
    task) only: an import skips them for its rows, and a listener it fires in its thread checks them again."""
    token = _RULES_CHECKED.set(checked)
    try:
        yield
    finally:
        _RULES_CHECKED.reset(token)


def _require_str(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldInvalid("Must be a string")
    return value


def _check_length(value: str, field: Field, default_max: int | None) -> None:
    if not _RULES_CHECKED.get():
        return
    rules = field.type_rules
    max_len = rules.get("maxLength", default_max)
    min_len = rules.get("minLength")
    if max_len is not None and len(value) > max_len:
        raise FieldInvalid(f"Must be at most {max_len} characters long")
    if min_len is not None and len(value) < min_len:
        raise FieldInvalid(f"Must be at least {min_len} characters long")


@dataclass(frozen=True)
class TextType(FieldType):
    default_max: int | None = 300

    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        _check_length(value, field, self.default_max)
        pattern = field.type_rules.get("pattern")
        if pattern and _RULES_CHECKED.get():
            compiled = compile_safe(pattern, ignore_case=bool(field.type_rules.get("caseInsensitive")))
            if compiled.fullmatch(value) is None:
                raise FieldInvalid(field.type_rules.get("hint") or f"Must match the pattern {pattern}")
        return value

    def parse_filter(self, raw: str, field: Field) -> Any:
        return raw


def _html_attribute(tag: str, attribute: str, value: str) -> str | None:
    """An image's ``src`` keeps only http(s) (or a relative URL); the sanitizer's schemes are a link's four."""
    if tag == "img" and attribute == "src":
        url = _URL_NOISE.sub("", value).strip("\x00 ").lower()  # as a browser reads it: " F\tTP:" is ftp
        scheme = _URL_SCHEME.match(url)
        if scheme is not None and scheme.group(1) not in ("http", "https"):
            return None
    return value


@dataclass(frozen=True)
class HtmlType(TextType):
    visible_text = staticmethod(html_text)

    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        _check_length(value, field, self.default_max)
        return nh3.clean(value, tags=HTML_TAGS, attributes=HTML_ATTRS, url_schemes=HTML_LINK_SCHEMES, link_rel=None,
                         attribute_filter=_html_attribute)


@dataclass(frozen=True)
class EmailType(TextType):
    def cell_in(self, text: str, field: Field) -> Any:
        return text.strip()


    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value).strip()
        if not _EMAIL.match(value) or len(value) > 254:
            raise FieldInvalid("Not a valid email address")
        return value


@dataclass(frozen=True)
class UrlType(TextType):
    def cell_in(self, text: str, field: Field) -> Any:
        return text.strip()


    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value).strip()
        md = _MD_URL.match(value)
        url = md.group("url") if md else value
        if not _URL.match(url) or len(value) > 2000:
            raise FieldInvalid("Not a valid URL")
        return value


@dataclass(frozen=True)
class PhoneType(TextType):
    like_digits: ClassVar[bool] = True

    def cell_in(self, text: str, field: Field) -> Any:
        return text.strip()

    def cell_out(self, stored: Any, field: Field) -> str:
        return self.text(stored, field)


    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        plus = value.strip().startswith("+")
        digits = re.sub(r"\D", "", value)
        if not 3 <= len(digits) <= 20:
            raise FieldInvalid("Not a valid phone number")
        return ("+" if plus else "") + digits

    def dump(self, stored: Any, field: Field) -> Any:
        if stored is None:
            return None
        plus = stored.startswith("+")
        d = stored.lstrip("+")
        if len(d) == 11:
            out = f"{d[0]}-{d[1:4]}-{d[4:7]}-{d[7:]}"
        elif len(d) == 10:
            out = f"{d[0:3]}-{d[3:6]}-{d[6:]}"
        else:
            out = d
        return ("+" if plus else "") + out

    def parse_filter(self, raw: str, field: Field) -> Any:
        return re.sub(r"[^\d+]", "", raw)

    def equal_forms(self, value: Any) -> list[Any]:
        """A number is stored with the leading ``+`` it was written with: ``17028459380`` and ``+17028459380``
        find it either way."""
        digits = value.lstrip("+") if isinstance(value, str) else ""
        return [digits, f"+{digits}"] if digits else [value]

    def range_forms(self, bounds: dict[str, Any]) -> list[dict[str, Any]]:
        """A range over the digits, whether the number was written with a ``+`` or not: one range over the
        numbers stored as digits and the same over those stored ``+digits`` (``+`` sorts before any digit, and
        every ``+digits`` before ``,``)."""
        digits = {op: str(v).lstrip("+") for op, v in bounds.items()}
        plain = {**digits, **({} if "$gt" in digits or "$gte" in digits else {"$gte": "0"})}
        plus = {op: "+" + v for op, v in digits.items()}
        plus.update({} if "$lt" in plus or "$lte" in plus else {"$lt": ","})
        plus.update({} if "$gt" in plus or "$gte" in plus else {"$gte": "+"})
        return [plain, plus]


# --- numbers -----------------------------------------------------------------------------------

def _check_range(value: float, field: Field) -> None:
    if not _RULES_CHECKED.get():
        return
    rules = field.type_rules
    if rules.get("min") is not None and value < rules["min"]:
        raise FieldInvalid(f"Must be greater than or equal to {rules['min']}")
    if rules.get("max") is not None and value > rules["max"]:
        raise FieldInvalid(f"Must be less than or equal to {rules['max']}")


@dataclass(frozen=True)
class IntegerType(FieldType):
    def load(self, value: Any, field: Field) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldInvalid("Must be an integer")
        if isinstance(value, float):
            if not value.is_integer():
                raise FieldInvalid("Must be an integer")
            value = int(value)
        if abs(value) > _INT64:
            raise FieldInvalid("Integer out of range")
        _check_range(value, field)
        return value

    def parse_filter(self, raw: str, field: Field) -> Any:
        try:
            return int(raw.strip())
        except ValueError:
            raise FieldInvalid(f"'{raw}' is not an integer") from None

    def cell_in(self, text: str, field: Field) -> Any:
        raw = text.strip()
        if _INTEGER.match(raw) and len(raw) < 19:  # fits in 64 bits
            return int(raw)
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise FieldInvalid(f"'{raw}' is not an integer") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise FieldInvalid(f"'{raw}' is not an integer")
        if abs(number) > _INT64:  # refused here, where the cell's text is at hand (int() of a long text fails)
            raise FieldInvalid(f"'{raw}' is out of range")
        return int(number)

    def cell_out(self, stored: Any, field: Field) -> str:
        return str(int(stored))


def check_extra_decimals(rules: dict[str, Any], path: str, errors: Errors) -> None:
    mode = rules.get("extraDecimals")
    if mode is not None and mode not in EXTRA_DECIMALS:
        errors.append(rule_error(f"{path}.extraDecimals", f"extraDecimals is one of {', '.join(EXTRA_DECIMALS)}",
                                 mode))


def stored_decimal(rounded: float, was_integer: bool) -> int | float:
    """What a decimal field stores for a number rounded to its decimals: an integer given as one stays one while
    the store can hold it (64 bits); past that it is the float it rounds to."""
    return int(rounded) if was_integer and rounded.is_integer() and abs(rounded) <= _INT64 else rounded


@dataclass(frozen=True)
class DecimalType(FieldType):
    max_decimals: int = 4

    def cell_in(self, text: str, field: Field) -> Any:
        raw = text.strip()
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise FieldInvalid(f"'{raw}' is not a number") from None
        if not number.is_finite():
            raise FieldInvalid(f"'{raw}' is not a number")
        value = float(number)
        if math.isinf(value):  # past the largest float (1e400)
            raise FieldInvalid(f"'{raw}' is out of range")
        return int(raw) if _INTEGER.match(raw) else value

    def cell_out(self, stored: Any, field: Field) -> str:
        return plain_number(stored)

    def text(self, stored: Any, field: Field) -> str:
        """Plain digits, as the CSV export writes them (``10000000000000000``, not ``1e+16``)."""
        return plain_number(stored) if isinstance(stored, int | float) and not isinstance(stored, bool) \
            else super().text(stored, field)

    def load(self, value: Any, field: Field) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldInvalid("Must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise FieldInvalid("Must be a finite number")
        try:
            number = float(value)
        except OverflowError:  # an integer past the largest float
            raise FieldInvalid("Number out of range") from None
        decimals = min(int(field.type_rules.get("decimals", self.max_decimals)), self.max_decimals)
        mode = field.type_rules.get("extraDecimals")
        limited = limit_decimals(number, decimals, mode)
        if mode == "error" and limited != number and _RULES_CHECKED.get():
            raise FieldInvalid(f"At most {decimals} decimals are allowed")
        _check_range(limited, field)
        return stored_decimal(limited, isinstance(value, int))

    def check_rules(self, rules: dict[str, Any], path: str, errors: Errors, entity_names: set[str] | None) -> None:
        check_extra_decimals(rules, path, errors)
        decimals = rules.get("decimals")
        if (entity_names is not None and isinstance(decimals, int) and not isinstance(decimals, bool)
                and decimals > self.max_decimals):  # a saved definition: its values keep at most max_decimals
            errors.append(rule_error(f"{path}.decimals", f"A {self.name} field keeps at most {self.max_decimals} "
                                     "decimals", decimals))

    def parse_filter(self, raw: str, field: Field) -> Any:
        try:
            return float(raw.strip())
        except ValueError:
            raise FieldInvalid(f"'{raw}' is not a number") from None


@dataclass(frozen=True)
class BooleanType(FieldType):
    required_allowed: ClassVar[bool] = False  # never missing: an unset boolean reads false

    def load(self, value: Any, field: Field) -> Any:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise FieldInvalid("Must be true or false")
        return value

    def dump(self, stored: Any, field: Field) -> Any:
        return bool(stored)

    def text(self, stored: Any, field: Field) -> str:
        return "true" if stored else "false"

    def parse_filter(self, raw: str, field: Field) -> Any:
        try:
            return parse_bool(raw)
        except ValueError:
            raise FieldInvalid(f"'{raw}' is not a boolean") from None

    def missing_value(self) -> Any:
        return False  # an unset boolean reads as false

    def cell_in(self, text: str, field: Field) -> Any:
        try:
            return parse_bool(text)
        except ValueError:
            raise FieldInvalid(f"'{text.strip()}' is not a boolean (use true/false, 1/0 or yes/no)") from None

    def cell_out(self, stored: Any, field: Field) -> str:
        return "true" if stored else "false"


# --- dates and times ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DateType(FieldType):
    fmt: str = "%Y-%m-%d"
    label: str = "yyyy-MM-dd"

    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        if self.fmt == "%Y-%m-%d" and _ISO_DATE.match(value):
            try:  # the usual shape without strptime (slow); anything else is strptime's call below
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        try:
            parsed = dt.datetime.strptime(value, self.fmt)
        except ValueError:
            raise FieldInvalid(f"Must be a date in the format {self.label}") from None
        if self.fmt == "%Y-%m-%d":
            return parsed.date().isoformat()  # strftime drops the zeros of a year before 1000 ("88-04-26")
        return parsed.strftime(self.fmt)

    def cell_in(self, text: str, field: Field) -> Any:
        return text.strip()


@dataclass(frozen=True)
class DateTimeType(FieldType):
    def load(self, value: Any, field: Field) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldInvalid("Must be a date-time in milliseconds since epoch")
        if isinstance(value, float) and not value.is_integer():
            raise FieldInvalid("Must be a date-time in milliseconds since epoch")
        if not MIN_MILLIS <= value <= MAX_MILLIS:  # what a calendar date holds: years 1 to 9999
            raise FieldInvalid("Date-time out of range (years 1 to 9999)")
        return int(value)

    def text(self, stored: Any, field: Field) -> str:
        if stored is None:
            return ""
        moment = _EPOCH + dt.timedelta(milliseconds=stored)  # integer arithmetic: every millisecond survives
        return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"  # four-digit years, as 0001

    def text_in(self, stored: Any, field: Field, tz: dt.tzinfo) -> str:
        """ISO-8601 in ``tz`` with its offset (``2015-04-21T09:33:00.000-04:00``); the UTC form (``Z``) when the
        offset is zero there, or when the local time is past the calendar's ends (year 1, year 9999)."""
        if stored is None:
            return ""
        try:
            local = (_EPOCH + dt.timedelta(milliseconds=stored)).astimezone(tz)
        except (OverflowError, ValueError):
            return self.text(stored, field)
        if not local.utcoffset():
            return self.text(stored, field)
        return local.isoformat(timespec="milliseconds")

    def parse_filter(self, raw: str, field: Field) -> Any:
        raw = raw.strip()
        if re.fullmatch(r"-?\d+", raw):
            return int(raw)
        for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
            try:
                return int(dt.datetime.strptime(raw, fmt).replace(tzinfo=dt.UTC).timestamp() * 1000)
            except ValueError:
                continue
        raise FieldInvalid(f"'{raw}' is not a date-time in milliseconds since epoch")

    def cell_in(self, text: str, field: Field) -> Any:
        """Epoch millis from the export's ISO UTC form (``2017-01-16T14:53:00.000Z``), a UTC ``yyyy-MM-dd HH:mm``
        or plain millis. Integer arithmetic, so every millisecond survives."""
        raw = text.strip()
        if _INTEGER.match(raw):
            return int(raw)
        if _ISO_DATE_TIME.match(raw):
            try:  # the export's and the usual shapes without strptime (slow); anything else is strptime's call
                parsed = dt.datetime.fromisoformat(raw)
                return (parsed.replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(milliseconds=1)
            except ValueError:
                pass
        for fmt in _CELL_DATE_TIMES:
            try:
                parsed = dt.datetime.strptime(raw, fmt).replace(tzinfo=dt.UTC)
            except ValueError:
                continue
            return (parsed - _EPOCH) // dt.timedelta(milliseconds=1)
        raise FieldInvalid(f"'{raw}' is not a date-time (use yyyy-MM-ddTHH:mm:ss.SSSZ, UTC)")

    def cell_out(self, stored: Any, field: Field) -> str:
        return self.text(stored, field)  # ISO UTC


@dataclass(frozen=True)
class AutoDateTimeType(DateTimeType):
    """Set by the runtime (record created / record modified); never written by clients."""

    required_allowed: ClassVar[bool] = False

    on_create_only: bool = False
    importable: ClassVar[bool] = False
    many_allowed: ClassVar[bool] = False
    calculable: ClassVar[bool] = False

    def stamp(self, created: bool) -> bool:
        return created or not self.on_create_only

    def load(self, value: Any, field: Field) -> Any:
        raise FieldInvalid("This field is read-only", code="readOnly")


# --- choices, colours --------------------------------------------------------------------------

@dataclass(frozen=True)
class ChoiceType(FieldType):
    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        names = field.choice_names()
        if value in names:
            return value
        by_label = field.choice_label_map()
        for label, name in by_label.items():
            if label.lower() == value.lower():
                return name
        raise FieldInvalid("Not a valid choice")

    def parse_filter(self, raw: str, field: Field) -> Any:
        return self.load(raw, field)

    def search_path(self, path: str) -> str | None:
        return path

    def check_rules(self, rules: dict[str, Any], path: str, errors: Errors, entity_names: set[str] | None) -> None:
        values = rules.get("possibleValues")
        if not isinstance(values, list) or not values:
            errors.append(rule_error(f"{path}.possibleValues", "A choice needs possibleValues"))
            return
        for v in values:
            name = v.get("name") if isinstance(v, dict) else v
            if not isinstance(name, str) or not name:
                errors.append(rule_error(f"{path}.possibleValues", "Each possible value is a name or {name, label}"))

    def cell_in(self, text: str, field: Field) -> Any:
        """Option name first, then its label; both case-insensitive. Unknown text is left for validation."""
        text = text.strip()
        names = field.choice_names()
        if text in names:
            return text
        low = text.lower()
        for name in names:
            if name.lower() == low:
                return name
        for label, name in field.choice_label_map().items():
            if label.lower() == low:
                return name
        return text

    def text(self, stored: Any, field: Field) -> str:
        if stored is None:
            return ""
        return {v: k for k, v in field.choice_label_map().items()}.get(stored, stored)


@dataclass(frozen=True)
class ColorType(FieldType):
    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        if not _COLOR.match(value):
            raise FieldInvalid("Must be a hex colour like #f5a9a9")
        return value.lower()

    def parse_filter(self, raw: str, field: Field) -> Any:
        return raw.lower()

    def cell_in(self, text: str, field: Field) -> Any:
        return text.strip()


# --- references --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RelationshipType(FieldType):
    """Stored as ``{id: ObjectId, label}``; ``resolve`` finds the target record by id, label or lookup fields."""

    calculable: ClassVar[bool] = False
    reference_key: ClassVar[str | None] = "id"
    text_key: ClassVar[str | None] = "label"
    groups_by_key: ClassVar[bool] = True
    sub_keys: ClassVar[tuple[str, ...]] = ("id", "label")

    def search_path(self, path: str) -> str | None:
        return f"{path}.label"

    def target_entity(self, field: Field) -> str | None:
        return field.type_rules.get("entity")

    def check_rules(self, rules: dict[str, Any], path: str, errors: Errors, entity_names: set[str] | None) -> None:
        target = rules.get("entity")
        if not isinstance(target, str) or not target:
            errors.append(rule_error(f"{path}.entity", "A relationship needs typeRules.entity"))
        elif entity_names is not None and target not in entity_names:
            errors.append(rule_error(f"{path}.entity", f"Relationship to an unknown entity: {target}", target))
        if rules.get("onDelete", "none") not in ON_DELETE:
            errors.append(rule_error(f"{path}.onDelete", f"onDelete is one of {', '.join(ON_DELETE)}",
                                     rules.get("onDelete")))
        for key in ("updateLabel", "updateCopiedFields"):
            if key in rules and not isinstance(rules[key], bool):
                errors.append(rule_error(f"{path}.{key}", f"{key} must be true or false"))
        copied = rules.get("copiedFields", [])
        if not isinstance(copied, list) or not all(isinstance(c, str) and FIELD_NAME_RE.match(c) for c in copied):
            errors.append(rule_error(f"{path}.copiedFields", "copiedFields is a list of field names"))
        # Their fit with the related entity (a field of it; a filter over its fields) is checked when the
        # definition is saved, where that entity's definition is at hand (entities.registry).
        lookup = rules.get("lookupField")
        if lookup is not None and (not isinstance(lookup, str) or not FIELD_NAME_RE.match(lookup)):
            errors.append(rule_error(f"{path}.lookupField", "lookupField is the name of a field of the related entity",
                                     lookup if isinstance(lookup, str) else None))
        if "filter" in rules and (not isinstance(rules["filter"], dict) or not rules["filter"]):
            errors.append(rule_error(f"{path}.filter", 'filter is a query map such as {"state": "active"}'))

    def check_default(self, value: Any, field: Field) -> None:
        """A default reference is resolved when a record is created, not in the definition."""

    def default_value(self, value: Any, field: Field) -> Any:
        return value

    def index_keys(self, path: str, field: Field, top_level: bool) -> list[tuple[str, str, bool]]:
        key = self.key_path(path)
        if field.unique and top_level:
            return [(key, f"unique_{path}", True)]
        return [(key, f"idx_{path}", False), (f"{path}.label", f"idx_{path}_label", False)]

    def cell_out(self, stored: Any, field: Field) -> str:
        return self.text(stored, field)

    def resolve(self, field: Field, value: Any, path: str, refs: References, errors: Errors) -> Any:
        resolved = []
        for ref in value if field.many else [value]:
            target = self.resolve_one(field, ref, path, refs, errors)
            if target is not None:
                resolved.append(target)
        return resolved if field.many else (resolved[0] if resolved else None)

    def resolve_one(self, field: Field, ref: dict[str, Any], path: str, refs: References, errors: Errors) -> Any:
        """The stored value of one loaded reference; None (and an error) when it names nothing."""
        return refs.relationship(field, ref, path, errors)

    def load(self, value: Any, field: Field) -> Any:
        """A reference request, resolved against the target entity by the records service: ``{id}``, ``{label}``
        (``bare`` when it came as a plain string and the field has a ``lookupField`` to fall back to) or
        ``{lookup: {field: value}}``. Of several keys, ``id`` wins, then ``label``, then the other keys."""
        if isinstance(value, dict):
            if "id" in value and value["id"] is not None:
                oid = parse_object_id(value["id"])
                if oid is None:
                    raise FieldInvalid("Not a valid record id")
                return {"id": oid}
            if isinstance(value.get("label"), str):
                return {"label": value["label"]}
            lookup = {k: v for k, v in value.items() if k not in ("id", "label")}
            if lookup:
                return {"lookup": lookup}
            raise FieldInvalid("A relationship needs an id, a label or a field of the related record")
        if isinstance(value, str):
            oid = parse_object_id(value)
            if oid is not None:
                return {"id": oid}
            return {"label": value, "bare": True} if field.type_rules.get("lookupField") else {"label": value}
        raise FieldInvalid("A relationship is an id, a label or an object with one of them")

    def dump(self, stored: Any, field: Field) -> Any:
        if stored is None:
            return None
        out = {"id": str(stored["id"]), "label": stored.get("label")}
        for copied in field.copied:  # copied fields in the order the definition gives them
            value = stored.get(copied.name)
            out[copied.name] = None if value is None else copied.type.dump(value, copied)
        return out

    def text(self, stored: Any, field: Field) -> str:
        return "" if stored is None else str(stored.get("label") or "")

    def parse_filter(self, raw: str, field: Field) -> Any:
        return raw

    def like_path(self, path: str) -> str:
        return f"{path}.label"


@dataclass(frozen=True)
class UserType(RelationshipType):
    """A reference to a user, stored like a relationship ``{id, label}`` (label = the user's full name).

    Written by user id, email or full name (resolved by ``entities.records.user_refs``; a name only when one
    user has it); a bare filter value is the id
    (``owner=<id>``), ``owner.id`` / ``owner.label`` filter explicitly. ``typeRules.setOn`` = ``create`` or
    ``write`` makes the runtime fill it with the caller; clients may not write it then."""

    def load(self, value: Any, field: Field) -> Any:
        if field.type_rules.get("setOn"):
            raise FieldInvalid("This field is set by the runtime", code="readOnly")
        if isinstance(value, dict):
            value = value.get("id") or value.get("email") or value.get("label")
        if isinstance(value, str) and value.strip():
            oid = parse_object_id(value)
            if oid is not None:
                return {"id": oid}
            if "@" in value:
                return {"email": value.strip().lower()}
            return {"label": value.strip()}  # the name reads show (and a CSV export writes): one user's only
        raise FieldInvalid("A user is written by id, email or full name")

    def target_entity(self, field: Field) -> str | None:
        return None

    def set_by_runtime(self, field: Field) -> bool:
        return bool(field.type_rules.get("setOn"))

    def check_rules(self, rules: dict[str, Any], path: str, errors: Errors, entity_names: set[str] | None) -> None:
        """``setOn`` is checked with the common rules (entities.metadata); a user field names no entity."""

    def resolve_one(self, field: Field, ref: dict[str, Any], path: str, refs: References, errors: Errors) -> Any:
        return refs.user(field, ref, path, errors)


@dataclass(frozen=True)
class FileType(FieldType):
    calculable: ClassVar[bool] = False
    default_allowed: ClassVar[bool] = False
    reference_key: ClassVar[str | None] = "id"
    text_key: ClassVar[str | None] = "name"
    sub_keys: ClassVar[tuple[str, ...]] = ("id", "name")
    importable: ClassVar[bool] = False
    holds_files: ClassVar[bool] = True

    def cell_out(self, stored: Any, field: Field) -> str:
        return self.text(stored, field)

    def resolve(self, field: Field, value: Any, path: str, refs: References, errors: Errors) -> Any:
        for ref in value if field.many else [value]:
            problem = refs.complete_file(ref)
            if problem:
                errors.append(field_error(path, "invalid", problem, field.label, rejected=str(ref["id"])))
        return value

    @staticmethod
    def is_upload(value: Any) -> bool:
        """An inline upload (``{"name", "contentType", "content": base64}``), not a reference to a stored file."""
        return isinstance(value, dict) and "id" not in value and "content" in value

    def load(self, value: Any, field: Field) -> Any:
        if self.is_upload(value):
            from files.service import parse_inline_upload  # an inline upload; records store it (files owns it)
            try:
                return {"upload": parse_inline_upload(value)}
            except ValueError as exc:
                raise FieldInvalid(str(exc)) from None
        if isinstance(value, dict):
            value = value.get("id")
        oid = parse_object_id(value)
        if oid is None:
            raise FieldInvalid("Not a valid file id")
        return {"id": oid}

    def dump(self, stored: Any, field: Field) -> Any:
        if stored is None:
            return None
        return {"id": str(stored["id"]), "name": stored.get("name")}

    def text(self, stored: Any, field: Field) -> str:
        return "" if stored is None else str(stored.get("name") or "")

    def parse_filter(self, raw: str, field: Field) -> Any:
        return raw

    def like_path(self, path: str) -> str:
        return f"{path}.name"


@dataclass(frozen=True)
class NestedType(FieldType):
    """A group of inner fields; the records schema validates the inner values."""

    calculable: ClassVar[bool] = False
    default_allowed: ClassVar[bool] = False
    sub_keys: ClassVar[tuple[str, ...]] = ("id", "label")

    def load(self, value: Any, field: Field) -> Any:
        if not isinstance(value, dict):
            raise FieldInvalid("Must be an object")
        return value


TYPES: dict[str, FieldType] = {t.name: t for t in [
    TextType("text", "text", unique_allowed=True, text_search=True),
    TextType("longText", "text", default_max=None, unique_allowed=True, text_search=True),
    HtmlType("html", "text", default_max=None, unique_allowed=True, text_search=True),
    EmailType("email", "text", unique_allowed=True, text_search=True),
    UrlType("url", "text", default_max=2000, unique_allowed=True, text_search=True),
    PhoneType("phone", "text", unique_allowed=True, text_search=True),
    IntegerType("integer", "number", NO_LIKE, NUMERIC_ACC, unique_allowed=True),
    DecimalType("decimal", "number", NO_LIKE, NUMERIC_ACC),
    DecimalType("money", "number", NO_LIKE, NUMERIC_ACC),
    DecimalType("percentage", "number", NO_LIKE, NUMERIC_ACC, max_decimals=2),
    BooleanType("boolean", "boolean", frozenset({"equals", "notEquals"})),
    DateType("date", "date", NO_LIKE),
    DateTimeType("dateTime", "date", NO_LIKE),
    DateType("time", "date", NO_LIKE, fmt="%H:%M", label="HH:mm"),
    AutoDateTimeType("createdDate", "date", NO_LIKE, writable=False, on_create_only=True),
    AutoDateTimeType("modifiedDate", "date", NO_LIKE, writable=False),
    ChoiceType("choice", "choice", EQUALITY),
    ColorType("color", "choice", EQUALITY | {"like"}),
    RelationshipType("relationship", "reference", EQUALITY | {"like"}, frozenset({"first", "last"}),
                     unique_allowed=True, sortable=True),
    UserType("user", "reference", EQUALITY | {"like"}, frozenset({"first", "last"}), sortable=True),
    FileType("file", "reference", EQUALITY | {"like"}, frozenset({"first", "last"}), sortable=False),
    NestedType("nestedFields", "nested", frozenset({"equals", "empty", "notEmpty"}),
               frozenset({"first", "last"}), sortable=False),
]}


# Other spellings of type names, by their ``_spelling_key``: the platform's documents name a type by its page
# (``date-record-created``), its label ("Date record created") or its metadata name (``createdDate``).
TYPE_ALIASES: dict[str, str] = {"daterecordcreated": "createdDate", "recordcreated": "createdDate",
                                "daterecordmodified": "modifiedDate", "recordmodified": "modifiedDate",
                                "fileupload": "file", "nested": "nestedFields", "datetimewithtimezone": "dateTime"}


def _spelling_key(name: str) -> str:
    return re.sub(r"[\s_-]", "", name).lower()


_BY_SPELLING: dict[str, str] = {}
_SPELLINGS_OF: list[int] = [-1]  # how many names and aliases _BY_SPELLING was built from


def field_type(name: str) -> FieldType | None:
    """The type a field definition names: its name (``bigNumber``), or a spelling of it or of one of its
    ``TYPE_ALIASES`` that differs only in case, spaces, ``-`` or ``_`` (``big-number``, ``BigNumber``)."""
    found = TYPES.get(name)
    if found is not None:
        return found
    if _SPELLINGS_OF[0] != len(TYPES) + len(TYPE_ALIASES):  # names added since: index them again
        _SPELLINGS_OF[0] = len(TYPES) + len(TYPE_ALIASES)
        _BY_SPELLING.clear()
        _BY_SPELLING.update({_spelling_key(n): n for n in TYPES})
        _BY_SPELLING.update({_spelling_key(a): n for a, n in TYPE_ALIASES.items()})
    canonical = _BY_SPELLING.get(_spelling_key(name))
    return TYPES.get(canonical) if canonical is not None else None


def limit_decimals(number: float, decimals: int, mode: str | None) -> float:
    """``number`` with at most ``decimals`` decimals: cut toward zero for ``truncate`` (on the shortest decimal text
    of the float, so 0.29 stays 0.29), else rounded (``round``, the default; ``error`` refuses what this changes)."""
    if mode != "truncate":
        return round(number, decimals)
    exact = Decimal(repr(number))
    if exact.as_tuple().exponent >= -decimals:  # type: ignore[operator]  # a finite number: an int
        return number  # nothing to cut (also 1e+300, which quantize could not hold)
    return float(exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN))


def plain_number(value: float | int) -> str:
    """A number without exponent or trailing zeros: ``27810.0028``, ``1383``, ``0.00001``."""
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# the other types register themselves in TYPES and TYPE_ALIASES (they need the classes above)
from entities import types_dates, types_numbers, types_refs  # noqa: E402, F401
