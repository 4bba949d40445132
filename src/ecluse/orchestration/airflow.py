"""Airflow DAG generation: one self-contained DAG file per pipeline, whose single task runs
the pipeline through the Ecluse API (Airflow orchestrates, Ecluse executes and records).

Every value taken from the pipeline enters the file as a Python literal (``repr``), never as
code or inside a comment, so no pipeline name or tag can change what the file does. The file
holds no secret: the URL and API key come from an Airflow connection named at export time.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

from ecluse.services import pipelines, schedules
from ecluse.services.errors import Invalid, NotFound
from ecluse.services.platform import Platform

DEFAULT_CONN_ID = "ecluse_default"
DEFAULT_POLL_SECONDS = 5.0
_TEMPLATE = Template(resources.files("ecluse.orchestration").joinpath("airflow_dag.tmpl")
                     .read_text(encoding="utf-8"))
_CONN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number",
               "boolean": "boolean", "date": "string", "timestamp": "string"}
_FORMATS = {"date": "date", "timestamp": "date-time"}


@dataclass(frozen=True)
class DagOptions:
    conn_id: str = DEFAULT_CONN_ID
    """The Airflow connection holding the Ecluse URL and API key."""
    poll_seconds: float = DEFAULT_POLL_SECONDS
    """How often the task asks Ecluse whether the run is over."""
    retry_delay_seconds: float = 10.0
    default_retries: int = 0


@dataclass(frozen=True)
class DagFile:
    dag_id: str
    filename: str
    text: str


def check_conn_id(conn_id: str) -> str:
    if not _CONN_ID.match(conn_id):
        raise Invalid(f"Airflow connection id {conn_id!r}: 1-250 letters, digits, '_', '-' or '.'.",
                      errors=[{"pointer": "#/query/conn_id", "detail": "bad connection id"}])
    return conn_id


def dag_id(pipeline_id: str) -> str:
    """``ecluse_<pipeline id>``: stable across renames (the name is the DAG's display name)."""
    return "ecluse_" + re.sub(r"[^A-Za-z0-9_.-]", "_", pipeline_id)


def _params(parameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, spec in parameters.items():
        kind = str(spec.get("type", "string"))
        param: dict[str, Any] = {"default": spec.get("default"),
                                 "type": [_JSON_TYPES.get(kind, "string"), "null"]}
        if kind in _FORMATS:
            param["format"] = _FORMATS[kind]
        if spec.get("description"):
            param["description"] = str(spec["description"])
        out[str(name)] = param
    return out


def _when(moment: dt.datetime) -> str:
    utc = moment.astimezone(dt.UTC)
    return (f"datetime.datetime({utc.year}, {utc.month}, {utc.day}, {utc.hour}, {utc.minute}, "
            "tzinfo=datetime.timezone.utc)")


def render_dag(document: Mapping[str, Any], *, start_date: dt.datetime, catch_up: bool = False,
               paused: bool = False, options: DagOptions = DagOptions()) -> DagFile:
    """The DAG file of one pipeline document (its ``id`` set). Without a ``schedule`` the DAG
    has none: it runs when triggered."""
    pipeline_id = str(document["id"])
    check_conn_id(options.conn_id)
    cron = document.get("schedule")
    schedule = (f"CronTriggerTimetable({str(cron)!r}, timezone={str(document.get('timezone') or 'UTC')!r})"
                if cron else "None")
    retries = document.get("retries")
    timeout = document.get("timeout_seconds")
    ident = dag_id(pipeline_id)
    text = _TEMPLATE.substitute(
        pipeline_id=repr(pipeline_id),
        pipeline_name=repr(str(document.get("name") or pipeline_id)),
        conn_id=repr(options.conn_id),
        poll_seconds=repr(float(options.poll_seconds)),
        parameters=repr(_params(document.get("parameters") or {})),
        dag_id=repr(ident),
        description=repr(document.get("description") or f"Ecluse pipeline {document.get('name')}"),
        schedule=schedule,
        start_date=_when(start_date),
        catchup=repr(bool(catch_up and cron)),
        paused=repr(bool(paused)),
        tags=repr(["ecluse", *(str(t) for t in document.get("tags") or [])]),
        owner=repr(str(document.get("owner") or "ecluse")),
        retries=repr(int(retries) if isinstance(retries, int) else options.default_retries),
        retry_delay=repr(float(options.retry_delay_seconds)),
        execution_timeout=(f"datetime.timedelta(seconds={int(timeout)})"
                           if isinstance(timeout, int) else "None"),
    )
    return DagFile(ident, f"{ident}.py", text)


def _options(platform: Platform, conn_id: str, poll_seconds: float) -> DagOptions:
    if not 0 < poll_seconds <= 3600:
        raise Invalid(f"poll_seconds {poll_seconds!r}: between 0 (excluded) and 3600.",
                      errors=[{"pointer": "#/query/poll_seconds", "detail": "out of range"}])
    return DagOptions(conn_id=check_conn_id(conn_id), poll_seconds=poll_seconds,
                      retry_delay_seconds=platform.settings.retry_backoff_seconds,
                      default_retries=platform.settings.default_retries)


def _dag_of(platform: Platform, pipeline_id: str, options: DagOptions) -> DagFile:
    view = pipelines.get(platform, pipeline_id)
    try:
        schedule = schedules.get(platform, pipeline_id)
    except NotFound:
        schedule = None
    return render_dag(view.document, start_date=view.created_at, options=options,
                      catch_up=bool(schedule and schedule["catch_up"] == "all"),
                      paused=bool(schedule and not schedule["enabled"]))


def pipeline_dag(platform: Platform, pipeline_id: str, conn_id: str = DEFAULT_CONN_ID,
                 poll_seconds: float = DEFAULT_POLL_SECONDS) -> DagFile:
    """The DAG of one pipeline, scheduled or not (an unscheduled one runs when triggered)."""
    return _dag_of(platform, pipeline_id, _options(platform, conn_id, poll_seconds))


def _scheduled_ids(platform: Platform) -> Iterator[str]:
    offset, page = 0, 500
    while True:
        items, total = pipelines.list_pipelines(platform, q=None, sort="name", limit=page,
                                                offset=offset)
        yield from (v.id for v in items if v.schedule)
        offset += page
        if offset >= total:
            return


def export_dags(platform: Platform, pipeline_id: str | None = None,
                conn_id: str = DEFAULT_CONN_ID,
                poll_seconds: float = DEFAULT_POLL_SECONDS) -> list[DagFile]:
    """One DAG per scheduled pipeline, or the DAG of the one pipeline asked for."""
    options = _options(platform, conn_id, poll_seconds)
    ids = [pipeline_id] if pipeline_id is not None else list(_scheduled_ids(platform))
    return [_dag_of(platform, i, options) for i in ids]


def zip_dags(files: list[DagFile]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.writestr(f.filename, f.text)
    return buffer.getvalue()
