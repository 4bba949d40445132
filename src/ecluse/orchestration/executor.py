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

from ecluse.observability.logging import get_logger
from ecluse.orchestration.recording import RunRecorder, finish_run, load_work, outcome
from ecluse.services.platform import Platform
from ecluse.services.runs import event, heartbeat, mark_cancel_requested_ids
from ecluse.store.db import changed_rows
from ecluse.store.models import Run, utcnow

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
        work = load_work(self.platform, run_id)
        assert work is not None
        self.platform.bus.publish(event("run_started", work.run, attempt=work.run.attempt))
        ctx = _mp()
        events = ctx.Queue()
        cancel = ctx.RawValue("b", 0)
        from ecluse.orchestration.worker import run_in_worker

        process = ctx.Process(target=run_in_worker, name=f"ecluse-run-{run_id[:8]}", args=(
            self.settings.model_dump(mode="json"), run_id, work.document, work.parameters,
            str(self.base_dir), events, cancel), daemon=False)
        try:
            process.start()
        except Exception as exc:
            finish_run(self.platform, run_id, "failed", {
                "node_id": None, "message": f"could not start a worker process: {exc}"}, {})
            return
        active = _Active(run_id, process, cancel, work.timeout)
        with self._lock:
            self._active[run_id] = active
        with self.platform.db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(worker_pid=process.pid))
        recorder = RunRecorder(self.platform, run_id, work.run.pipeline_id)
        supervisor = threading.Thread(target=self._supervise, args=(active, events, recorder),
                                      daemon=True, name=f"ecluse-supervise-{run_id[:8]}")
        self._supervisors = [t for t in self._supervisors if t.is_alive()] + [supervisor]
        supervisor.start()

    # --- one run ------------------------------------------------------------------------
    def _supervise(self, active: _Active, events: Any, recorder: RunRecorder) -> None:
        result: dict[str, Any] | None = None
        crash: str | None = None
        while True:
            try:
                ev = events.get(timeout=0.2)
            except queue.Empty:
                recorder.flush_if_due()
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
                                recorder.record(ev)
                    break
                continue
            kind = ev.get("kind")
            if kind == "__result__":
                result = ev["result"]
                break
            if kind == "__crash__":
                crash = ev["message"]
                break
            recorder.record(ev)
        recorder.flush()
        active.process.join(5)
        if active.process.is_alive():
            active.process.kill()
            active.process.join(5)
        with self._lock:
            self._active.pop(active.run_id, None)
        exitcode = active.process.exitcode
        died = (f"the worker process died (signal {-exitcode})" if exitcode and exitcode < 0
                else f"the worker process exited with code {exitcode}")
        status, error = outcome(result, crash, timeout=active.timeout, timed_out=active.timed_out,
                                cancel_sent=active.cancel_sent_at is not None, died=died)
        nodes = {**recorder.nodes, **(result or {}).get("nodes", {})}
        finish_run(self.platform, active.run_id, status, error, nodes)
        events.close()

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
                finish_run(self.platform, run_id, "failed", {
                    "node_id": None, "message": "orphaned: its worker or server stopped while it ran"},
                    {})
        return len(ids)


def _noop() -> None:
    return None

