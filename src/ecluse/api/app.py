"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import Response

import ecluse
from ecluse.api import errors
from ecluse.api.middleware import BodyLimit, Metrics
from ecluse.api.routers import airflow, apikeys, auth, connections, pipelines, runs, system, ws
from ecluse.api.schemas import ProblemDetail
from ecluse.api.web import mount_web
from ecluse.observability import metrics
from ecluse.observability.logging import configure_logging, get_logger
from ecluse.orchestration.bus import make_bus
from ecluse.orchestration.executor import InlineExecutor
from ecluse.orchestration.scheduler import Scheduler
from ecluse.services.auth import ensure_admin, login_limiter
from ecluse.services.config import PlatformSettings, platform_settings
from ecluse.services.platform import Platform
from ecluse.settings import Settings
from ecluse.store.db import migrate

if TYPE_CHECKING:
    from ecluse.orchestration.celery_executor import CeleryExecutor

log = get_logger("ecluse.server")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDetail, "description": desc, "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}}
    for code, desc in [(400, "Malformed request"), (401, "Not authenticated"),
                       (403, "Role not allowed"), (404, "Not found"), (409, "Conflict"),
                       (413, "Body too large"), (422, "Invalid input, with field pointers"),
                       (429, "Rate limited")]}


def start_platform(settings: PlatformSettings) -> Platform:
    platform = Platform(settings)
    migrate(platform.db.engine)
    if (settings.admin_username and settings.admin_password
            and ensure_admin(platform, settings.admin_username, settings.admin_password)):
        log.info("created the first admin", username=settings.admin_username)
    return platform


def make_executor(cfg: PlatformSettings, platform: Platform
                  ) -> InlineExecutor | CeleryExecutor | None:
    if not cfg.executor_enabled:
        return None
    executor: InlineExecutor | CeleryExecutor
    if cfg.executor == "celery":
        from ecluse.orchestration.celery_executor import CeleryExecutor

        executor = CeleryExecutor(platform)
        platform.on_cancel = executor.revoke
    else:
        executor = InlineExecutor(platform, platform.base_dir)
    platform.wake = executor.wake
    return executor


def load_demo(platform: Platform, directory: Path) -> int:
    """Add the demo pipelines once (by name)."""
    from ecluse.services import pipelines
    from ecluse.services.platform import SYSTEM

    existing = {v.name for v in pipelines.list_pipelines(platform, q=None, sort="name",
                                                         limit=500, offset=0)[0]}
    added = 0
    for path in sorted(directory.glob("*_pipeline.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("name") not in existing:
            pipelines.create(platform, SYSTEM, doc)
            added += 1
    return added


def freeze_startup_objects() -> None:
    """Move what start-up built (modules, the app, the catalog: ~240,000 objects) out of the
    garbage collector's sight: a full collection then costs ~0 instead of ~115 ms of CPU,
    which under load stalled every request in flight at once."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The platform: API under /api/v1, /metrics, the executor and the scheduler."""
    cfg = platform_settings(settings, **overrides)
    configure_logging()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = start_platform(cfg)
        executor = make_executor(cfg, platform)  # first: a setting it refuses starts nothing
        bus = make_bus(cfg.redis_url)
        bus.start()
        platform.bus = bus
        app.state.platform = platform
        app.state.bus = bus
        app.state.limiter = login_limiter(cfg.login_attempts, cfg.login_window_seconds,
                                          cfg.redis_url)
        if cfg.load_demo:
            load_demo(platform, Path("examples/demo"))
        scheduler = None
        if executor is not None:
            executor.start()
            app.state.executor = executor
        if cfg.scheduler == "embedded":
            scheduler = Scheduler(platform, executor.instance if executor else "api")
            scheduler.start()
            app.state.scheduler = scheduler
        log.info("platform started", database=platform.db.engine.url.render_as_string(),
                 executor=bool(executor), scheduler=bool(scheduler))
        freeze_startup_objects()
        try:
            yield
        finally:
            gc.unfreeze()  # several apps in one process (tests): collectable again
            if scheduler is not None:
                scheduler.stop()
            if executor is not None:
                executor.stop()
            bus.stop()
            platform.db.dispose()

    app = FastAPI(title="Ecluse", version=ecluse.__version__, lifespan=lifespan,
                  description="Low-code ETL/ELT platform API. Errors are RFC 9457 problems.",
                  responses=_ERRORS)
    app.state.settings = cfg
    errors.install(app)
    api = APIRouter(prefix="/api/v1")
    for r in (auth.router, apikeys.router, pipelines.router, airflow.router, runs.router,
              connections.router, system.router, ws.router):
        api.include_router(r)
    app.include_router(api)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    mount_web(app)  # last: its catch-all route must not shadow the API
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(Metrics)
    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    return app
