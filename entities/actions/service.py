"""Running actions: one record, many records (once over the selection), or global; sync or as a job."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from bson import ObjectId
from flask.json.provider import DefaultJSONProvider
from marshmallow import ValidationError

from core.context import WriteContext
from core.errors import ApiError, BadRequest, NotFound, ValidationFailed, field_error, top_field
from core.http import dumps_finite
from entities.actions.context import ActionContext
from entities.actions.definitions import Action, resolve_handler, update_values
from entities.metadata import Entity, HistorySettings
from entities.permissions.enforce import forbidden, policy, read_filter, strip_hidden
from entities.permissions.file_attach import FileAttachAuthorizer
from entities.permissions.policy import ALWAYS, UNRESTRICTED, Rule
from entities.query import iterate_ids, map_filter
from entities.records.render import render, with_entity
from entities.records.schema import flatten_errors, schema_for

log = logging.getLogger("runtime.actions")
BATCH = 200


class ActionFailed(ApiError):
    """The handler raised: the caller sees the handler's message, never a traceback."""

    def __init__(self, action: str, exc: BaseException):
        super().__init__(400, f"Action '{action}' failed: {exc}", code="actionFailed")


class JobHooks:
    """Ties a run to its job: logs, progress, stop checks and liveness (all no-ops for a sync run)."""

    def __init__(self, log_fn: Callable[[str, str], None] | None = None,
                 progress: Callable[[int, int], None] | None = None, stop: Callable[[], bool] | None = None,
                 batch_done: Callable[[ObjectId, int], None] | None = None,
                 heartbeat: Callable[[], None] | None = None):
        self.log, self.progress, self.stop, self.batch_done = log_fn, progress, stop, batch_done
        self._heartbeat = heartbeat
        self._last_beat = time.monotonic()

    def beat(self) -> None:
        """Tell the job system this run is alive (throttled to one write every few seconds)."""
        if self._heartbeat is not None and time.monotonic() - self._last_beat > 5:
            self._heartbeat()
            self._last_beat = time.monotonic()


