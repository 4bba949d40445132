"""Runs: start (checked before anything is queued), list, get, cancel, logs; and the records
the executor keeps while a run goes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, func, select, update

from ecluse.engine.jsonable import public_value
from ecluse.engine.plan import compile_pipeline
from ecluse.services import pipelines
from ecluse.services.connections import resolver
from ecluse.services.errors import Conflict, Invalid, NotFound
from ecluse.services.platform import Actor, Platform, audit
from ecluse.spec.validate import DocumentInvalid
from ecluse.store.models import Run, RunLog, utcnow

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TRIGGERS = ("manual", "schedule", "api", "airflow")
SORTS = {"created_at": Run.created_at, "started_at": Run.started_at,
         "finished_at": Run.finished_at, "status": Run.status}


@dataclass
class RunView:
    id: str
    pipeline_id: str
    pipeline_version: int
    status: str
    trigger: str
    parameters: dict[str, Any]
    nodes: dict[str, Any]
    error: dict[str, Any] | None
    attempt: int
    max_attempts: int
    retry_of: str | None
    scheduled_for: dt.datetime | None
    cancel_requested: bool
    created_by: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def view(r: Run) -> RunView:
    return RunView(r.id, r.pipeline_id, r.pipeline_version, r.status, r.trigger, dict(r.parameters),
                   dict(r.nodes), r.error, r.attempt, r.max_attempts, r.retry_of, r.scheduled_for,
                   r.cancel_requested, r.created_by, r.created_at, r.started_at, r.finished_at)


def event(kind: str, run: Run | RunView, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "run_id": run.id, "pipeline_id": run.pipeline_id, "node_id": None,
            "at": utcnow().isoformat(), "data": {"status": run.status, **data}}


def check_parameters(platform: Platform, document: dict[str, Any], parameters: dict[str, Any]
                     ) -> dict[str, Any]:
    """Compile now so that a bad document or parameter is a 422, not a failed run."""
    try:
        plan = compile_pipeline(document, platform.registry, connections=resolver(platform),
                                parameters=parameters)
    except DocumentInvalid as exc:
        raise Invalid("The pipeline cannot run: " + "; ".join(
            p.message for p in exc.problems if p.severity == "error")[:2000],
            errors=[p.to_dict() for p in exc.problems]) from exc
    return {k: public_value(v) for k, v in plan.parameters.items()}


def start(platform: Platform, actor: Actor, pipeline_id: str, parameters: dict[str, Any], *,
          trigger: str = "manual", scheduled_for: dt.datetime | None = None) -> RunView:
    document, version = pipelines.document_at(platform, pipeline_id)
    check_parameters(platform, document, parameters)
    retries = document.get("retries")
    max_attempts = 1 + (retries if isinstance(retries, int) else platform.settings.default_retries)
    if trigger == "airflow":
        max_attempts = 1  # Airflow retries the task (the DAG carries the pipeline's retries)
    with platform.db.session() as s:
        run = Run(pipeline_id=pipeline_id, pipeline_version=version, status="queued",
                  trigger=trigger, parameters=parameters, max_attempts=max_attempts,
                  scheduled_for=scheduled_for, created_by=actor.username)
        s.add(run)
        s.flush()
        audit(s, actor, "run.start", "run", run.id, pipeline_id=pipeline_id, trigger=trigger,
              parameters=sorted(parameters))
        result = view(run)
    platform.bus.publish(event("run_queued", result, trigger=trigger))
    platform.wake()
    return result


def get(platform: Platform, run_id: str) -> RunView:
    with platform.db.session() as s:
        r = s.get(Run, run_id)
        if r is None:
            raise NotFound(f"No run with id {run_id!r}.")
        return view(r)


_VIEW_COLUMNS = tuple(getattr(Run, f.name) for f in fields(RunView))
"""The run list reads these columns only, in :class:`RunView`'s order (no ORM objects)."""
_FILTERS = {"pipeline_id": Run.pipeline_id, "status": Run.status, "trigger": Run.trigger}


