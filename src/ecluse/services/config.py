"""Settings of the platform server: every ``ECLUSE_*`` setting plus the server's own."""

from __future__ import annotations

from pydantic import Field

from ecluse.settings import Settings


class PlatformSettings(Settings):
    access_token_minutes: float = Field(15, gt=0, description="Lifetime of an access token.")
    refresh_token_days: float = Field(14, gt=0, description="Lifetime of a refresh token (each "
                                      "use replaces it).")
    login_attempts: int = Field(10, ge=1, description="Failed logins allowed per window.")
    login_window_seconds: float = Field(300, gt=0, description="The sliding window of "
                                        "login_attempts, per client address and username.")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest request body; "
                                "larger ones are refused with 413.")
    heartbeat_seconds: float = Field(5, gt=0, description="How often a running run says it is "
                                     "alive.")
    orphan_after_seconds: float = Field(60, gt=0, description="A running run whose heartbeat is "
                                        "older than this is an orphan (its worker died).")
    poll_seconds: float = Field(0.5, gt=0, description="How often the executor looks for work.")
    scheduler_tick_seconds: float = Field(5, gt=0, description="How often the scheduler looks "
                                          "for due runs.")
    lease_seconds: float = Field(30, gt=0, description="How long the instance that schedules "
                                 "keeps the role without renewing it.")
    retry_backoff_seconds: float = Field(10, ge=0, description="First retry delay; doubles.")
    cancel_grace_seconds: float = Field(10, ge=0, description="After a cancel or a timeout, "
                                        "how long a run may take to stop before it is killed.")
    default_retries: int = Field(0, ge=0, le=20, description="Retries of a failed run when its "
                                 "pipeline does not say.")
    max_catch_up_runs: int = Field(100, ge=1, description="Most missed schedule slots run after "
                                   "a downtime (catch-up policy 'all').")
    extra_modules: list[str] = Field(default_factory=list, description="Python modules whose "
                                     "module classes join the catalog (plugins not installed "
                                     "as packages).")
    celery_queue: str = Field("ecluse", min_length=1, description="The Celery queue runs are "
                              "sent to (ECLUSE_EXECUTOR=celery); `ecluse worker` consumes it.")
    celery_visibility_timeout_seconds: float = Field(
        12 * 3600, gt=0, description="Redis redelivers a message not acknowledged within this "
        "time. Keep it above your longest run: a lost worker is detected sooner through the "
        "run's heartbeat, whatever this says.")
    celery_redispatch_seconds: float = Field(
        900, gt=0, description="A run still queued this long after it was sent to the broker "
        "is sent again (a message lost with a Redis restart); duplicates are harmless.")
    celery_max_deliveries: int = Field(3, ge=1, description="How many workers may start a run "
                                       "before it is failed (a run that kills every worker).")
    load_demo: bool = Field(False, description="Load the demo pipelines on start (`serve --demo`).")
    executor_enabled: bool = Field(True, description="Execute runs in this instance (false: an "
                                   "API-only instance).")
    worker_nice: int = Field(10, ge=0, le=19, description="How much lower the CPU priority of "
                             "the inline executor's run workers is than the server's (Unix "
                             "nice increment): the API keeps answering while runs compute. "
                             "0 keeps them equal.")


def platform_settings(settings: Settings | None = None, **overrides: object) -> PlatformSettings:
    if isinstance(settings, PlatformSettings) and not overrides:
        return settings
    base = settings.model_dump() if settings is not None else {}
    return PlatformSettings(**{**base, **overrides})