class ActionService:
    def __init__(self, services: Any):
        self.svc = services

    # --- parameters ------------------------------------------------------------------------------

    def parameters(self, entity: Entity, action: Action, body: Any, ctx: WriteContext | None = None) -> dict[str, Any]:
        """Validate the body as the action's parameters; returns their REST JSON form. A relationship parameter
        is resolved among the records ``ctx``'s caller may link to (all, without ``ctx``), as a record field is."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise BadRequest("The body of an action holds its parameters as a JSON object")
        pseudo = Entity(name=f"{entity.name}.{action.name}", label=action.label, fields=action.parameters,
                        record_label=None, history=HistorySettings(), actions=[], version=entity.version,
                        id=f"{entity.id}:action:{action.name}", raw={})
        if ctx is not None:
            self.svc.records.check_sent(pseudo, body, ctx)
        errors: list[dict[str, Any]] = []
        try:
            loaded = schema_for(pseudo).load(body, partial=True)
        except ValidationError as exc:  # one 400 for every problem, as a record write: the others are still checked
            errors = flatten_errors(exc.messages, pseudo, sent=body)
            loaded = dict(exc.valid_data) if isinstance(exc.valid_data, dict) else {}
        invalid = {top_field(e) for e in errors}
        for p in action.parameters:
            if loaded.get(p.name) is None and p.default is not None and p.name not in invalid:
                loaded[p.name] = p.type.default_value(p.default, p)
        links = self.svc.records.link_filter(entity, ctx) if ctx is not None else None
        uploader = ctx.user_id if ctx is not None else None  # an inline upload is the caller's, as in a record
        self.svc.records.validator.resolve_references(action.parameters, loaded, "", errors, uploader, links)
        if ctx is not None and not errors:  # a file parameter, as a file field: the caller's or one they may see
            for authorizer in self.svc.records.authorizers:
                if isinstance(authorizer, FileAttachAuthorizer) and authorizer.needed(pseudo, ctx):
                    try:
                        authorizer.check("create", pseudo, None, loaded, ctx)
                    except ValidationFailed as exc:
                        errors += exc.errors
        # a value that did not load or resolve is not also reported missing
        refused = invalid | {e["field"] for e in errors}
        for p in action.parameters:
            if p.required and loaded.get(p.name) in (None, "", []) and p.name not in refused:
                errors.append(field_error(p.name, "required", "This parameter is required", p.label))
        if errors:
            raise ValidationFailed(errors)
        return schema_for(pseudo).dump({p.name: loaded.get(p.name) for p in action.parameters})

    # --- permission ------------------------------------------------------------------------------

    @staticmethod
    def check_allowed(entity: Entity, action: Action, ctx: WriteContext, single: bool) -> None:
        """403 before anything runs (sync or in the background) when the caller can never run ``action`` on
        this entity: no access, or an action rule of never; for a global action, any rule short of always (it
        has no record to meet a condition). A rule with a condition depends on each record: a run over several
        records still answers per id."""
        rule = action_rule(entity, action.name, ctx)
        if rule.never or (action.type == "global" and not rule.always):
            raise forbidden("action" if single else "actionMany")

    def check_one(self, entity: Entity, action: Action, record_id: ObjectId | str, ctx: WriteContext
                  ) -> dict[str, Any]:
        """The record ``action`` would run on, when ``ctx`` may run it there: 404 no such record (or not a record
        id), 403 not on this record. A background run of one record answers these before it is queued, as the
        sync run does; the precondition is left to the run (the record may change before the job starts)."""
        doc = self.svc.records.get(entity, record_id)
        if not action_rule(entity, action.name, ctx).allows(doc):
            raise forbidden("action")
        return doc

    # --- one record ------------------------------------------------------------------------------

    def run_one(self, entity: Entity, action: Action, record_id: ObjectId | str, params: dict[str, Any],
                user: dict[str, Any], ctx: WriteContext, hooks: JobHooks | None = None) -> Any:
        """Run a oneRecord action on one record. Returns the custom response or the updated record."""
        records = self.svc.records
        doc = self.check_one(entity, action, record_id, ctx)
        oid = doc["_id"]
        shown = policy(entity, ctx.caller) if ctx.caller is not None else UNRESTRICTED
        ctx = _as_action(ctx, entity, action)
        if action.precondition:
            selector = {"$and": [{"_id": oid}, map_filter(entity, action.precondition)]}
            if records.collection(entity).count_documents(selector) == 0:
                raise BadRequest(f"The precondition of action '{action.name}' is not met by record {oid}")
        result: Any = None
        if action.update is not None:
            updated = records.update(entity, oid, update_values(action, params), ctx)
        else:
            before = render(entity, doc)
            actx = self._context(entity, action, params, user, ctx, hooks, record=copy.deepcopy(before))
            result = self._call(action, actx)
            changes = {k: v for k, v in (actx.record or {}).items()
                       if k not in ("id", "version", "label") and before.get(k) != v}
            if changes:
                updated = records.update(entity, oid, {**changes, "version": doc.get("version", 0)}, ctx)
            else:
                updated = records.get(entity, oid)
        self._performed(entity, action, updated, ctx, before=doc)
        return result if action.custom_response else strip_hidden(shown, render(entity, updated))

    def run_one_each(self, entity: Entity, action: Action, ids: list[str], params: dict[str, Any],
                     user: dict[str, Any], ctx: WriteContext) -> dict[str, Any]:
        """A oneRecord action over several records: ``{id: {status, response | errorMessage}}``; one failure
        does not stop the others."""
        out: dict[str, Any] = {}
        for rid in ids:
            out[rid] = self.outcome(lambda rid=rid: self.run_one(entity, action, rid, params, user, ctx), action,
                                    entity)
        return out

    @staticmethod
    def outcome(fn: Callable[[], Any], action: Action, entity: Entity | None = None) -> dict[str, Any]:
        """One record's entry of a many-records result; a rendered record names its ``entity`` (seed 002)."""
        try:
            response = fn()
            if entity is not None and not action.custom_response and isinstance(response, dict):
                response = with_entity(entity, response)
            return {"status": "ok", "response": response}
        except ApiError as exc:
            return {"status": "error", "errorMessage": exc.message}
        except Exception as exc:  # a handler bug: report its message only, log the traceback
            log.exception("action %s failed", action.name)
            return {"status": "error", "errorMessage": f"Action '{action.name}' failed: {exc}"}

    # --- many records and global -----------------------------------------------------------------

    def run_many(self, entity: Entity, action: Action, selector: dict[str, Any], params: dict[str, Any],
                 user: dict[str, Any], ctx: WriteContext, hooks: JobHooks | None = None,
                 after: ObjectId | None = None) -> Any:
        """Run a manyRecords action once over the records ``selector`` matches (ascending ids after ``after``)
        and the caller's rule for the action allows."""
        base = read_filter(action_rule(entity, action.name, ctx), "action")
        selector = {"$and": [base, selector]} if base else selector
        ctx = _as_action(ctx, entity, action)
        records = self.svc.records
        col = records.collection(entity)

        def selection() -> Iterator[dict[str, Any]]:
            for batch in iterate_ids(col, selector, BATCH, after):
                docs = records.find_many(entity, batch)
                for oid in batch:
                    if oid in docs:
                        if hooks is not None:
                            hooks.beat()
                        yield render(entity, docs[oid])
                if hooks is not None and hooks.batch_done is not None:
                    hooks.batch_done(batch[-1], len(batch))

        if action.update is not None:
            batch_done = hooks.batch_done if hooks is not None else None
            beat = hooks.beat if hooks is not None else None
            updated = records.update_matching(entity, iterate_ids(col, selector, BATCH, after),
                                              update_values(action, params), ctx, batch_done, beat)
            result: Any = {"recordsUpdated": updated}
        else:
            actx = self._context(entity, action, params, user, ctx, hooks, records=selection,
                                 query=selector)
            result = self._call(action, actx)
        self._performed(entity, action, None, ctx)
        return {} if result is None else result

    def run_global(self, entity: Entity, action: Action, params: dict[str, Any], user: dict[str, Any],
                   ctx: WriteContext, hooks: JobHooks | None = None) -> Any:
        if not action_rule(entity, action.name, ctx).always:
            raise forbidden("action")
        ctx = _as_action(ctx, entity, action)
        result = self._call(action, self._context(entity, action, params, user, ctx, hooks))
        self._performed(entity, action, None, ctx)
        return {} if result is None else result

    # --- helpers ---------------------------------------------------------------------------------

    def _context(self, entity: Entity, action: Action, params: dict[str, Any], user: dict[str, Any],
                 ctx: WriteContext, hooks: JobHooks | None, **kwargs: Any) -> ActionContext:
        hooks = hooks or JobHooks()
        public_user = {"id": str(user.get("_id")), "email": user.get("email"), "fullName": user.get("fullName")}
        return ActionContext(services=self.svc, entity=entity, action=action, params=params, user=public_user,
                             write_ctx=ctx, logger=hooks.log, progress=hooks.progress, stop=hooks.stop, **kwargs)

    def _call(self, action: Action, actx: ActionContext) -> Any:
        """The handler's return value; when it is the response (``customResponse``, manyRecords, global), one that
        cannot be written as JSON fails the action here, before its record change and history are written."""
        fn = resolve_handler(action.handler or "", tuple(self.svc.config.app_modules))
        try:
            result = fn(actx)
        except ApiError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "JobInterrupted":
                raise
            log.exception("action %s failed", action.name)
            raise ActionFailed(action.name, exc) from None
        if action.custom_response or action.type != "oneRecord":
            _check_json(action, result)
        return result

    def _performed(self, entity: Entity, action: Action, doc: dict[str, Any] | None, ctx: WriteContext,
                   before: dict[str, Any] | None = None) -> None:
        self.svc.records.action_performed(entity, action.name, doc, ctx, before)


def _check_json(action: Action, response: Any) -> None:
    """An ``ActionFailed`` 400 when ``response`` cannot be written as the JSON of an answer (a set, an object)."""
    try:
        dumps_finite(response, default=DefaultJSONProvider.default)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ActionFailed(action.name, TypeError(f"its response cannot be converted to JSON ({exc})")) from None


def selection_filter(entity: Entity, ids: list[str] | None, query_filter: dict[str, Any] | None) -> dict[str, Any]:
    if ids is not None:
        oids = []
        for rid in ids:
            try:
                oids.append(ObjectId(rid))
            except Exception:
                raise NotFound(f"Record '{rid}' does not exist") from None
        return {"_id": {"$in": oids}}
    return query_filter or {}


def action_rule(entity: Entity, action_name: str, ctx: WriteContext) -> Rule:
    """The caller's rule for running the action (always for developers, scripts and the system)."""
    return policy(entity, ctx.caller).action(action_name) if ctx.caller is not None else ALWAYS


def _as_action(ctx: WriteContext, entity: Entity, action: Action) -> WriteContext:
    """The context of the writes an allowed action makes: the action's permission is what gates them."""
    return replace(ctx.with_path(f"entities.{entity.name}.actions.{action.name}"), caller=None)
