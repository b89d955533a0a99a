"""JSON Schema for entity fields: how a record's field reads (responses) and is written (request bodies).

One function per direction, driven by the field type (``entities.types``) and its ``typeRules``; nested
groups recurse, ``multiplicity: many`` wraps the item in an array, calculated and runtime-set fields (dates,
``setOn`` users) are ``readOnly`` and left out of request bodies. A filter parameter lists the operators the
query parser takes for its path (``entities.query.paths.resolve``), so the two cannot disagree.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from core.ids import OBJECT_ID_SCHEMA
from entities.metadata import Field
from entities.query.paths import Target, resolve

OBJECT_ID = OBJECT_ID_SCHEMA
ID_LIST_PATTERN = "^[0-9a-fA-F]{24}(,[0-9a-fA-F]{24})*$"
EPOCH_MS_EXAMPLE = 1429623180000

_TEXT_FORMATS = {"email": "email", "url": "uri", "html": "html", "phone": "phone", "longText": "text"}
_SCALAR_EXAMPLES: dict[str, Any] = {
    "text": "Test 1", "longText": "Some longer text", "html": "<p>Some <b>rich</b> text</p>",
    "email": "ana.ray@example.com", "url": "https://www.example.com", "phone": "+1-702-845-9380",
    "integer": 95, "decimal": 12.5, "money": 1500.25, "percentage": 42.5, "boolean": True,
    "date": "2024-05-31", "time": "09:30", "dateTime": EPOCH_MS_EXAMPLE, "createdDate": EPOCH_MS_EXAMPLE,
    "modifiedDate": EPOCH_MS_EXAMPLE, "color": "#f5a9a9",
}


class CallerReadOnly(Field):
    """A field the caller's groups make read-only (``readOnly``): documented as read-only, in no request body."""

    @property
    def read_only(self) -> bool:
        return True

    @staticmethod
    def of(f: Field) -> CallerReadOnly:
        return CallerReadOnly(**{d.name: getattr(f, d.name) for d in dataclasses.fields(f) if d.init})


def read_only(f: Field) -> bool:
    """Set by the runtime, never by a client: calculated fields, created/modified dates, ``setOn`` users."""
    return not f.writable or f.read_only


def example(f: Field, write: bool = False) -> Any:
    """A value that fits the field (used in the document's examples), as read or (``write``) as sent."""
    one = _example_one(f, write)
    return [one] if f.many else one


def _example_one(f: Field, write: bool = False) -> Any:
    name = f.type.name
    own = f.type.json_schema(f, writing=False)
    if own is not None:
        return own.get("example")
    if name == "choice":
        names = f.choice_names()
        return names[0] if names else "value"
    if name in ("integer", "decimal", "money", "percentage"):
        low, high = f.type_rules.get("min"), f.type_rules.get("max")
        value = _SCALAR_EXAMPLES[name]
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        return int(value) if name == "integer" else value
    if name == "relationship":
        return {"id": OBJECT_ID["example"], "label": "Related record"}
    if name == "user":
        return _SCALAR_EXAMPLES["email"] if write else {"id": OBJECT_ID["example"], "label": "Ana Ray"}
    if name == "file":
        return {"id": OBJECT_ID["example"], "name": "report.pdf"}
    if f.is_nested:
        return {inner.name: example(inner, write) for inner in f.nested if not read_only(inner)}
    value = _SCALAR_EXAMPLES.get(name, "value")
    if isinstance(value, str) and f.type.family == "text":
        max_len = f.type_rules.get("maxLength")
        value = value[:max_len] if max_len else value
    return value


def _own_schema(f: Field, writing: bool) -> dict[str, Any] | None:
    """The schema a type gives its values itself (``FieldType.json_schema``), without its example (``_describe``
    adds the field's)."""
    own = f.type.json_schema(f, writing)
    return None if own is None else {k: v for k, v in own.items() if k != "example"}


