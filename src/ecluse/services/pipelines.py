"""Pipelines: every save is a new immutable version; saves use optimistic concurrency."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import Integer, Select, String, bindparam, func, select
from sqlalchemy.orm import Session

from ecluse.services.diff import json_diff
from ecluse.services.errors import Conflict, Invalid, NotFound, PreconditionRequired
from ecluse.services.platform import Actor, Platform, audit
from ecluse.spec.problems import Problem
from ecluse.spec.validate import validate_document
from ecluse.store.models import Pipeline, PipelineVersion, Schedule, utcnow

SORTS = {"name": Pipeline.name, "created_at": Pipeline.created_at,
         "updated_at": Pipeline.updated_at}


@dataclass
class PipelineView:
    id: str
    name: str
    version: int
    document: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None
    updated_by: str | None
    problems: list[Problem]
    scheduled_by: str | None = None
    """Who starts the scheduled runs: "ecluse" (the embedded scheduler) or "airflow"."""


@dataclass
class PipelineSummaryView:
    """What a list shows of a pipeline: a few fields of its document, read in SQL (decoding
    whole documents was most of a list's CPU time)."""

    id: str
    name: str
    version: int
    description: str | None
    schedule: str | None
    tags: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None
    updated_by: str | None
    scheduled_by: str | None


def problems_of(platform: Platform, document: dict[str, Any]) -> list[Problem]:
    from ecluse.services.connections import resolver

    return validate_document(document, platform.registry, connections=resolver(platform))


def scheduled_by(platform: Platform, document: dict[str, Any]) -> str | None:
    if not document.get("schedule"):
        return None
    return {"embedded": "ecluse", "airflow": "airflow"}.get(platform.settings.scheduler)


def _view(platform: Platform, p: Pipeline, v: PipelineVersion, *, check: bool = True) -> PipelineView:
    return PipelineView(p.id, p.name, v.version, v.document, p.created_at, p.updated_at,
                        p.created_by, p.updated_by, problems_of(platform, v.document) if check else [],
                        scheduled_by(platform, v.document))


def _live(s: Session, pipeline_id: str) -> Pipeline:
    p = s.get(Pipeline, pipeline_id)
    if p is None or p.deleted_at is not None:
        raise NotFound(f"No pipeline with id {pipeline_id!r}.")
    return p


def _version(s: Session, pipeline_id: str, version: int) -> PipelineVersion:
    v = s.get(PipelineVersion, (pipeline_id, version))
    if v is None:
        raise NotFound(f"Pipeline {pipeline_id!r} has no version {version}.")
    return v


def next_fire(cron: str, tz: str, after: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(tz)
    it = croniter(cron, after.astimezone(zone))
    nxt: dt.datetime = it.get_next(dt.datetime)
    return nxt.astimezone(dt.UTC)


def _sync_schedule(s: Session, pipeline_id: str, document: dict[str, Any]) -> None:
    cron, tz = document.get("schedule"), document.get("timezone") or "UTC"
    row = s.get(Schedule, pipeline_id)
    if not cron:
        if row is not None:
            s.delete(row)
        return
    try:
        nxt = next_fire(str(cron), str(tz), utcnow())
    except Exception:  # an invalid schedule is reported by validation; it just never fires
        nxt = None
    if row is None:
        s.add(Schedule(pipeline_id=pipeline_id, cron=cron, timezone=tz, next_run_at=nxt))
    elif (row.cron, row.timezone) != (cron, tz):
        row.cron, row.timezone, row.next_run_at, row.updated_at = cron, tz, nxt, utcnow()


def _document(raw: dict[str, Any], pipeline_id: str) -> dict[str, Any]:
    doc = dict(raw)
    doc["id"] = pipeline_id
    return doc


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def create(platform: Platform, actor: Actor, raw: dict[str, Any]) -> PipelineView:
    pipeline_id = raw.get("id") or str(uuid.uuid4())
    if not isinstance(pipeline_id, str) or not _ID.match(pipeline_id):
        raise Invalid("A pipeline id is 1-64 letters, digits, '-', '_' or '.' (or leave it out "
                      "and one is assigned).", errors=[{"pointer": "/id", "detail": "bad id"}])
    doc = _document(raw, pipeline_id)
    with platform.db.session() as s:
        if s.get(Pipeline, pipeline_id) is not None:
            raise Conflict(f"A pipeline with id {pipeline_id!r} already exists; change it with "
                           f"PUT /api/v1/pipelines/{pipeline_id}.")
        p = Pipeline(id=pipeline_id, name=doc["name"], current_version=1, created_by=actor.username,
                     updated_by=actor.username)
        v = PipelineVersion(pipeline_id=pipeline_id, version=1, document=doc,
                            created_by=actor.username, message="created")
        s.add(p)
        s.flush()
        s.add(v)
        _sync_schedule(s, pipeline_id, doc)
        audit(s, actor, "pipeline.create", "pipeline", pipeline_id, name=doc["name"], version=1)
    return _view(platform, p, v)


@cache
def _list_statements(sort: str, search: bool) -> tuple[Select[Any], Select[Any]]:
    """The page (with the total in each row) and the count alone (for a page past the end),
    built once per sort order: limit, offset and the search text are bound parameters, and
    building and hashing the statements cost as much CPU as running them."""
    column = SORTS[sort.lstrip("-")]
    where = [Pipeline.deleted_at.is_(None)]
    if search:
        where.append(Pipeline.name.ilike(bindparam("pattern", type_=String)))
    document = PipelineVersion.document
    page = (select(Pipeline.id, Pipeline.name, Pipeline.current_version,
                   document["description"].as_string(), document["schedule"].as_string(),
                   document["tags"], Pipeline.created_at, Pipeline.updated_at,
                   Pipeline.created_by, Pipeline.updated_by, func.count().over())
            .join(PipelineVersion, (PipelineVersion.pipeline_id == Pipeline.id)
                  & (PipelineVersion.version == Pipeline.current_version))
            .where(*where)
            .order_by(column.desc() if sort.startswith("-") else column.asc(), Pipeline.id)
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))
    return page, select(func.count()).select_from(Pipeline).where(*where)


def list_pipelines(platform: Platform, *, q: str | None, sort: str, limit: int,
                   offset: int) -> tuple[list[PipelineSummaryView], int]:
    if sort.lstrip("-") not in SORTS:
        raise Invalid(f"Cannot sort by {sort!r}; use one of {', '.join(SORTS)} (prefix - for "
                      "descending).", errors=[{"pointer": "#/query/sort", "detail": "unknown"}])
    search = {"pattern": f"%{q}%"} if q else {}
    page, count = _list_statements(sort, bool(q))
    with platform.db.session() as s:
        rows = s.execute(page, {**search, "limit": limit, "offset": offset}).all()
        if rows:
            total = int(rows[0][-1])
        elif offset:  # past the last page: no row carries the total
            total = s.scalar(count, search) or 0
        else:
            total = 0
    return [_summary(platform, row[:-1]) for row in rows], total


def _summary(platform: Platform, row: Any) -> PipelineSummaryView:
    (id_, name, version, description, schedule, tags, created_at, updated_at, created_by,
     updated_by) = row
    return PipelineSummaryView(id_, name, version, description, schedule,
                               tags if isinstance(tags, list) else [], created_at, updated_at,
                               created_by, updated_by,
                               scheduled_by(platform, {"schedule": schedule}))


def get(platform: Platform, pipeline_id: str) -> PipelineView:
    with platform.db.session() as s:
        p = _live(s, pipeline_id)
        v = _version(s, pipeline_id, p.current_version)
    return _view(platform, p, v)


def update(platform: Platform, actor: Actor, pipeline_id: str, raw: dict[str, Any],
           base_version: int | None, message: str | None = None) -> PipelineView:
    if base_version is None:
        raise PreconditionRequired(
            "Say which version this save is based on (header If-Match: \"<version>\" or query "
            "parameter base_version); a save never silently overwrites someone else's.")
    if raw.get("id") not in (None, pipeline_id):
        raise Invalid("The document's id differs from the pipeline in the URL.",
                      errors=[{"pointer": "/id", "detail": "must match the URL"}])
    doc = _document(raw, pipeline_id)
    with platform.db.session() as s:
        p = _live(s, pipeline_id)
        s.refresh(p, with_for_update=True)
        if p.current_version != base_version:
            if not 1 <= base_version <= p.current_version:
                raise Conflict(f"Version {base_version} does not exist; the current version is "
                               f"{p.current_version}.", current_version=p.current_version,
                               base_version=base_version, changes=[])
            base = _version(s, pipeline_id, base_version)
            current = _version(s, pipeline_id, p.current_version)
            authors = sorted({v.created_by or "?" for v in s.scalars(
                select(PipelineVersion).where(PipelineVersion.pipeline_id == pipeline_id,
                                              PipelineVersion.version > base_version))})
            raise Conflict(
                f"The pipeline changed since version {base_version} (now version "
                f"{p.current_version}, by {', '.join(authors)}); reload it, re-apply your "
                "changes and save again.", current_version=p.current_version,
                base_version=base_version, changed_by=authors,
                changes=json_diff(base.document, current.document))
        version = p.current_version + 1
        v = PipelineVersion(pipeline_id=pipeline_id, version=version, document=doc,
                            created_by=actor.username, message=message)
        s.add(v)
        p.current_version, p.name, p.updated_at, p.updated_by = (version, doc["name"], utcnow(),
                                                                  actor.username)
        _sync_schedule(s, pipeline_id, doc)
        audit(s, actor, "pipeline.update", "pipeline", pipeline_id, version=version,
              base_version=base_version, message=message)
    return _view(platform, p, v)


def delete(platform: Platform, actor: Actor, pipeline_id: str) -> None:
    with platform.db.session() as s:
        p = _live(s, pipeline_id)
        p.deleted_at = utcnow()
        sched = s.get(Schedule, pipeline_id)
        if sched is not None:
            s.delete(sched)
        audit(s, actor, "pipeline.delete", "pipeline", pipeline_id, name=p.name)


@dataclass
class VersionView:
    version: int
    created_at: dt.datetime
    created_by: str | None
    message: str | None
    document: dict[str, Any] | None


def versions(platform: Platform, pipeline_id: str, *, limit: int, offset: int
             ) -> tuple[list[VersionView], int]:
    with platform.db.session() as s:
        _live(s, pipeline_id)
        where = PipelineVersion.pipeline_id == pipeline_id
        total = s.scalar(select(func.count()).select_from(PipelineVersion).where(where)) or 0
        rows = s.scalars(select(PipelineVersion).where(where)
                         .order_by(PipelineVersion.version.desc()).limit(limit).offset(offset))
        return [VersionView(v.version, v.created_at, v.created_by, v.message, None)
                for v in rows], total


def version(platform: Platform, pipeline_id: str, number: int) -> VersionView:
    with platform.db.session() as s:
        _live(s, pipeline_id)
        v = _version(s, pipeline_id, number)
        return VersionView(v.version, v.created_at, v.created_by, v.message, v.document)


def diff(platform: Platform, pipeline_id: str, a: int, b: int) -> list[dict[str, Any]]:
    with platform.db.session() as s:
        _live(s, pipeline_id)
        return json_diff(_version(s, pipeline_id, a).document, _version(s, pipeline_id, b).document)


def restore(platform: Platform, actor: Actor, pipeline_id: str, number: int) -> PipelineView:
    with platform.db.session() as s:
        p = _live(s, pipeline_id)
        doc = _version(s, pipeline_id, number).document
        current = p.current_version
    return update(platform, actor, pipeline_id, doc, current, message=f"restored version {number}")


_CURRENT_DOCUMENT = (
    select(PipelineVersion.document, PipelineVersion.version)
    .join(Pipeline, (PipelineVersion.pipeline_id == Pipeline.id)
          & (PipelineVersion.version == Pipeline.current_version))
    .where(Pipeline.id == bindparam("pipeline_id", type_=String), Pipeline.deleted_at.is_(None)))


def document_at(platform: Platform, pipeline_id: str, number: int | None = None
                ) -> tuple[dict[str, Any], int]:
    if number is None:  # the common case (every run start): one query
        with platform.db.session() as s:
            row = s.execute(_CURRENT_DOCUMENT, {"pipeline_id": pipeline_id}).first()
        if row is None:
            raise NotFound(f"No pipeline with id {pipeline_id!r}.")
        return row[0], row[1]
    with platform.db.session() as s:
        _live(s, pipeline_id)
        v = _version(s, pipeline_id, number)
        return v.document, v.version
