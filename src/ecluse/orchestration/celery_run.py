"""One delivery of a run to a Celery worker: take the run (or take it over from a lost
worker), execute it in this process, keep its heartbeat, honour cancel and timeout, record
it exactly as the inline executor does."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import update

from ecluse.engine.events import RunEvent
from ecluse.observability.logging import bind_run, get_logger
from ecluse.orchestration.recording import RunRecorder, finish_run, load_work, outcome
from ecluse.orchestration.run_lock import RunLock
from ecluse.orchestration.worker import execute
from ecluse.sdk.context import CancelToken
from ecluse.services.platform import Platform
from ecluse.services.runs import event
from ecluse.store.db import changed_rows
from ecluse.store.models import Run, utcnow

log = get_logger("ecluse.celery")
Outcome = Literal["finished", "busy", "skipped", "lost"]
HARD_STOP_EXIT = 70


@dataclass(frozen=True)
class Claim:
    kind: Literal["start", "takeover"]
    delivery: int


def deliver(platform: Platform, run_id: str, owner: str) -> Outcome:
    """Execute the run unless another process holds it now ("busy") or there is nothing to
    do ("skipped": finished, cancelled, gone). ``owner`` names this delivery in the run row."""
    owner = owner[:80]  # the width of runs.instance
    lock = RunLock(platform.db.engine, run_id)
    if not lock.acquire():
        return "busy"
    try:
        claim = _claim(platform, run_id, owner)
        if claim is None:
            return "skipped"
        bind_run(run_id)
        return _execute(platform, run_id, owner, claim, lock)
    finally:
        lock.release()


def _claim(platform: Platform, run_id: str, owner: str) -> Claim | None:
    """Under the run's lock: a queued run starts; a run still "running" lost its worker (the
    lock was free) and is taken over, up to ``celery_max_deliveries`` times."""
    now = utcnow()
    with platform.db.session() as s:
        if changed_rows(s, update(Run).where(Run.id == run_id, Run.status == "queued",
                                             Run.cancel_requested.is_(False))
                        .values(status="running", started_at=now, heartbeat_at=now, instance=owner,
                                worker_pid=os.getpid(), deliveries=1)) == 1:
            return Claim("start", 1)
        run = s.get(Run, run_id, with_for_update=True)
        if run is None or run.status != "running":
            return None
        run.instance, run.worker_pid, run.heartbeat_at = owner, os.getpid(), now
        lost, cancelled = run.deliveries, run.cancel_requested
        limit = platform.settings.celery_max_deliveries
        if not cancelled and lost < limit:
            run.deliveries = lost + 1
    if cancelled:  # its worker went while the cancel was on its way
        finish_run(platform, run_id, "cancelled", None, {}, owner=owner)
        return None
    if lost >= limit:
        finish_run(platform, run_id, "failed", {"node_id": None, "message": (
            f"its worker was lost {lost} times (ECLUSE_CELERY_MAX_DELIVERIES={limit}); "
            "giving up")}, {}, owner=owner)
        return None
    return Claim("takeover", lost + 1)


def _execute(platform: Platform, run_id: str, owner: str, claim: Claim, lock: RunLock) -> Outcome:
    work = load_work(platform, run_id)
    assert work is not None
    recorder = RunRecorder(platform, run_id, work.run.pipeline_id)
    if claim.kind == "takeover":
        recorder.log(f"its worker was lost; taken over by {owner} (delivery {claim.delivery})",
                     level="warning", delivery=claim.delivery)
    platform.bus.publish(event("run_started", work.run, attempt=work.run.attempt,
                               delivery=claim.delivery, worker=owner))
    token = CancelToken()
    watch = _Watch(platform, lock, owner, token, work.timeout, recorder)
    watch.start()
    result: dict[str, Any] | None = None
    crash: str | None = None

    def on_event(ev: RunEvent) -> None:
        recorder.record(ev.to_dict())

    try:
        result = execute(platform, run_id, work.document, work.parameters, platform.base_dir, token,
                         on_event)
    except Exception as exc:
        crash = f"{type(exc).__name__}: {exc}"
    watch.stop()
    recorder.flush()
    if watch.lost:
        log.warning("run given up: its heartbeat could not be written; a takeover follows",
                    run_id=run_id)
        return "lost"
    status, error = outcome(result, crash, timeout=work.timeout, timed_out=watch.timed_out,
                            cancel_sent=watch.cancel_sent_at is not None, died=None)
    finish_run(platform, run_id, status, error, {**recorder.nodes, **(result or {}).get("nodes", {})},
               owner=owner)
    return "finished"


class _Watch(threading.Thread):
    """Beside the run: its heartbeat, cancel requests, its timeout, and the hard stop of a
    run that does not stop within ``cancel_grace_seconds`` (the process exits; its final
    state is recorded first, so the redelivery that follows finds it finished)."""

    def __init__(self, platform: Platform, lock: RunLock, owner: str, token: CancelToken,
                 timeout: float | None, recorder: RunRecorder) -> None:
        super().__init__(daemon=True, name="ecluse-run-watch")
        self.platform, self.lock, self.owner, self.token = platform, lock, owner, token
        self.timeout, self.recorder = timeout, recorder
        self.started = time.monotonic()
        self.timed_out = self.lost = False
        self.cancel_sent_at: float | None = None
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        settings = self.platform.settings
        last_beat = time.monotonic()
        while not self._done.wait(settings.poll_seconds):
            now = time.monotonic()
            try:
                if now - last_beat >= settings.heartbeat_seconds:
                    last_beat = now
                    if not self.lock.heartbeat(self.owner):
                        self._lose()
                        return
                if self.lock.cancel_requested():
                    self._cancel()
            except Exception as exc:  # the lock's connection is gone: so may be the lock
                log.error("run heartbeat failed; stopping the run", error=str(exc))
                self._lose()
                return
            if self.timeout is not None and not self.timed_out and now - self.started > self.timeout:
                self.timed_out = True
                self._cancel()
            if (self.cancel_sent_at is not None
                    and now - self.cancel_sent_at > settings.cancel_grace_seconds):
                self._hard_stop()
            self.recorder.flush_if_due()

    def _cancel(self) -> None:
        if self.cancel_sent_at is None:
            self.cancel_sent_at = time.monotonic()
            self.token.cancel()

    def _lose(self) -> None:
        self.lost = True
        self.token.cancel()

    def _hard_stop(self) -> None:
        status, error = outcome(None, None, timeout=self.timeout, timed_out=self.timed_out,
                                cancel_sent=True, died=None)
        self.recorder.flush()
        finish_run(self.platform, self.recorder.run_id, status, error, self.recorder.nodes,
                   owner=self.owner)
        log.error("run did not stop within the grace period; exiting the worker process",
                  run_id=self.recorder.run_id)
        os._exit(HARD_STOP_EXIT)
