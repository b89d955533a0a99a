"""The services of one app, built once by the composition root (``runtime.app``) and reached through
``services()``.

Lower packages never import the packages above them: what they need from above is a typed interface
(a ``Protocol``) that the composition root fills in at start-up. The attributes typed with higher-layer
classes are only ever *set* by the composition root; their imports exist for type checkers alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flask import current_app

if TYPE_CHECKING:
    from core.config import Config
    from core.storage import Store
    from entities.history.recorder import HistoryRecorder
    from entities.permissions.service import Permissions
    from entities.records.lifecycle import RecordLifecycle
    from entities.registry import Registry
    from files.service import FileService
    from jobs.clock import EmbeddedClock
    from jobs.schedules.service import ScheduleService
    from jobs.service import JobService
    from jobs.webhooks.service import WebhookService
    from runtime.api_keys import ApiKeys
    from runtime.auth import AuthService
    from runtime.users.service import GroupsService, UsersService


class AppLogWriter(Protocol):
    """Writes an application log entry (``runtime.applogs`` provides it)."""

    def write(self, level: str, message: str, additional_info: Any = None, user: str | None = None,
              sub_type: str | None = None, admin_user: str | None = None, ip: str | None = None) -> Any: ...

    def log(self, level: str, message: str, additional_info: Any = None, user: str | None = None, *,
            sub_type: str | None = None, admin_user: str | None = None, ip: str | None = None) -> None:
        """Queue an entry for the background writer: never waits for, nor fails because of, the store."""


# ``(entity, ids or None for a query, action name) -> response``: runs an action from the records routes.
ActionRunner = Callable[[Any, "list[str] | None", str], Any]
# ``(entity, selection) -> response``: queues a background delete of ids or of a query's matches.
DeleteSubmitter = Callable[[Any, "dict[str, Any]"], Any]
# ``(user id or email) -> IANA timezone``: the one that user reads date-times in, None for UTC (AUTO mode);
# NotFound (BadRequest for a malformed reference) when no user has that id or email.
UserTimezone = Callable[[str], "str | None"]


class DefinitionFollower(Protocol):
    """Keeps rules stored elsewhere that name an entity's fields by path (groups' permissions) in step with a
    change of its definition. ``moves``: old field path → new path, None for a removed field."""

    def check(self, entity_name: str, new_entity: Any, moves: dict[str, str | None]) -> list[dict[str, Any]]:
        """Field errors for the rules the change would leave naming fields it removes or cannot follow."""

    def follow(self, entity_name: str, moves: dict[str, str | None]) -> Callable[[bool], None]:
        """Before the definition is saved: make the rules hold for the old and the new paths where they can
        (never a moment without them). Returns what to call once the save ended (True: saved, so the rules
        name only the new paths; False: not saved, so they are as they were)."""


@dataclass
class Plugins:
    """What packages add to the app at start-up. Filled by each package's ``install``; read, never mutated,
    while requests run."""

    public_endpoints: set[str] = field(default_factory=set)  # endpoints that need no token
    # file downloads that also take the token from a ``token`` cookie, on GET only (a browser follows a file link)
    cookie_endpoints: set[str] = field(default_factory=set)
    index_hooks: list[Callable[[], None]] = field(default_factory=list)  # create a package's indexes
    start_hooks: list[Callable[[], None]] = field(default_factory=list)  # `runtime serve`: start background work
    action_runners: dict[str, ActionRunner] = field(default_factory=dict)  # "ids" | "query"
    delete_submitter: DeleteSubmitter | None = None
    user_timezone: UserTimezone | None = None  # for ``_format=plainText`` (runtime.users)
    clock_tasks: list[Callable[[int], Any]] = field(default_factory=list)  # fn(now ms) on every clock tick
    # run after a request is authenticated (``flask.g.user`` set): raise to refuse it
    request_checks: list[Callable[[], None]] = field(default_factory=list)
    # write what background threads hold queued; run when a job ends (an RQ job process exits without atexit)
    flush_hooks: list[Callable[[], object]] = field(default_factory=list)
    definition_followers: list[DefinitionFollower] = field(default_factory=list)


@dataclass
class Services:
    config: Config
    store: Store
    plugins: Plugins = field(default_factory=Plugins)
    # set by the composition root, in this order of construction
    auth: AuthService = None  # type: ignore[assignment]
    registry: Registry = None  # type: ignore[assignment]
    history: HistoryRecorder = None  # type: ignore[assignment]
    records: RecordLifecycle = None  # type: ignore[assignment]
    permissions: Permissions = None  # type: ignore[assignment]
    jobs: JobService = None  # type: ignore[assignment]
    files: FileService = None  # type: ignore[assignment]
    app_logs: AppLogWriter | None = None
    schedules: ScheduleService = None  # type: ignore[assignment]
    webhooks: WebhookService = None  # type: ignore[assignment]
    clock: EmbeddedClock | None = None  # the web process's own clock when there is no Redis
    users: UsersService = None  # type: ignore[assignment]
    groups: GroupsService = None  # type: ignore[assignment]
    api_keys: ApiKeys = None  # type: ignore[assignment]


def services() -> Services:
    """The services of the app handling the current request (or app context)."""
    return current_app.extensions["runtime"]