@cache
def _list_statements(sort: str, filters: tuple[str, ...]) -> tuple[Select[Any], Select[Any]]:
    """The page and the count, built once per sort order and set of filters (their values
    are bound parameters): building and hashing statements cost as much CPU as running them."""
    column = SORTS[sort.lstrip("-")]
    where = [_FILTERS[f] == bindparam(f, type_=String) for f in filters]
    page = (select(*_VIEW_COLUMNS).where(*where)
            .order_by(column.desc() if sort.startswith("-") else column.asc(), Run.id)
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))
    return page, select(func.count()).select_from(Run).where(*where)


def list_runs(platform: Platform, *, pipeline_id: str | None, status: str | None,
              trigger: str | None, sort: str, limit: int, offset: int) -> tuple[list[RunView], int]:
    if sort.lstrip("-") not in SORTS:
        raise Invalid(f"Cannot sort by {sort!r}; use one of {', '.join(SORTS)} (prefix - for "
                      "descending).", errors=[{"pointer": "#/query/sort", "detail": "unknown"}])
    if status is not None and status not in STATUSES:
        raise Invalid(f"Unknown status {status!r}; one of {', '.join(STATUSES)}.",
                      errors=[{"pointer": "#/query/status", "detail": "unknown"}])
    values = {k: v for k, v in (("pipeline_id", pipeline_id), ("status", status),
                                ("trigger", trigger)) if v}
    page, count = _list_statements(sort, tuple(values))
    with platform.db.session() as s:
        total = s.scalar(count, values) or 0
        rows = s.execute(page, {**values, "limit": limit, "offset": offset}).all()
    return [RunView(*row) for row in rows], total


def cancel(platform: Platform, actor: Actor, run_id: str) -> RunView:
    with platform.db.session() as s:
        r = s.get(Run, run_id, with_for_update=True)
        if r is None:
            raise NotFound(f"No run with id {run_id!r}.")
        if r.status in TERMINAL:
            raise Conflict(f"The run already finished ({r.status}); nothing to cancel.",
                           status_now=r.status)
        r.cancel_requested = True
        if r.status == "queued":
            r.status, r.finished_at = "cancelled", utcnow()
        audit(s, actor, "run.cancel", "run", run_id)
        result = view(r)
    if result.status == "cancelled":
        platform.bus.publish(event("run_finished", result))
    platform.on_cancel(run_id)
    platform.wake()
    return result


@dataclass
class LogLine:
    seq: int
    at: dt.datetime
    level: str
    node_id: str | None
    message: str
    data: dict[str, Any]


def logs(platform: Platform, run_id: str, *, after: int, limit: int, level: str | None,
         node_id: str | None) -> tuple[list[LogLine], int]:
    with platform.db.session() as s:
        if s.get(Run, run_id) is None:
            raise NotFound(f"No run with id {run_id!r}.")
        where = [RunLog.run_id == run_id]
        if level:
            where.append(RunLog.level == level)
        if node_id:
            where.append(RunLog.node_id == node_id)
        total = s.scalar(select(func.count()).select_from(RunLog).where(*where)) or 0
        rows = s.scalars(select(RunLog).where(*where, RunLog.seq > after).order_by(RunLog.seq)
                         .limit(limit))
        return [LogLine(r.seq, r.at, r.level, r.node_id, r.message, dict(r.data)) for r in rows], total


def mark_cancel_requested_ids(platform: Platform, run_ids: list[str]) -> list[str]:
    if not run_ids:
        return []
    with platform.db.session() as s:
        return list(s.scalars(select(Run.id).where(Run.id.in_(run_ids), Run.cancel_requested)))


def heartbeat(platform: Platform, run_ids: list[str]) -> None:
    if not run_ids:
        return
    with platform.db.session() as s:
        s.execute(update(Run).where(Run.id.in_(run_ids), Run.status == "running")
                  .values(heartbeat_at=utcnow()))
