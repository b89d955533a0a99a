"""One marshmallow schema per entity version, built from metadata and cached.

``load`` turns a REST body into stored values (one ``TypedField`` per entity field, nested groups get
their own inner schema); ``dump`` renders stored values as REST JSON. Field errors come back in the
platform's ``validationErrors`` shape.
"""

from __future__ import annotations

import threading
from typing import Any

from bson import ObjectId
from marshmallow import RAISE, Schema, ValidationError
from marshmallow import fields as mf

from core.ids import parse_object_id
from entities.metadata import Entity, Field
from entities.types import FieldInvalid

_SEP = "\x1f"


def _err(code: str, message: str) -> str:
    return f"{code}{_SEP}{message}"


class TypedField(mf.Field):
    """A marshmallow field that delegates to the field type; handles multiplicity and nested groups."""

    def __init__(self, fdef: Field, inner: type[Schema] | None, **kwargs: Any):
        super().__init__(allow_none=True, **kwargs)
        self.fdef = fdef
        self.inner = inner

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        f = self.fdef
        if not f.writable:
            raise ValidationError(_err("readOnly", "This field cannot be written"))
        if f.many:
            if not isinstance(value, list):
                raise ValidationError(_err("invalid", "Must be a list"))
            if len(value) > 1000:
                raise ValidationError(_err("invalid", "At most 1000 values"))
            out, errors = [], {}
            for i, item in enumerate(value):
                if item is None:
                    continue
                try:
                    out.append(self._one(item))
                except ValidationError as exc:
                    errors[i] = exc.messages
            if errors:
                raise ValidationError(errors)
            return out
        return self._one(value)

    def _one(self, value: Any) -> Any:
        f = self.fdef
        if f.is_nested:
            if not isinstance(value, dict):
                raise ValidationError(_err("invalid", "Must be an object"))
            item_id = parse_object_id(value.get("id")) or ObjectId()
            body = {k: v for k, v in value.items() if k not in ("id", "label")}
            loaded = self.inner().load(body)  # type: ignore[misc]
            missing = [n.name for n in f.nested if n.required and loaded.get(n.name) in (None, [])]
            if missing:
                raise ValidationError({n: [_err("required", "This field is required")] for n in missing})
            return {"id": item_id, **loaded}
        try:
            return f.type.load(value, f)
        except FieldInvalid as exc:
            raise ValidationError(_err(exc.code, exc.message)) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        f = self.fdef
        if value is None:
            return [] if f.many else f.type.missing_value()
        if f.many:
            if value.__class__ is not list:  # a single value stored before the field was many (false: unset)
                return [] if value is False or value is None else [self._dump_one(value)]
            return [self._dump_one(v) for v in value]
        return self._dump_one(value)

    def _dump_one(self, value: Any) -> Any:
        f = self.fdef
        if f.is_nested:
            out = {"id": str(value.get("id")) if value.get("id") is not None else None, "label": value.get("label")}
            dumped = self.inner().dump(value)  # type: ignore[misc]
            # in definition order, as top-level fields: an unset inner field reads null
            for name, unset in self._unset_inner().items():
                out[name] = dumped.pop(name) if name in dumped else unset() if callable(unset) else unset
            out.update(dumped)
            return out
        return f.type.dump(value, f)

    def _unset_inner(self) -> dict[str, Any]:
        """What each inner field of a nested group reads as when the item has no value for it (null, ``[]`` for
        a multi-valued one, the type's missing value, such as ``false``); a list is made anew for each item."""
        unset = self.__dict__.get("_unset")
        if unset is None:
            unset = self.__dict__["_unset"] = {
                n.name: list if n.many else n.type.missing_value()
                for n in self.fdef.nested}
        return unset


def _build(fields: list[Field], name: str) -> type[Schema]:
    attrs: dict[str, Any] = {}
    for f in fields:
        inner = _build(f.nested, f"{name}_{f.name}") if f.is_nested else None
        attrs[f.name] = TypedField(f, inner)
    schema_cls = Schema.from_dict(attrs, name=name)
    schema_cls.Meta.unknown = RAISE  # type: ignore[attr-defined]
    schema_cls.Meta.ordered = True  # type: ignore[attr-defined]
    return schema_cls


