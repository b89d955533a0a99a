"""Configuration read from the environment (12-factor): every setting of every package, read once here."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment; a value that is not a number stops the start with its name."""
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """A setting that takes one of a few words; anything else stops the start with its name and the choices."""
    raw = (os.environ.get(name) or default).strip().lower()
    if raw not in choices:
        raise SystemExit(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def env_float(name: str, default: float) -> float:
    """A positive number of seconds from the environment; anything else stops the start with its name."""
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"{name} must be more than 0, got {raw!r}")
    return value


def env_floats(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """A comma list of numbers of seconds (``60,300,1800``)."""
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        values = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise SystemExit(f"{name} must be a comma list of numbers of seconds, got {raw!r}") from None
    if any(v < 0 for v in values):
        raise SystemExit(f"{name} must not hold negative numbers, got {raw!r}")
    return values


def env_list(name: str, lower: bool = False) -> tuple[str, ...]:
    """A comma list (blanks dropped)."""
    items = (part.strip() for part in os.environ.get(name, "").split(","))
    return tuple(item.lower() if lower else item for item in items if item)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Config:
    mongodb_uri: str | None = None
    mongodb_db: str = "runtime"
    redis_url: str | None = None
    port: int = 8080
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    api_prefix: str = "/api"
    app_name: str = "runtime"
    admin_email: str | None = None
    admin_password: str | None = None
    app_modules: tuple[str, ...] = ()
    max_content_length: int = 16 * 1024 * 1024
    token_idle_seconds: int = 8 * 3600
    query_max_time_ms: int = 5000
    aggregate_max_time_ms: int = 10000
    aggregate_max_results: int = 10000
    sync_max_records: int = 1000
    maintenance_mode: bool = False  # only developers can log in and call the API (others get 503)
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API ("*" for any)
    app_log_retention_days: int = 30
    app_log_max_entries: int = 100_000  # the oldest app logs are removed past this many ("logs rotate")
    app_logs_requests: str = "writes"  # which requests leave an app log line: writes | all | off
    idempotency_lease_seconds: int = 60  # an unfinished Idempotency-Key claim older than this may be taken over
    embedded_data_dir: str | None = None  # the embedded store's data folder; None keeps it in memory
    embedded_fsync: str = "always"  # always: fsync before each response; batch: every 0.2 s
    token_max_seconds: int = 7 * 24 * 3600  # absolute session lifetime, whatever the activity
    password_min_length: int = 8
    trusted_proxies: int = 0  # X-Forwarded-For hops to trust (werkzeug ProxyFix); 0 ignores the header
    login_throttle_after: int = 5  # failed logins of one email before further attempts wait (429)
    login_block_after: int = 10  # failed logins of one email that block the user
    login_delay_seconds: float = 2.0  # first wait after throttling starts; doubles with every further failure
    login_ip_per_minute: int = 20  # failed logins one client address may make per minute
    sample_user_password: str | None = None  # password of the examples' non-developer user (serve only)
    identity_providers: tuple[str, ...] = ()  # besides the built-in one: "name" or "name:Label" (runtime.users)
    mongodb_timeout_ms: int = 5000  # server selection: how long a request waits for an unreachable database
    redis_timeout_seconds: int = 5  # connect and socket timeout of the job queue
    # jobs
    jobs_batch_size: int = 200
    transfer_batch_size: int = 1000  # CSV rows an import or export job handles between two checkpoints
    jobs_stale_seconds: int = 30  # a job whose worker has not written for this long is taken for dead
    jobs_embedded_threads: int = 2
    jobs_rq_timeout: int = 24 * 3600
    # files
    files_unreferenced_hours: int = 12  # the platform removes unreferenced uploads after 12 hours
    files_sweep_interval_seconds: int = 3600
    files_share_default_ttl_ms: int = 3_600_000  # a shared link is valid for an hour unless ``ttl`` says otherwise
    files_share_max_ttl_ms: int = 365 * 24 * 3_600_000
    # import
    import_max_bytes: int = 512 * 1024 * 1024
    # schedules and webhooks
    clock_tick_seconds: float = 15.0  # how often a clock looks for due schedules and webhook retries
    schedule_seconds: bool = False  # test mode: 6-field crons (seconds first) are accepted
    webhook_allowed_hosts: tuple[str, ...] = ()  # hosts webhooks may call (empty: any)
    webhook_retry_seconds: tuple[float, ...] = (60, 300, 1800, 7200, 43200)  # backoff after each failed attempt
    webhook_timeout_seconds: float = 10.0
    metrics_token: str | None = None  # when set, GET /metrics needs ``Authorization: Bearer <token>``
    prometheus_multiproc_dir: str | None = None  # gunicorn: where every worker's metrics are shared
    ready_timeout_seconds: float = 2.0  # how long /health/ready waits for the store and Redis

    @classmethod
    def from_env(cls, **overrides: object) -> Config:
        modules = tuple(m.strip() for m in os.environ.get("APP_MODULES", "examples.crm").split(",") if m.strip())
        values: dict[str, object] = dict(
            mongodb_uri=os.environ.get("MONGODB_URI") or None,
            mongodb_db=os.environ.get("MONGODB_DB", "runtime"),
            redis_url=os.environ.get("REDIS_URL") or None,
            port=env_int("PORT", 8080),
            secret_key=os.environ.get("SECRET_KEY") or secrets.token_hex(16),
            api_prefix=os.environ.get("API_PREFIX", "/api").rstrip("/") or "/api",
            app_name=os.environ.get("APP_NAME", "runtime"),
            admin_email=os.environ.get("RUNTIME_ADMIN_EMAIL") or None,
            admin_password=os.environ.get("RUNTIME_ADMIN_PASSWORD") or None,
            app_modules=modules,
            max_content_length=env_int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024),
            token_idle_seconds=env_int("TOKEN_IDLE_SECONDS", 8 * 3600),
            query_max_time_ms=env_int("QUERY_MAX_TIME_MS", 5000),
            aggregate_max_time_ms=env_int("AGGREGATE_MAX_TIME_MS", 10000),
            aggregate_max_results=env_int("AGGREGATE_MAX_RESULTS", 10000),
            app_log_retention_days=env_int("APP_LOG_RETENTION_DAYS", 30),
            app_log_max_entries=env_int("APP_LOG_MAX_ENTRIES", 100_000),
            app_logs_requests=env_choice("APP_LOGS_REQUESTS", "writes", ("writes", "all", "off")),
            idempotency_lease_seconds=env_int("IDEMPOTENCY_LEASE_SECONDS", 60),
            embedded_data_dir=os.environ.get("EMBEDDED_DATA_DIR") or None,
            embedded_fsync=env_choice("EMBEDDED_FSYNC", "always", ("always", "batch")),
            mongodb_timeout_ms=env_int("MONGODB_SERVER_SELECTION_TIMEOUT_MS", 5000),
            redis_timeout_seconds=env_int("REDIS_TIMEOUT_SECONDS", 5),
            maintenance_mode=env_flag("MAINTENANCE_MODE"),
            token_max_seconds=env_int("TOKEN_MAX_SECONDS", 7 * 24 * 3600),
            password_min_length=env_int("PASSWORD_MIN_LENGTH", 8),
            trusted_proxies=env_int("TRUSTED_PROXIES", 0),
            login_throttle_after=env_int("LOGIN_THROTTLE_AFTER", 5),
            login_block_after=env_int("LOGIN_BLOCK_AFTER", 10),
            login_delay_seconds=float(env_int("LOGIN_DELAY_SECONDS", 2)),
            login_ip_per_minute=env_int("LOGIN_IP_PER_MINUTE", 20),
            sample_user_password=os.environ.get("RUNTIME_SAMPLE_USER_PASSWORD") or None,
            identity_providers=env_list("IDENTITY_PROVIDERS"),
            jobs_batch_size=env_int("JOBS_BATCH_SIZE", 200),
            transfer_batch_size=env_int("TRANSFER_BATCH_SIZE", 1000),
            jobs_stale_seconds=env_int("JOBS_STALE_SECONDS", 30),
            jobs_embedded_threads=env_int("JOBS_EMBEDDED_THREADS", 2),
            jobs_rq_timeout=env_int("JOBS_RQ_TIMEOUT", 24 * 3600),
            files_unreferenced_hours=env_int("FILES_UNREFERENCED_HOURS", 12),
            files_sweep_interval_seconds=env_int("FILES_SWEEP_INTERVAL_SECONDS", 3600),
            files_share_default_ttl_ms=env_int("FILES_SHARE_DEFAULT_TTL_MS", 3_600_000),
            files_share_max_ttl_ms=env_int("FILES_SHARE_MAX_TTL_MS", 365 * 24 * 3_600_000),
            import_max_bytes=env_int("IMPORT_MAX_BYTES", 512 * 1024 * 1024),
            metrics_token=os.environ.get("METRICS_TOKEN") or None,
            prometheus_multiproc_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
            ready_timeout_seconds=env_int("READY_TIMEOUT_SECONDS", 2),
            cors_origins=tuple(o.strip() for o in os.environ.get("CORS_ORIGINS", "").split(",") if o.strip()),
            clock_tick_seconds=env_float("CLOCK_TICK_SECONDS", 15.0),
            schedule_seconds=env_flag("SCHEDULE_SECONDS"),
            webhook_allowed_hosts=env_list("WEBHOOK_ALLOWED_HOSTS", lower=True),
            webhook_retry_seconds=env_floats("WEBHOOK_RETRY_SECONDS", (60, 300, 1800, 7200, 43200)),
            webhook_timeout_seconds=env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0),
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
