"""Plugs the entities package into the app: its routes, job runners, definition checks and the interfaces
the packages below it call (file references, background deletes, actions from the records routes)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.services import Services
from entities.actions.definitions import check_definition as check_actions
from entities.actions.jobs import run_action_job
from entities.actions.routes import run_on_ids, run_on_query
from entities.actions.schedules import install_schedule_kinds
from entities.aggregate.routes import blp as aggregate_blp
from entities.history.routes import blp as history_blp
from entities.listeners.plugin import install_listeners
from entities.metadata_routes import blp as metadata_blp
from entities.permissions.enforce import GroupAuthorizer, check_api_flags
from entities.permissions.file_attach import FileAttachAuthorizer, refuse_uploads
from entities.records.delete_job import DELETE_RECORDS, run_delete, submit_delete
from entities.records.file_refs import RecordFileReferences
from entities.records.routes import blp as records_blp
from entities.refactoring.cascade import CASCADE_UPDATE, install_hooks, run_cascade_update
from entities.refactoring.jobs import REFACTORING, run_refactoring
from entities.transfer.exporter import run_export_job
from entities.transfer.importer import run_import_job
from entities.transfer.routes import blp as transfer_blp


def install(app: Flask, api: Any, services: Services) -> None:
    services.registry.checks.append(check_actions)
    groups = GroupAuthorizer(services.records)
    services.records.authorizers.append(groups)
    services.records.link_scope = groups.link_scope
    services.records.authorizers.append(FileAttachAuthorizer(services.store, services.registry))
    services.records.body_checks.append(refuse_uploads)
    services.plugins.request_checks.append(check_api_flags)
    services.plugins.flush_hooks.append(services.history.publisher.flush)
    services.plugins.action_runners.update(ids=run_on_ids, query=run_on_query)
    services.plugins.delete_submitter = submit_delete
    services.files.references = RecordFileReferences(services.records)
    jobs = services.jobs
    jobs.register_runner(DELETE_RECORDS, run_delete)
    jobs.register_runner("EXECUTE_ACTION", run_action_job)
    jobs.register_runner("IMPORT_RECORDS", run_import_job)
    jobs.register_runner("EXPORT_RECORDS", run_export_job)
    jobs.register_runner(REFACTORING, run_refactoring, internal=True)
    jobs.register_runner(CASCADE_UPDATE, run_cascade_update, internal=True)
    install_hooks(services)
    install_schedule_kinds(services)
    install_listeners(services)
    for blp in (metadata_blp, history_blp, records_blp, aggregate_blp, transfer_blp):
        api.register_blueprint(blp, url_prefix=services.config.api_prefix)
