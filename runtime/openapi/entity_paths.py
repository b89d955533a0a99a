"""The concrete paths and schemas of one entity: ``/data/companies``, ``/data/companies/{id}``, its aggregate,
history, import, export and one path per action, with that entity's record schema and filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from entities.actions.definitions import Action, parse_action
from entities.metadata import Entity, Field
from entities.records.schemas import OUTCOMES
from runtime.openapi.fields import (
    ID_LIST_PATTERN,
    OBJECT_ID,
    example,
    filter_parameter,
    filter_paths,
    filter_targets,
    read_schema,
    write_schema,
)

ERROR = {"$ref": "#/components/schemas/Error"}
JOB_LINK = {"$ref": "#/components/schemas/JobLink"}
HISTORY_PAGE = {"$ref": "#/components/schemas/HistoryPage"}
AGGREGATE_STAGE = {"$ref": "#/components/schemas/AggregateStage"}
AGGREGATE_RESULT = {"$ref": "#/components/schemas/AggregateResult"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], example_value: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example_value is not None:
        media["example"] = example_value
    return {"application/json": media}


def responses(ok: dict[str, Any], ok_description: str, *errors: int, ok_example: Any = None) -> dict[str, Any]:
    """200 plus the error statuses an operation can answer (every error has the same body)."""
    why = {400: "Invalid input (field errors name the fields)", 401: "No token or an expired one",
           403: "Not allowed", 404: "Unknown entity, record or action", 409: "The record changed since `version`",
           413: "Body too large", 503: "Under maintenance"}
    out: dict[str, Any] = {"200": {"description": ok_description, "content": json_content(ok, ok_example)}}
    for status in sorted({401, 403, 404, 503, *errors}):
        out[str(status)] = {"description": why[status], "content": json_content(ERROR)}
    out["default"] = {"description": "Any other error", "content": json_content(ERROR)}
    return out


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def id_param(many: bool = False) -> dict[str, Any]:
    if many:
        schema = {"type": "string", "pattern": ID_LIST_PATTERN, "example": OBJECT_ID["example"]}
        text = "a record id, or several separated by commas"
    else:
        schema, text = dict(OBJECT_ID), "a record id"
    return {"name": "id", "in": "path", "required": True, "schema": schema, "description": text}


ASYNC = query("_async", {"type": "boolean"}, "run in a background job; the answer is `{jobLink, jobId}`")
ASYNC_ALIAS = query("async", {"type": "boolean"}, "the same as `_async` (if both are given they must agree)")
LOW_PRIORITY = query("_lowPriority", {"type": "boolean"}, "queue the job on the low-priority queue")


@dataclass
class EntityPart:
    """What one entity adds to the document."""

    paths: dict[str, dict[str, Any]]
    schemas: dict[str, dict[str, Any]]
    parameters: dict[str, dict[str, Any]]
    tag: dict[str, Any]


class EntityDocument:
    """``allowed``: the operations on the records the caller may use (None: all); the fields read-only for them
    come as ``CallerReadOnly``."""

    def __init__(self, entity: Entity, fields: list[Field], actions: list[Action], prefix: str,
                 allowed: set[str] | None = None,
                 generic: dict[str, dict[str, Any]] | None = None):
        """``generic``: the paths of the routes every entity shares (``/data/{entity_name}...``), whose query
        parameters each entity's own operations list too."""
        self.entity = entity
        self.generic = generic or {}
        self.fields = fields
        self.actions = actions
        self.prefix = prefix
        self.name = entity.name
        self.base = f"{prefix}/data/{entity.name}"
        self.allowed = allowed

    # --- schemas -------------------------------------------------------------------------------

    def schemas(self) -> dict[str, dict[str, Any]]:
        n, label = self.name, self.entity.label
        record_props: dict[str, Any] = {
            "id": {**OBJECT_ID, "readOnly": True}, "version": {"type": "integer", "readOnly": True,
                                                             "description": "bumped by every change; "
                                                             "send it back on update for optimistic locking"},
            "label": {"type": "string", "nullable": True, "readOnly": True, "description": "the record label"}}
        record_props.update({f.name: read_schema(f) for f in self.fields})
        writable = {f.name: s for f in self.fields if (s := write_schema(f)) is not None}
        required = [f.name for f in self.fields if f.required and f.name in writable]
        sample = {f.name: example(f, write=True) for f in self.fields if f.name in writable}
        create: dict[str, Any] = {"type": "object", "title": f"New {label} record", "properties": writable,
                                  "additionalProperties": False, "example": sample}
        if required:
            create["required"] = required
        update_props = {"version": {"type": "integer", "description": "the version read; a stale one gives 409"},
                        **{k: {**v, "nullable": True} for k, v in writable.items()}}
        plain = {k: {"type": "string", "nullable": True} for k in record_props if k not in ("id", "version")}
        return {
            n: {"type": "object", "title": f"{label} record", "required": ["id", "version", "label"],
                "properties": record_props, "x-entity": n,
                "example": {"id": OBJECT_ID["example"], "version": 0, "label": "Test 1",
                            **{f.name: example(f) for f in self.fields}}},
            f"{n}.Input": create,
            f"{n}.Update": {"type": "object", "title": f"Changes to a {label} record", "properties": update_props,
                            "additionalProperties": False, "example": {"version": 0, **dict(list(sample.items())[:2])}},
            f"{n}.PlainText": {"type": "object", "title": f"{label} record as text (_format=plainText)",
                               "properties": {"id": {"type": "string"}, "version": {"type": "integer"}, **plain}},
            f"{n}.List": {"type": "object", "title": f"A page of {label} records", "required": ["total", "items"],
                          "properties": {"total": {"type": "integer", "description": "every match, not just this page"},
                                         "offset": {"type": "string", "nullable": True,
                                                    "description": "send back as `_offset` for the next page"},
                                         "items": {"type": "array", "items": self._any_record()}}},
            **{f"{n}.actions.{a.name}": self._action_params(a) for a in self.actions},
        }

    def _any_record(self) -> dict[str, Any]:
        return {"anyOf": [ref(self.name), ref(f"{self.name}.PlainText")]}

    def _action_params(self, action: Action) -> dict[str, Any]:
        props = {p.name: s for p in action.parameters if (s := write_schema(p)) is not None}
        out: dict[str, Any] = {"type": "object", "title": f"Parameters of {action.label}", "properties": props,
                               "additionalProperties": False}
        required = [p.name for p in action.parameters if p.required]
        if required:
            out["required"] = required
        return out

    # --- parameters ----------------------------------------------------------------------------

    def filter_parameters(self) -> dict[str, dict[str, Any]]:
        """Shared parameter components: one per filterable field path, plus ``_query`` and ``_globalSearch``."""
        out = {f"{self.name}.filter.{path}": filter_parameter(path, f, target)
               for path, f, target in filter_targets(self.fields)}
        out[f"{self.name}._query"] = query("_query", {"type": "string"},
                                           "a complex query: `or(filter('state','active'),filter('type','b'))`")
        out[f"{self.name}._globalSearch"] = query("_globalSearch", {"type": "string"},
                                                  "words matched in any text field, any case")
        return out

    def filters(self) -> list[dict[str, Any]]:
        return [{"$ref": f"#/components/parameters/{name}"} for name in self.filter_parameters()]

    def listing(self) -> list[dict[str, Any]]:
        sortable = ["id", *[p for p, f in filter_paths(self.fields) if f.type.sortable and not f.many
                            and not f.is_nested]]
        return [
            query("_size", {"type": "integer", "minimum": 0, "maximum": 1000, "default": 20}, "page size"),
            query("_offset", {"type": "string"}, "rows to skip, or the `offset` of the previous page (a record id)"),
            query("_sortField", {"type": "string", "enum": sortable}, "the field to sort by (default `id`)"),
            query("_sortType", {"type": "string", "enum": ["asc", "desc"]}, "sort direction (default `desc`)"),
            *self.projection(),
        ]

    def projection(self) -> list[dict[str, Any]]:
        names = ",".join(f.name for f in self.fields[:2])
        rels = [f.name for f in self.fields if f.type.name == "relationship"]
        out = [query("_fields", {"type": "string", "example": names}, "comma list of the fields to return"),
               query("_format", {"type": "string", "enum": ["native", "plainText"]},
                     "`plainText` renders every value as text"),
               query("_formatForUser", {"type": "string"}, "with `plainText`: the user (id or email) whose timezone "
                     "date-times are written in (default: the caller's)")]
        if rels:
            out.append(query("_relationshipsToFetch", {"type": "string", "example": rels[0]},
                             f"comma list of relationships whose records to include: {', '.join(rels)}"))
        return out

    def with_generic(self, own: list[dict[str, Any]], path: str, method: str) -> list[dict[str, Any]]:
        """``own`` and then the query parameters the shared route ``/data/{entity_name}<path>`` declares that
        ``own`` does not name: each entity's operation lists every parameter its route reads."""
        components = self.filter_parameters()
        named = {(components[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p).get("name") for p in own}
        generic = self.generic.get(f"{self.prefix}/data/{{entity_name}}{path}", {}).get(method, {})
        return own + [p for p in generic.get("parameters", [])
                      if isinstance(p, dict) and p.get("in") == "query" and p.get("name") not in named]

    # --- paths ---------------------------------------------------------------------------------

    def op(self, op_id: str, summary: str, **rest: Any) -> dict[str, Any]:
        return {"tags": [self.name], "operationId": f"{self.name}.{op_id}", "summary": summary, **rest}

    def body(self, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
        return {"required": required, "content": json_content(schema)}

    def paths(self) -> dict[str, dict[str, Any]]:
        n, label = self.name, self.entity.label
        record, listing = ref(n), ref(f"{n}.List")
        paths: dict[str, dict[str, Any]] = {
            self.base: {
                "get": self.op("list", f"List {label} records",
                               parameters=[*self.listing(), *self.filters()],
                               responses=responses(listing, f"A page of {label} records", 400)),
                "post": self.op("create", f"Create a {label} record", requestBody=self.body(ref(f"{n}.Input")),
                                responses=responses(record, "The created record", 400, 409, 413)),
                "delete": self.op("deleteByQuery", f"Delete the {label} records a query matches",
                                  description="Without `_async`, at most 1,000 matches; the answer maps each id "
                                              "to `{status, response | errorMessage}`.",
                                  parameters=self.with_generic([ASYNC, LOW_PRIORITY, *self.filters()], "", "delete"),
                                  responses=responses(self._per_id_or_job(), "The outcome per record", 400)),
            },
            f"{self.base}/{{id}}": {
                "get": self.op("get", f"Read a {label} record",
                               parameters=self.with_generic([id_param(), *self.projection()], "/{record_id}", "get"),
                               responses=responses(self._any_record(), "The record", 400)),
                "put": self.op("update", f"Update a {label} record",
                               description="Only the fields sent change; `null` clears one. Send `version` to get "
                                           "409 if someone changed the record since you read it.",
                               parameters=[id_param()], requestBody=self.body(ref(f"{n}.Update")),
                               responses=responses(record, "The updated record", 400, 409, 413)),
                "delete": self.op("delete", f"Delete {label} records by id",
                                  description="One id answers the deleted record; several (comma-separated) answer "
                                              "`{id: {status, response | errorMessage}}`.",
                                  parameters=self.with_generic([id_param(many=True), ASYNC, ASYNC_ALIAS, LOW_PRIORITY],
                                                               "/{record_ids}", "delete"),
                                  responses=responses({"anyOf": [record, self._per_id_or_job()]},
                                                      "The deleted record(s)", 400, 409)),
            },
            f"{self.base}/aggregate": {
                "put": self.op("aggregate", f"Aggregate {label} records",
                               requestBody={"required": True, "content": json_content(
                                   {"type": "array", "items": AGGREGATE_STAGE, "maxItems": 50},
                                   [{"match": {self.fields[0].name: "notEmpty()"}} if self.fields else {"count": "n"},
                                    {"count": "total"}])},
                               responses=responses(AGGREGATE_RESULT, "The aggregated items", 400)),
            },
            f"{self.base}/import": {
                "post": self.op("import", f"Import {label} records from CSV",
                                description="A background `IMPORT_RECORDS` job: headers are field names or labels; "
                                            "a row whose first unique column matches a record updates it.",
                                parameters=self.with_generic([], "/import", "post"),
                                requestBody={"required": True, "content": {
                                    "multipart/form-data": {"schema": {
                                        "type": "object", "required": ["file"],
                                        "properties": {"file": {"type": "string", "format": "binary"}}}},
                                    "text/csv": {"schema": {"type": "string"}}}},
                                responses=responses(JOB_LINK, "The import job", 400, 413)),
            },
            f"{self.base}/export": {
                "put": self.op("export", f"Export {label} records to CSV",
                               description="A background `EXPORT_RECORDS` job; its `results.fileId` downloads the "
                                           "file from `/files/{fileId}`. Rows are the records the list gives for "
                                           "the same parameters, in its order; no `_size` means every match.",
                               parameters=self.with_generic([
                                           query("_fields", {"type": "string"}, "the columns"),
                                           query("_useFieldNames", {"type": "boolean"},
                                                 "headers are field names instead of labels"),
                                           LOW_PRIORITY, *self.filters()], "/export", "put"),
                               responses=responses(JOB_LINK, "The export job", 400)),
            },
        }
        if self.entity.history.enabled:
            paths[f"{self.base}/history"] = {"get": self.op(
                "history", f"History of every {label} record",
                parameters=[query("eventTypes", {"type": "string"}, "comma list of event types"),
                            query("from", {"type": "integer", "minimum": 0}, "epoch millis"),
                            query("to", {"type": "integer", "minimum": 0}, "epoch millis"),
                            query("_size", {"type": "integer", "minimum": 0, "maximum": 1000}, "page size"),
                            query("_offset", {"type": "string"}, "the `offset` of the previous page")],
                responses=responses(HISTORY_PAGE, "History entries, newest first", 400))}
            paths[f"{self.base}/{{id}}/history"] = {"get": self.op(
                "recordHistory", f"History of a {label} record",
                parameters=[id_param(), query("_size", {"type": "integer", "minimum": 0, "maximum": 1000},
                                              "page size"),
                            query("_offset", {"type": "string"}, "the `offset` of the previous page")],
                responses=responses(HISTORY_PAGE, "History entries, newest first", 400))}
        self._drop_forbidden(paths)
        for action in self.actions:
            paths.update(self.action_paths(action))
        return paths

    def _drop_forbidden(self, paths: dict[str, dict[str, Any]]) -> None:
        """Leave out the operations on the records the caller may not use (and paths left with none)."""
        if self.allowed is None:
            return
        needs = {(self.base, "post"): "create", (self.base, "delete"): "delete",
                 (f"{self.base}/{{id}}", "put"): "edit", (f"{self.base}/{{id}}", "delete"): "delete",
                 (f"{self.base}/import", "post"): "import", (f"{self.base}/export", "put"): "export",
                 (f"{self.base}/history", "get"): "history", (f"{self.base}/{{id}}/history", "get"): "history"}
        for (path, method), operation in needs.items():
            if operation not in self.allowed and path in paths:
                paths[path].pop(method, None)
                if not paths[path]:
                    del paths[path]

    @staticmethod
    def _per_id_or_job() -> dict[str, Any]:
        return {"anyOf": [dict(OUTCOMES), JOB_LINK]}

    def action_paths(self, action: Action) -> dict[str, dict[str, Any]]:
        n = self.name
        body = {"required": False, "content": json_content(ref(f"{n}.actions.{action.name}"))}
        result = {} if action.custom_response else {"anyOf": [ref(n), self._per_id_or_job()]}
        text = action.raw.get("description") or f"`{action.type}` action"
        out: dict[str, dict[str, Any]] = {}
        run_query = self.op(
            f"actions.{action.name}", f"{action.label}" + (" (global)" if action.type == "global" else
                                                           f" on the {self.entity.label} records a query matches"),
            description=text, parameters=[ASYNC, LOW_PRIORITY] if action.type == "global" else self.with_generic(
                [ASYNC, LOW_PRIORITY, *self.filters()], "/{segment}", "put"),
            requestBody=body, responses=responses({} if action.type != "oneRecord" else result,
                                                  "The action's answer", 400))
        out[f"{self.base}/{action.name}"] = {"put": run_query}
        if action.type != "global":
            out[f"{self.base}/{{id}}/{action.name}"] = {"put": self.op(
                f"actions.{action.name}.byId", f"{action.label} on {self.entity.label} records by id",
                description=text, parameters=self.with_generic([id_param(many=True), ASYNC, LOW_PRIORITY],
                                                               "/{record_ids}/{action_name}", "put"), requestBody=body,
                responses=responses(result, "The updated record, the custom response, or the outcome per id",
                                    400, 409))}
        return out

    def part(self) -> EntityPart:
        tag = {"name": self.name, "description": f"{self.entity.label}: records, queries, actions, history, "
                                                  "import and export"}
        return EntityPart(paths=self.paths(), schemas=self.schemas(), parameters=self.filter_parameters(), tag=tag)


def entity_actions(entity: Entity) -> list[Action]:
    names = {f.name for f in entity.fields}
    out = []
    for i, raw in enumerate(entity.actions):
        action = parse_action(raw, i, names, [])
        if action is not None:
            out.append(action)
    return out