def _scalar(f: Field) -> dict[str, Any]:
    """The JSON type of one value of a non-nested field, with its rules (shared by both directions)."""
    name, rules = f.type.name, f.type_rules
    if f.type.family == "text":
        out: dict[str, Any] = {"type": "string"}
        if name in _TEXT_FORMATS:
            out["format"] = _TEXT_FORMATS[name]
        for key in ("minLength", "maxLength"):
            if key in rules:
                out[key] = rules[key]
        if name in ("text", "longText") and rules.get("pattern") and not rules.get("caseInsensitive"):
            out["pattern"] = f"^(?:{rules['pattern']})$"
        return out
    if name == "integer":
        out = {"type": "integer", "format": "int64"}
    elif f.type.family == "number":
        out = {"type": "number"}
    elif name == "boolean":
        return {"type": "boolean"}
    elif name == "date":
        return {"type": "string", "format": "date"}
    elif name == "time":
        return {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "description": "HH:mm"}
    elif name in ("dateTime", "createdDate", "modifiedDate"):
        return {"type": "integer", "format": "int64", "description": "milliseconds since the epoch (UTC)"}
    elif name == "choice":
        return {"type": "string", "enum": f.choice_names()}
    elif name == "color":
        return {"type": "string", "pattern": "^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"}
    else:
        return {}
    for key, target in (("min", "minimum"), ("max", "maximum")):
        if rules.get(key) is not None:
            out[target] = rules[key]
    return out


def read_schema(f: Field) -> dict[str, Any]:
    """How the field appears in a record returned by the API."""
    one = _read_one(f)
    if f.many:
        out: dict[str, Any] = {"type": "array", "items": one}
    else:
        out = dict(one)
        if f.type.name != "boolean":
            out["nullable"] = True
    return _describe(out, f, write=False)


def _read_one(f: Field) -> dict[str, Any]:
    name = f.type.name
    if f.is_nested:
        props: dict[str, Any] = {"id": {"type": "string", "nullable": True, "readOnly": True},
                                 "label": {"type": "string", "nullable": True, "readOnly": True}}
        props.update({inner.name: read_schema(inner) for inner in f.nested})
        return {"type": "object", "properties": props}
    if name in ("relationship", "user"):
        props = {"id": {"type": "string"}, "label": {"type": "string", "nullable": True}}
        props.update({c.name: read_schema(c) for c in getattr(f, "copied", [])})  # the target's copied fields
        what = "A user (label: their full name)" if name == "user" else f"A record of '{f.type_rules.get('entity')}'"
        return {"type": "object", "required": ["id"], "description": what, "properties": props}
    if name == "file":
        return {"type": "object", "required": ["id"],
                "properties": {"id": {"type": "string"}, "name": {"type": "string", "nullable": True}}}
    own = _own_schema(f, writing=False)
    if own is not None:
        return own
    out = _scalar(f)
    if name == "phone":
        out = {"type": "string", "format": "phone"}  # rendered with separators, whatever was written
    out.pop("pattern", None)  # records saved under an older definition may not match today's pattern
    return out


def write_schema(f: Field) -> dict[str, Any] | None:
    """How a client sends the field in a create/update body; None for read-only fields."""
    if read_only(f):
        return None
    one = _write_one(f)
    if f.many:
        out: dict[str, Any] = {"type": "array", "items": one, "maxItems": 1000}
    else:
        out = dict(one)
        if not f.required:
            out["nullable"] = True
    return _describe(out, f, write=True)


def _write_one(f: Field) -> dict[str, Any]:
    name = f.type.name
    if f.is_nested:
        props: dict[str, Any] = {"id": {**OBJECT_ID, "description": "an existing item to update"}}
        required = []
        for inner in f.nested:
            schema = write_schema(inner)
            if schema is not None:
                props[inner.name] = schema
                if inner.required:
                    required.append(inner.name)
        out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            out["required"] = required
        return out
    if name == "relationship":
        target = f.type_rules.get("entity")
        text = (f"A record of '{target}': its id, its label, or {{\"id\"}} / {{\"label\"}} / "
                f"{{\"<field of {target}>\": value}} (id wins, then label, then fields)")
        if f.type_rules.get("lookupField"):  # not named: it may be a field hidden from the reader of the document
            text += "; a bare value that matches no label is looked up by the field's lookupField"
        if f.type_rules.get("filter"):
            text += "; the record must meet the field's filter"
        return {"description": text,
                "anyOf": [{"type": "string"},
                          {"type": "object", "properties": {"id": OBJECT_ID, "label": {"type": "string"}}}]}
    if name == "user":
        email = {"type": "string", "format": "email", "example": _SCALAR_EXAMPLES["email"]}
        return {"description": "A user: their id, email or full name (a name only one user has), or {\"id\"} / "
                               "{\"email\"} / {\"label\"}",
                "anyOf": [OBJECT_ID, email, {"type": "string", "description": "full name"},
                          {"type": "object", "required": ["id"], "properties": {"id": OBJECT_ID}},
                          {"type": "object", "required": ["email"], "properties": {"email": email}},
                          {"type": "object", "required": ["label"], "properties": {"label": {"type": "string"}}}]}
    if name == "file":
        return {"description": "The id of an uploaded file (POST /files), or an inline upload",
                "anyOf": [OBJECT_ID, {"type": "object", "required": ["id"], "properties": {"id": OBJECT_ID}},
                          {"type": "object", "required": ["name", "content"],
                           "properties": {"name": {"type": "string"}, "contentType": {"type": "string"},
                                          "content": {"type": "string", "format": "byte"}}}]}
    own = _own_schema(f, writing=True)
    if own is not None:
        return own
    return _scalar(f)


