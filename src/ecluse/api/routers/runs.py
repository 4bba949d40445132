from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ecluse.api.deps import Editor, Limit, Offset, PlatformDep, Reader
from ecluse.api.schemas import LogLineOut, LogPage, Page, RunOut
from ecluse.services import runs

router = APIRouter(prefix="/runs", tags=["runs"])


def run_out(v: runs.RunView) -> RunOut:
    return RunOut(**{k: getattr(v, k) for k in RunOut.model_fields})


@router.get("", response_model=Page[RunOut], summary="List runs (filter, sort, page)")
def list_runs(actor: Reader, platform: PlatformDep, limit: Limit = 50, offset: Offset = 0,
              pipeline_id: Annotated[str | None, Query(max_length=64)] = None,
              status: Annotated[Literal["queued", "running", "succeeded", "failed",
                                        "cancelled"] | None, Query()] = None,
              trigger: Annotated[Literal["manual", "schedule", "api", "airflow"] | None, Query()] = None,
              sort: Annotated[str, Query(description="created_at, started_at, finished_at, "
                                         "status; prefix - for descending")] = "-created_at",
              ) -> Page[RunOut]:
    items, total = runs.list_runs(platform, pipeline_id=pipeline_id, status=status,
                                  trigger=trigger, sort=sort, limit=limit, offset=offset)
    return Page[RunOut](items=[run_out(v) for v in items], total=total, limit=limit,
                        offset=offset)


@router.get("/{run_id}", response_model=RunOut)
def get_run(run_id: str, actor: Reader, platform: PlatformDep) -> RunOut:
    return run_out(runs.get(platform, run_id))


@router.post("/{run_id}/cancel", response_model=RunOut, status_code=202,
             summary="Cancel a queued or running run")
def cancel_run(run_id: str, actor: Editor, platform: PlatformDep) -> RunOut:
    return run_out(runs.cancel(platform, actor, run_id))


@router.get("/{run_id}/logs", response_model=LogPage, summary="Log lines of a run (paged)")
def run_logs(run_id: str, actor: Reader, platform: PlatformDep,
             after: Annotated[int, Query(ge=0, description="Lines after this seq")] = 0,
             limit: Annotated[int, Query(ge=1, le=5000)] = 500,
             level: Annotated[str | None, Query(max_length=10)] = None,
             node_id: Annotated[str | None, Query(max_length=200)] = None) -> LogPage:
    items, total = runs.logs(platform, run_id, after=after, limit=limit, level=level,
                             node_id=node_id)
    return LogPage(items=[LogLineOut(**vars(line)) for line in items], total=total,
                   next_after=items[-1].seq if items else after)