_cache: dict[tuple[str, str, int], type[Schema]] = {}
_cache_lock = threading.Lock()


_instances = threading.local()


def schema_for(entity: Entity) -> Schema:
    """The schema of one entity version. Building an instance binds every field (a few hundred µs for a
    wide entity), so each thread keeps one instance per version instead of making one per record."""
    key = (entity.id, entity.name, entity.version)
    mine: dict[tuple[str, str, int], Schema] = _instances.__dict__.setdefault("schemas", {})
    schema = mine.get(key)
    if schema is None:
        cls = _cache.get(key)
        if cls is None:
            with _cache_lock:
                cls = _cache.get(key) or _build(entity.fields, f"Record_{entity.name}_{entity.version}")
                _cache[key] = cls
        schema = mine[key] = cls()
    return schema


def load_fast(entity: Entity, body: dict[str, Any]) -> dict[str, Any] | None:
    """What ``schema_for(entity).load(body, partial=True)`` returns, without marshmallow's per-field machinery
    (a third of an import's time); None when a key is unknown or a value is refused: the schema's own
    ``load`` then reports the errors in its shape."""
    fields: dict[str, Any] = schema_for(entity).load_fields
    if not body.keys() <= fields.keys():
        return None
    out: dict[str, Any] = {}
    try:
        for name, field in fields.items():  # in field order, as the schema's load
            if name in body:
                value = body[name]
                out[name] = None if value is None else field._deserialize(value, name, body)
    except ValidationError:
        return None
    return out


def dump_fast(entity: Entity, data: dict[str, Any]) -> dict[str, Any]:
    """``schema_for(entity).dump(data)`` for a dict of stored values (keys that are no field are left out, as
    the schema's dump does), calling each field's serializer directly instead of marshmallow's machinery."""
    fields: dict[str, Any] = schema_for(entity).dump_fields
    return {name: field._serialize(data[name], name, data) for name, field in fields.items() if name in data}


_NOT_ECHOED = ("required", "unknown", "readOnly")  # errors about a field, not about the value sent for it
_ABSENT = object()


def flatten_errors(messages: Any, entity: Entity | None, prefix: str = "", sent: Any = _ABSENT) -> list[dict[str, Any]]:
    """Marshmallow's nested message dict → ``[{field, fieldLabel, code, message, additionalInfo}]``. With the
    body that was ``sent``, an error about a value carries it as ``additionalInfo.rejectedValue``."""
    out: list[dict[str, Any]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}[{key}]" if isinstance(key, int) else (f"{prefix}.{key}" if prefix else str(key))
            out.extend(flatten_errors(value, entity, path, _item(sent, key)))
    elif isinstance(messages, list):
        for m in messages:
            out.extend(flatten_errors(m, entity, prefix, sent))
    else:
        text = str(messages)
        if _SEP in text:
            code, message = text.split(_SEP, 1)
        elif text == "Unknown field.":
            code, message = "unknown", "Unknown field"
        else:
            code, message = "invalid", text
        label = prefix
        if entity is not None:
            f = entity.resolve(_strip_indexes(prefix))
            label = f.label if f else prefix
        echoed = sent is not _ABSENT and sent is not None and code not in _NOT_ECHOED
        out.append({"field": prefix, "fieldLabel": label, "code": code, "message": message,
                    "additionalInfo": {"rejectedValue": sent} if echoed else None})
    return out


def _item(sent: Any, key: Any) -> Any:
    """The part of a sent body that an error keyed ``key`` is about (a field of an object, an item of a list)."""
    if isinstance(key, int):
        return sent[key] if isinstance(sent, list) and 0 <= key < len(sent) else _ABSENT
    return sent.get(key, _ABSENT) if isinstance(sent, dict) else _ABSENT


def _strip_indexes(path: str) -> str:
    import re
    return re.sub(r"\[\d+\]", "", path)