def _describe(schema: dict[str, Any], f: Field, write: bool) -> dict[str, Any]:
    schema["title"] = f.label
    notes = [f"type `{f.type.name}`"]
    if f.many:
        notes.append("multiplicity many")
    if f.unique:
        notes.append("unique")
    if f.calculated is not None:
        notes.append("calculated")
    if f.default is not None:
        notes.append(f"default {f.default!r}")
    schema["description"] = (schema.get("description", "") + " (" + ", ".join(notes) + ")").strip()
    schema["x-field-type"] = f.type.name
    schema["x-multiplicity"] = "many" if f.many else "one"
    if f.default is not None:
        schema["default"] = f.default
    if read_only(f):
        schema["readOnly"] = True
    if not f.is_nested or f.many:
        schema["example"] = example(f, write)
    return schema


def filter_paths(fields: list[Field], prefix: str = "") -> list[tuple[str, Field]]:
    """Every query-string path a list can filter on: fields, nested inner fields, relationship id/label."""
    out: list[tuple[str, Field]] = []
    for f in fields:
        path = prefix + f.name
        out.append((path, f))
        if f.is_nested:
            out += filter_paths(f.nested, path + ".")
    return out


def filter_targets(fields: list[Field]) -> list[tuple[str, Field, Target]]:
    """Every filter parameter of a list: ``filter_paths``, plus the id and label (a file: name) of references,
    each with what the query parser makes of it."""
    out = []
    for path, f in filter_paths(fields):
        keys = [f.type.reference_key, f.type.text_key] if f.type.is_reference else []
        for param in [path, *(f"{path}.{key}" for key in keys if key)]:
            out.append((param, f, resolve(fields, param, param)))
    return out


def _filter_sample(f: Field, target: Target) -> Any:
    """A value for a filter on ``target``: an id where the path compares ids (``owner``, ``company.id``)."""
    if f.type.is_reference and target.chain[-1].key == f.type.reference_key:
        return OBJECT_ID["example"]
    if f.type.filter_example is not None:
        return f.type.filter_example
    sample = _example_one(f) if not f.is_nested else None
    return sample.get("label") or sample.get("name") if isinstance(sample, dict) else sample


def filter_parameter(path: str, f: Field, target: Target) -> dict[str, Any]:
    """A query parameter for one field path: the operators the parser allows on it, with an example of each form."""
    ops = sorted(target.operators)
    sample = _filter_sample(f, target)
    shown = "" if sample is None else str(sample).lower() if isinstance(sample, bool) else str(sample)
    forms = [f"`{path}={shown}` (equals)"] if "equals" in ops and shown else []
    arg = {"between": f"between({shown},{shown})", "empty": "empty()", "notEmpty": "notEmpty()"}
    forms += [f"`{path}={arg.get(op, f'{op}({shown})')}`" for op in ops if op != "equals"]
    part = f", by its {path[len(f.path) + 1:]}" if path != f.path else ""  # ``owner.id``
    described = (f"Filter on {f.label} ({f.type.name}){part}. Operators: {', '.join(ops)}. "
                 f"Comma-separate values to match any of them. Forms: {'; '.join(forms)}")
    param: dict[str, Any] = {"name": path, "in": "query", "required": False, "description": described,
                             "schema": {"type": "string"}, "x-operators": ops}
    if shown:
        param["example"] = shown
    return param
