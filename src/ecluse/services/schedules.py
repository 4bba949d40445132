"""Schedules: the cron and time zone come from the pipeline document; pausing and the
catch-up policy are set here."""

from __future__ import annotations

from typing import Any

from ecluse.services.errors import NotFound
from ecluse.services.pipelines import next_fire
from ecluse.services.platform import Actor, Platform, audit
from ecluse.store.models import Pipeline, Schedule, utcnow


def _out(row: Schedule) -> dict[str, Any]:
    return {"pipeline_id": row.pipeline_id, "cron": row.cron, "timezone": row.timezone,
            "enabled": row.enabled, "catch_up": row.catch_up, "next_run_at": row.next_run_at,
            "last_run_at": row.last_run_at}


def _row(s: Any, pipeline_id: str) -> Schedule:
    p = s.get(Pipeline, pipeline_id)
    row = s.get(Schedule, pipeline_id)
    if p is None or p.deleted_at is not None or row is None:
        raise NotFound(f"Pipeline {pipeline_id!r} has no schedule (set \"schedule\" in its "
                       "document).")
    assert isinstance(row, Schedule)
    return row


def get(platform: Platform, pipeline_id: str) -> dict[str, Any]:
    with platform.db.session() as s:
        return _out(_row(s, pipeline_id))


def update(platform: Platform, actor: Actor, pipeline_id: str, *, enabled: bool | None,
           catch_up: str | None) -> dict[str, Any]:
    with platform.db.session() as s:
        row = _row(s, pipeline_id)
        if enabled is not None and enabled != row.enabled:
            row.enabled = enabled
            if enabled and row.catch_up == "skip":
                row.next_run_at = next_fire(row.cron, row.timezone, utcnow())
        if catch_up is not None:
            row.catch_up = catch_up
        row.updated_at = utcnow()
        audit(s, actor, "schedule.update", "pipeline", pipeline_id, enabled=enabled,
              catch_up=catch_up)
        return _out(row)
