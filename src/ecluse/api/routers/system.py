from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

import ecluse
from ecluse.api.deps import Admin, Limit, Offset, PlatformDep, Reader
from ecluse.api.schemas import AuditOut, HealthOut, ModuleOut, Page, SystemOut
from ecluse.services import audit
from ecluse.store.db import at_head

router = APIRouter()


@router.get("/modules", response_model=list[ModuleOut], tags=["modules"],
            summary="The module catalog, with each module's config JSON Schema")
def list_modules(actor: Reader, platform: PlatformDep) -> list[ModuleOut]:
    return [ModuleOut(**m.describe()) for m in platform.registry.all()]


@router.get("/system", response_model=SystemOut, tags=["system"],
            summary="How this platform runs: executor, scheduler (embedded or Airflow), database")
def system(actor: Reader, platform: PlatformDep) -> SystemOut:
    settings = platform.settings
    return SystemOut(version=ecluse.__version__, executor=settings.executor,
                     scheduler=settings.scheduler, database=platform.db.engine.dialect.name)


@router.get("/health", response_model=HealthOut, tags=["system"], summary="Liveness")
def health() -> HealthOut:
    return HealthOut(status="ok", version=ecluse.__version__)


@router.get("/ready", response_model=HealthOut, tags=["system"],
            responses={503: {"model": HealthOut}}, summary="Readiness: database, schema, workers")
def ready(request: Request, platform: PlatformDep) -> HealthOut | JSONResponse:
    checks: dict[str, str] = {}
    try:
        with platform.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["migrations"] = "ok" if at_head(platform.db.engine) else "behind"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    executor = getattr(request.app.state, "executor", None)
    checks["executor"] = "ok" if executor is not None else "off"
    ok = all(v in ("ok", "off") for v in checks.values())
    out = HealthOut(status="ok" if ok else "unavailable", checks=checks, version=ecluse.__version__)
    if not ok:
        return JSONResponse(out.model_dump(), status_code=503)
    return out


@router.get("/audit", response_model=Page[AuditOut], tags=["audit"],
            summary="The audit trail: who changed what, when, from where")
def audit_events(actor: Admin, platform: PlatformDep, limit: Limit = 100, offset: Offset = 0,
                 action: Annotated[str | None, Query(max_length=80)] = None,
                 target_id: Annotated[str | None, Query(max_length=200)] = None) -> Page[AuditOut]:
    items, total = audit.list_events(platform, action=action, target_id=target_id, limit=limit,
                                     offset=offset)
    return Page[AuditOut](items=[AuditOut(**e) for e in items], total=total, limit=limit,
                          offset=offset)
