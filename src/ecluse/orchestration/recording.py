"""What every executor records while a run goes and when it ends: log lines and per-node
metrics in the metadata database, every event on the bus (hence the WebSockets), the final
state with its retry, and the run metrics. The inline executor and the Celery workers share
it, so a run looks the same wherever it ran."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from ecluse.observability import metrics
from ecluse.observability.logging import get_logger
from ecluse.services.platform import Platform
from ecluse.services.runs import RunView, event, view
from ecluse.store.models import Pipeline, PipelineVersion, Run, RunLog, utcnow

log = get_logger("ecluse.executor")
FLUSH_SECONDS = 0.5
_MESSAGES = {"run_started": "run started", "node_started": "node started",
             "node_finished": "node finished", "node_failed": "node failed"}


@dataclass(frozen=True)
class RunWork:
    """What a worker needs to execute a run."""

    run: RunView
    document: dict[str, Any]
    parameters: dict[str, Any]

    @property
    def timeout(self) -> float | None:
        value = self.document.get("timeout_seconds")
        return float(value) if value else None


def load_work(platform: Platform, run_id: str) -> RunWork | None:
    with platform.db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            return None
        version = s.get(PipelineVersion, (run.pipeline_id, run.pipeline_version))
        return RunWork(view(run), dict(version.document) if version else {}, dict(run.parameters))


class RunRecorder:
    """Records the engine events of one run. Log lines and node metrics are written in
    batches (progress events would otherwise mean one transaction each); every event goes to
    the bus at once. Thread-safe: engine callbacks may come from several threads."""

    def __init__(self, platform: Platform, run_id: str, pipeline_id: str) -> None:
        self.platform, self.run_id, self.pipeline_id = platform, run_id, pipeline_id
        self.nodes: dict[str, Any] = {}
        self._pending: list[RunLog] = []
        self._nodes_changed = False
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        with platform.db.session() as s:  # a run taken over by another worker goes on numbering
            self._seq = s.scalar(select(func.max(RunLog.seq)).where(RunLog.run_id == run_id)) or 0

    def record(self, ev: dict[str, Any]) -> None:
        kind = ev.get("kind", "")
        ev["pipeline_id"] = self.pipeline_id
        self.platform.bus.publish(ev)
        with self._lock:
            self._apply(ev)
        if kind != "node_progress":
            self.flush()
        else:
            self.flush_if_due()

    def log(self, message: str, level: str = "info", **data: Any) -> None:
        """A log line of the executor itself (not of a node)."""
        self.record({"kind": "log", "run_id": self.run_id, "node_id": None,
                     "at": utcnow().isoformat(), "data": {"level": level, "message": message, **data}})

    def flush_if_due(self) -> None:
        if time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            self._last_flush = time.monotonic()
            if not self._pending and not self._nodes_changed:
                return
            pending, self._pending, self._nodes_changed = self._pending, [], False
            nodes = {k: dict(v) for k, v in self.nodes.items()}
        with self.platform.db.session() as s:
            s.add_all(pending)
            s.execute(update(Run).where(Run.id == self.run_id).values(nodes=nodes))

    def _apply(self, ev: dict[str, Any]) -> None:
        kind = ev.get("kind", "")
        node_id = ev.get("node_id")
        data = dict(ev.get("data") or {})
        if node_id and kind in ("node_started", "node_finished", "node_failed"):
            self._nodes_changed = True
            entry = self.nodes.setdefault(node_id, {"node_id": node_id})
            entry.update({k: v for k, v in data.items() if k != "extra"})
            entry["status"] = data.get("status", "running")
        elif node_id and kind == "node_progress":
            self._nodes_changed = True
            self.nodes.setdefault(node_id, {"node_id": node_id, "status": "running"})[
                "rows_so_far"] = data.get("rows")
            return
        if kind == "run_finished":
            return
        stopped = kind == "node_failed" and data.get("status") == "cancelled"
        level = str(data.pop("level", "warning" if stopped else
                             "error" if kind == "node_failed" else "info"))
        message = str(data.pop("message", "")) or _MESSAGES.get(kind, kind)
        if stopped:
            message = "node stopped" + (f": {data['error']}" if data.get("error") else "")
        elif kind == "node_failed" and data.get("error"):
            message = f"node failed: {data['error']}"
        self._seq += 1
        at = dt.datetime.fromisoformat(ev["at"]) if ev.get("at") else utcnow()
        self._pending.append(RunLog(run_id=self.run_id, seq=self._seq, at=at, level=level,
                                    node_id=node_id, message=message[:10_000],
                                    data=_jsonable(data)))


def outcome(result: dict[str, Any] | None, crash: str | None, *, timeout: float | None,
            timed_out: bool, cancel_sent: bool, died: str | None
            ) -> tuple[str, dict[str, Any] | None]:
    """The final status and error of a run, from what its worker said (``result`` or
    ``crash``) and what the executor did to it (timeout, cancel) or saw (``died``)."""
    if result is not None:
        status, error = str(result["status"]), result.get("error")
        if timed_out and status == "cancelled":
            return "failed", {"node_id": None, "message": f"timed out after {timeout:g} s"}
        return status, error
    if timed_out:
        return "failed", {"node_id": None, "message": f"timed out after {timeout:g} s; the worker "
                          "was stopped"}
    if cancel_sent:
        return "cancelled", None
    return "failed", {"node_id": None, "message": crash or died or "the worker stopped"}


def finish_run(platform: Platform, run_id: str, status: str, error: dict[str, Any] | None,
               nodes: dict[str, Any], *, owner: str | None = None) -> bool:
    """Record how a run ended, queue its retry when the policy says so, publish it. With
    ``owner``, only while that worker still holds the run (a run taken over elsewhere is not
    finished by the worker that lost it). Returns whether the run was finished here."""
    settings = platform.settings
    retry = None
    with platform.db.session() as s:
        run = s.get(Run, run_id, with_for_update=owner is not None)
        if run is None or (owner is not None and (run.instance != owner or run.status != "running")):
            return False
        run.status, run.error, run.finished_at = status, error, utcnow()
        if nodes:
            run.nodes = nodes
        payload = view(run)
        if status == "failed" and run.attempt < run.max_attempts and not run.cancel_requested:
            alive = s.scalar(select(Pipeline.deleted_at).where(Pipeline.id == run.pipeline_id))
            if alive is None:
                delay = settings.retry_backoff_seconds * (2 ** (run.attempt - 1))
                retry = Run(pipeline_id=run.pipeline_id, pipeline_version=run.pipeline_version,
                            status="queued", trigger=run.trigger, parameters=run.parameters,
                            attempt=run.attempt + 1, max_attempts=run.max_attempts,
                            retry_of=run.id, created_by=run.created_by,
                            not_before=utcnow() + dt.timedelta(seconds=delay))
                s.add(retry)
                s.flush()
    _observe(payload, nodes)
    platform.bus.publish(event("run_finished", payload, error=error, duration_s=payload.duration_s))
    log.info("run finished", run_id=run_id, status=status, error=(error or {}).get("message"))
    if retry is not None:
        platform.bus.publish(event("run_queued", view(retry), retry_of=run_id))
    return True


def _observe(run: RunView, nodes: dict[str, Any]) -> None:
    metrics.RUNS.labels(run.pipeline_id, run.status).inc()
    if run.status == "failed":
        metrics.RUN_FAILURES.labels(run.pipeline_id).inc()
    if run.duration_s is not None:
        metrics.RUN_DURATION.labels(run.pipeline_id).observe(run.duration_s)
    rows = sum(int(n.get("rows_in") or 0) for n in nodes.values()
               if isinstance(n, dict) and n.get("module") and n.get("bytes_written") is not None)
    if rows:
        metrics.RUN_ROWS.labels(run.pipeline_id).inc(rows)


def _jsonable(value: Any) -> dict[str, Any]:
    try:
        out: dict[str, Any] = json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return {}
    return out
