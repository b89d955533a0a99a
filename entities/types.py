"""Field types: how each type is written, stored, rendered, filtered and aggregated.

One ``FieldType`` per type name. ``load`` turns a REST value into the stored value (raising
``FieldInvalid``), ``dump`` renders a stored value as REST JSON, ``text`` gives the human-readable
form, ``parse_filter`` converts a query-string value. Operator and accumulator sets follow the
platform's per-type matrix.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nh3

from core.ids import parse_object_id

if TYPE_CHECKING:
    from entities.metadata import Field

ALL_OPERATORS = frozenset({"equals", "notEquals", "empty", "notEmpty", "like", "greater", "greaterOrEquals",
                           "less", "lessOrEquals", "between"})
NO_LIKE = ALL_OPERATORS - {"like"}
EQUALITY = frozenset({"equals", "notEquals", "empty", "notEmpty"})
SCALAR_ACC = frozenset({"first", "last", "min", "max"})
NUMERIC_ACC = SCALAR_ACC | {"sum", "avg"}


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

    def parse_filter(self, raw: str, field: Field) -> Any:
        return self.load(raw, field)

    def filter_value(self, value: Any, field: Field) -> Any:
        """Convert a filter value that arrived as JSON (aggregate ``match``) or as a string."""
        if isinstance(value, str):
            return self.parse_filter(value, field)
        return self.load(value, field)

    def like_path(self, path: str) -> str:
        return path


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


def _require_str(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldInvalid("Must be a string")
    return value


def _check_length(value: str, field: Field, default_max: int | None) -> None:
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
        if pattern:
            flags = re.IGNORECASE if field.type_rules.get("caseInsensitive") else 0
            if not re.fullmatch(pattern, value, flags):
                raise FieldInvalid(field.type_rules.get("hint") or f"Must match the pattern {pattern}")
        return value

    def parse_filter(self, raw: str, field: Field) -> Any:
        return raw


@dataclass(frozen=True)
class HtmlType(TextType):
    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        _check_length(value, field, self.default_max)
        return nh3.clean(value, tags=HTML_TAGS, attributes=HTML_ATTRS,
                         url_schemes={"http", "https", "ftp", "mailto"}, link_rel=None)


@dataclass(frozen=True)
class EmailType(TextType):
    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value).strip()
        if not _EMAIL.match(value) or len(value) > 254:
            raise FieldInvalid("Not a valid email address")
        return value


@dataclass(frozen=True)
class UrlType(TextType):
    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value).strip()
        md = _MD_URL.match(value)
        url = md.group("url") if md else value
        if not _URL.match(url) or len(value) > 2000:
            raise FieldInvalid("Not a valid URL")
        return value


@dataclass(frozen=True)
class PhoneType(TextType):
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


# --- numbers -----------------------------------------------------------------------------------

def _check_range(value: float, field: Field) -> None:
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
        if abs(value) > 2**63 - 1:
            raise FieldInvalid("Integer out of range")
        _check_range(value, field)
        return value

    def parse_filter(self, raw: str, field: Field) -> Any:
        try:
            return int(raw.strip())
        except ValueError:
            raise FieldInvalid(f"'{raw}' is not an integer") from None


@dataclass(frozen=True)
class DecimalType(FieldType):
    max_decimals: int = 4

    def load(self, value: Any, field: Field) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldInvalid("Must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise FieldInvalid("Must be a finite number")
        decimals = min(int(field.type_rules.get("decimals", self.max_decimals)), self.max_decimals)
        rounded = round(float(value), decimals)
        if field.type_rules.get("extraDecimals") == "error" and rounded != float(value):
            raise FieldInvalid(f"At most {decimals} decimals are allowed")
        _check_range(rounded, field)
        return int(rounded) if rounded.is_integer() and isinstance(value, int) else rounded

    def parse_filter(self, raw: str, field: Field) -> Any:
        try:
            return float(raw.strip())
        except ValueError:
            raise FieldInvalid(f"'{raw}' is not a number") from None


@dataclass(frozen=True)
class BooleanType(FieldType):
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
        low = raw.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise FieldInvalid(f"'{raw}' is not a boolean")


# --- dates and times ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DateType(FieldType):
    fmt: str = "%Y-%m-%d"
    label: str = "yyyy-MM-dd"

    def load(self, value: Any, field: Field) -> Any:
        value = _require_str(value)
        try:
            parsed = dt.datetime.strptime(value, self.fmt)
        except ValueError:
            raise FieldInvalid(f"Must be a date in the format {self.label}") from None
        if self.fmt == "%Y-%m-%d":
            return parsed.date().isoformat()  # strftime drops the zeros of a year before 1000 ("88-04-26")
        return parsed.strftime(self.fmt)


@dataclass(frozen=True)
class DateTimeType(FieldType):
    def load(self, value: Any, field: Field) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldInvalid("Must be a date-time in milliseconds since epoch")
        if isinstance(value, float) and not value.is_integer():
            raise FieldInvalid("Must be a date-time in milliseconds since epoch")
        if abs(value) > 253402300799999:
            raise FieldInvalid("Date-time out of range")
        return int(value)

    def text(self, stored: Any, field: Field) -> str:
        if stored is None:
            return ""
        return dt.datetime.fromtimestamp(stored / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

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


@dataclass(frozen=True)
class AutoDateTimeType(DateTimeType):
    """Set by the runtime (record created / record modified); never written by clients."""

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


# --- references --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RelationshipType(FieldType):
    """Stored as ``{id: ObjectId, label}``; resolving ids and labels needs the store (done by records)."""

    def load(self, value: Any, field: Field) -> Any:
        # Returns a reference request; the records service resolves it against the target entity.
        if isinstance(value, dict):
            unknown = set(value) - {"id", "label"}
            if "id" in value and value["id"] is not None:
                oid = parse_object_id(value["id"])
                if oid is None:
                    raise FieldInvalid("Not a valid record id")
                return {"id": oid}
            if isinstance(value.get("label"), str):
                return {"label": value["label"]}
            if unknown:
                return {"lookup": {k: value[k] for k in unknown}}
            raise FieldInvalid("A relationship needs an id or a label")
        if isinstance(value, str):
            oid = parse_object_id(value)
            return {"id": oid} if oid is not None else {"label": value}
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

    Written by user id or email (resolved by ``entities.records.user_refs``); a bare filter value is the id
    (``owner=<id>``), ``owner.id`` / ``owner.label`` filter explicitly. ``typeRules.setOn`` = ``create`` or
    ``write`` makes the runtime fill it with the caller; clients may not write it then."""

    def load(self, value: Any, field: Field) -> Any:
        if field.type_rules.get("setOn"):
            raise FieldInvalid("This field is set by the runtime", code="readOnly")
        if isinstance(value, dict):
            value = value.get("id") or value.get("email")
        if isinstance(value, str):
            oid = parse_object_id(value)
            if oid is not None:
                return {"id": oid}
            if "@" in value:
                return {"email": value.strip().lower()}
        raise FieldInvalid("A user is written by id or email")


@dataclass(frozen=True)
class FileType(FieldType):
    def load(self, value: Any, field: Field) -> Any:
        if isinstance(value, dict) and "id" not in value and "content" in value:
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
    AutoDateTimeType("createdDate", "date", NO_LIKE, writable=False),
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
