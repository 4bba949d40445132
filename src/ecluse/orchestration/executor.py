"""The inline executor: runs go to worker processes, outside the API's event loop, at most
``max_concurrent_runs`` at a time per instance, with timeout, retries, cancel, heartbeats and
orphan detection."""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import queue
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from ecluse.observability import metrics
from ecluse.observability.logging import get_logger
from ecluse.services.platform import Platform
from ecluse.services.runs import event, heartbeat, mark_cancel_requested_ids, view
from ecluse.store.db import changed_rows
from ecluse.store.models import Pipeline, PipelineVersion, Run, RunLog, utcnow

log = get_logger("ecluse.executor")
_CTX: Any = None


def _mp() -> Any:
    global _CTX
    if _CTX is None:
        _CTX = multiprocessing.get_context("forkserver")
        _CTX.set_forkserver_preload(["ecluse.orchestration.preload"])
    return _CTX


class _Active:
    def __init__(self, run_id: str, process: Any, cancel: Any, timeout: float | None) -> None:
        self.run_id, self.process, self.cancel = run_id, process, cancel
        self.started = time.monotonic()
        self.timeout = timeout
        self.cancel_sent_at: float | None = None
        self.timed_out = False


class InlineExecutor:
    def __init__(self, platform: Platform, base_dir: Path) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.base_dir = base_dir
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_orphan_check = 0.0
        self._last_heartbeat = 0.0
        self._supervisors: list[threading.Thread] = []

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self.recover_orphans()
        # Start the fork server now (it imports the engine once) so the first run starts fast.
        threading.Thread(target=lambda: _mp().Process(target=_noop).start(), daemon=True,
                         name="ecluse-forkserver-warmup").start()
        self._thread = threading.Thread(target=self._loop, name="ecluse-executor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:
            active = list(self._active.values())
        for a in active:
            a.cancel.value = 1
        deadline = time.monotonic() + timeout
        for a in active:
            a.process.join(max(0.1, deadline - time.monotonic()))
            if a.process.is_alive():
                a.process.kill()
        if self._thread is not None:
            self._thread.join(timeout)
        for t in self._supervisors:  # let each record how its run ended
            t.join(max(0.1, deadline - time.monotonic()))

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> list[str]:
        with self._lock:
            return list(self._active)

    # --- the dispatch loop --------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:
                log.error("executor tick failed", error=str(exc))
            self._wake.wait(self.settings.poll_seconds)
            self._wake.clear()

    def _tick(self) -> None:
        now = time.monotonic()
        running = self.running
        if running and now - self._last_heartbeat >= self.settings.heartbeat_seconds:
            heartbeat(self.platform, running)
            self._last_heartbeat = now
        for run_id in mark_cancel_requested_ids(self.platform, running):
            self._signal_cancel(run_id)
        self._enforce_timeouts()
        if now - self._last_orphan_check >= min(self.settings.orphan_after_seconds / 2, 10):
            self.recover_orphans()
            self._last_orphan_check = now
        while len(self.running) < self.settings.max_concurrent_runs and not self._stop.is_set():
            if not self._claim_and_start():
                break

    def _signal_cancel(self, run_id: str) -> None:
        with self._lock:
            a = self._active.get(run_id)
        if a is not None and a.cancel_sent_at is None:
            a.cancel.value = 1
            a.cancel_sent_at = time.monotonic()

    def _enforce_timeouts(self) -> None:
        with self._lock:
            active = list(self._active.values())
        now = time.monotonic()
        for a in active:
            if a.timeout is not None and not a.timed_out and now - a.started > a.timeout:
                a.timed_out = True
                self._signal_cancel(a.run_id)
            if (a.cancel_sent_at is not None and now - a.cancel_sent_at
                    > self.settings.cancel_grace_seconds and a.process.is_alive()):
                a.process.kill()

    def _claim_and_start(self) -> bool:
        db = self.platform.db
        now = utcnow()
        with db.session() as s:
            candidate = s.scalar(
                select(Run.id).where(Run.status == "queued",
                                     (Run.not_before.is_(None)) | (Run.not_before <= now))
                .order_by(Run.created_at).limit(1))
            if candidate is None:
                return False
            claimed = changed_rows(s,
                update(Run).where(Run.id == candidate, Run.status == "queued")
                .values(status="running", instance=self.instance, started_at=now,
                        heartbeat_at=now))
        if claimed != 1:
            return True  # another instance took it; look again
        self._launch(candidate)
        return True

    def _launch(self, run_id: str) -> None:
        with self.platform.db.session() as s:
            run = s.get(Run, run_id)
            assert run is not None
            version = s.get(PipelineVersion, (run.pipeline_id, run.pipeline_version))
            document = dict(version.document) if version else {}
            parameters = dict(run.parameters)
            payload = view(run)
        self.platform.bus.publish(event("run_started", payload, attempt=payload.attempt))
        timeout = document.get("timeout_seconds")
        ctx = _mp()
        events = ctx.Queue()
        cancel = ctx.RawValue("b", 0)
        from ecluse.orchestration.worker import run_in_worker

        process = ctx.Process(target=run_in_worker, name=f"ecluse-run-{run_id[:8]}", args=(
            self.settings.model_dump(mode="json"), run_id, document, parameters,
            str(self.base_dir), events, cancel), daemon=False)
        try:
            process.start()
        except Exception as exc:
            self._finish(run_id, "failed", {"node_id": None, "message": f"could not start a "
                                            f"worker process: {exc}"}, {})
            return
        active = _Active(run_id, process, cancel, float(timeout) if timeout else None)
        with self._lock:
            self._active[run_id] = active
        with self.platform.db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(worker_pid=process.pid))
        supervisor = threading.Thread(target=self._supervise, args=(active, events), daemon=True,
                                      name=f"ecluse-supervise-{run_id[:8]}")
        self._supervisors = [t for t in self._supervisors if t.is_alive()] + [supervisor]
        supervisor.start()

    # --- one run ------------------------------------------------------------------------
    def _supervise(self, active: _Active, events: Any) -> None:
        run_id = active.run_id
        seq = 0
        nodes: dict[str, Any] = {}
        result: dict[str, Any] | None = None
        crash: str | None = None
        pending_logs: list[RunLog] = []
        last_flush = time.monotonic()
        pipeline_id = self._pipeline_of(run_id)

        def flush() -> None:
            nonlocal last_flush
            last_flush = time.monotonic()
            if not pending_logs:
                return
            with self.platform.db.session() as s:
                s.add_all(pending_logs)
                s.execute(update(Run).where(Run.id == run_id).values(nodes=dict(nodes)))
            pending_logs.clear()

        while True:
            try:
                ev = events.get(timeout=0.2)
            except queue.Empty:
                if pending_logs and time.monotonic() - last_flush > 0.5:
                    flush()
                if not active.process.is_alive():
                    # drain what the process managed to say before it went
                    with contextlib.suppress(Exception):
                        while True:
                            ev = events.get(timeout=0.2)
                            if ev.get("kind") == "__result__":
                                result = ev["result"]
                            elif ev.get("kind") == "__crash__":
                                crash = ev["message"]
                            else:
                                seq = self._record(ev, seq, nodes, pending_logs, pipeline_id)
                    break
                continue
            kind = ev.get("kind")
            if kind == "__result__":
                result = ev["result"]
                break
            if kind == "__crash__":
                crash = ev["message"]
                break
            seq = self._record(ev, seq, nodes, pending_logs, pipeline_id)
            if kind != "node_progress" or time.monotonic() - last_flush > 0.5:
                flush()
        flush()
        active.process.join(5)
        if active.process.is_alive():
            active.process.kill()
            active.process.join(5)
        with self._lock:
            self._active.pop(run_id, None)
        exitcode = active.process.exitcode
        if result is not None:
            status = result["status"]
            error = result.get("error")
            nodes.update(result.get("nodes", {}))
            if active.timed_out and status == "cancelled":
                status, error = "failed", {"node_id": None, "message": f"timed out after "
                                           f"{active.timeout:g} s"}
        elif active.timed_out:
            status, error = "failed", {"node_id": None, "message": f"timed out after "
                                       f"{active.timeout:g} s; the worker was stopped"}
        elif active.cancel_sent_at is not None:
            status, error = "cancelled", None
        else:
            reason = crash or (f"the worker process died (signal {-exitcode})" if exitcode and
                               exitcode < 0 else f"the worker process exited with code {exitcode}")
            status, error = "failed", {"node_id": None, "message": reason}
        self._finish(run_id, status, error, nodes)
        events.close()

    def _pipeline_of(self, run_id: str) -> str:
        with self.platform.db.session() as s:
            return s.scalar(select(Run.pipeline_id).where(Run.id == run_id)) or ""

    def _record(self, ev: dict[str, Any], seq: int, nodes: dict[str, Any], logs: list[RunLog],
                pipeline_id: str) -> int:
        kind = ev.get("kind", "")
        node_id = ev.get("node_id")
        data = dict(ev.get("data") or {})
        ev["pipeline_id"] = pipeline_id
        self.platform.bus.publish(ev)
        if node_id and kind in ("node_started", "node_finished", "node_failed"):
            entry = nodes.setdefault(node_id, {"node_id": node_id})
            entry.update({k: v for k, v in data.items() if k != "extra"})
            entry["status"] = data.get("status", "running")
        elif node_id and kind == "node_progress":
            nodes.setdefault(node_id, {"node_id": node_id, "status": "running"})["rows_so_far"] = \
                data.get("rows")
            return seq
        if kind == "run_finished":
            return seq
        level = str(data.pop("level", "error" if kind == "node_failed" else "info"))
        message = str(data.pop("message", "")) or {
            "run_started": "run started", "node_started": "node started",
            "node_finished": "node finished", "node_failed": "node failed"}.get(kind, kind)
        if kind == "node_failed" and data.get("error"):
            message = f"node failed: {data['error']}"
        seq += 1
        at = dt.datetime.fromisoformat(ev["at"]) if ev.get("at") else utcnow()
        logs.append(RunLog(run_id=ev.get("run_id"), seq=seq, at=at, level=level, node_id=node_id,
                           message=message[:10_000], data=_jsonable(data)))
        return seq

    def _finish(self, run_id: str, status: str, error: dict[str, Any] | None,
                nodes: dict[str, Any]) -> None:
        settings = self.settings
        with self.platform.db.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                return
            run.status, run.error, run.finished_at = status, error, utcnow()
            if nodes:
                run.nodes = nodes
            payload = view(run)
            retry = None
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
        self._observe(payload, nodes)
        self.platform.bus.publish(event("run_finished", payload, error=error,
                                        duration_s=payload.duration_s))
        log.info("run finished", run_id=run_id, status=status,
                 error=(error or {}).get("message"))
        if retry is not None:
            self.platform.bus.publish(event("run_queued", view(retry), retry_of=run_id))

    def _observe(self, run: Any, nodes: dict[str, Any]) -> None:
        metrics.RUNS.labels(run.pipeline_id, run.status).inc()
        if run.status == "failed":
            metrics.RUN_FAILURES.labels(run.pipeline_id).inc()
        if run.duration_s is not None:
            metrics.RUN_DURATION.labels(run.pipeline_id).observe(run.duration_s)
        rows = sum(int(n.get("rows_in") or 0) for n in nodes.values()
                   if isinstance(n, dict) and n.get("module") and n.get("bytes_written") is not None)
        if rows:
            metrics.RUN_ROWS.labels(run.pipeline_id).inc(rows)

    # --- orphans ------------------------------------------------------------------------
    def recover_orphans(self) -> int:
        """Runs left "running" by a dead worker or server (stale heartbeat) are failed, and
        retried when their policy allows."""
        limit = utcnow() - dt.timedelta(seconds=self.settings.orphan_after_seconds)
        mine = set(self.running)
        with self.platform.db.session() as s:
            ids = [i for i in s.scalars(select(Run.id).where(
                Run.status == "running", (Run.heartbeat_at.is_(None)) | (Run.heartbeat_at < limit)))
                if i not in mine]
        for run_id in ids:
            with self.platform.db.session() as s:
                changed = changed_rows(s, update(Run).where(
                    Run.id == run_id, Run.status == "running", Run.heartbeat_at < limit)
                    .values(status="orphaned"))
            if changed == 1:
                log.warning("orphaned run", run_id=run_id)
                self._finish(run_id, "failed", {"node_id": None, "message": "orphaned: its worker "
                                                "or server stopped while it ran"}, {})
        return len(ids)


def _noop() -> None:
    return None


def _jsonable(value: Any) -> dict[str, Any]:
    import json

    try:
        out: dict[str, Any] = json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return {}
    return out
