"""The Celery executor, API side: queued runs (manual, API, scheduled, retries once due) are
sent to the broker; runs whose worker was lost are sent again; cancel revokes. Execution
happens in ``ecluse worker`` processes (``celery_run``)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
import uuid

from sqlalchemy import ColumnElement, select, update

from ecluse.observability.logging import get_logger
from ecluse.orchestration.celery_app import TASK, make_celery
from ecluse.orchestration.run_lock import require_postgresql
from ecluse.services.platform import Platform
from ecluse.store.db import changed_rows
from ecluse.store.models import Run, utcnow

log = get_logger("ecluse.celery")
BATCH = 200


class CeleryExecutor:
    def __init__(self, platform: Platform) -> None:
        require_postgresql(platform.db.engine)
        self.platform = platform
        self.settings = platform.settings
        self.celery = make_celery(self.settings)
        self.instance = f"api:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sweep = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ecluse-celery-dispatch",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.celery.close()  # its broker connections

    def wake(self) -> None:
        self._wake.set()

    def revoke(self, run_id: str) -> None:
        """Workers drop the run's message unread (they also find it cancelled in the
        database, which is what holds for a worker started after the revoke)."""
        try:
            self.celery.control.revoke(run_id)
        except Exception as exc:
            log.warning("revoke failed; the worker will still see the cancel", run_id=run_id,
                        error=str(exc))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                log.error("celery dispatch failed", error=str(exc))
            self._wake.wait(self.settings.poll_seconds)
            self._wake.clear()

    def tick(self) -> int:
        """Send what is due; returns how many messages were sent."""
        now = utcnow()
        sent = self._dispatch(now)
        if time.monotonic() - self._last_sweep >= min(self.settings.orphan_after_seconds / 2, 10):
            self._last_sweep = time.monotonic()
            sent += self._sweep(now)
        return sent

    def _dispatch(self, now: dt.datetime) -> int:
        """Queued runs that are due and were not sent yet (or so long ago that the message may
        have been lost with the broker)."""
        again = now - dt.timedelta(seconds=self.settings.celery_redispatch_seconds)
        due = (Run.status == "queued", (Run.not_before.is_(None)) | (Run.not_before <= now),
               (Run.dispatched_at.is_(None)) | (Run.dispatched_at < again))
        return self._send(due, now, takeover=False)

    def _sweep(self, now: dt.datetime) -> int:
        """Running runs whose heartbeat stopped: their worker was lost (or its whole machine).
        The run is sent again; the worker that takes it checks the run's lock, so a worker
        that is only slow keeps its run."""
        stale = now - dt.timedelta(seconds=self.settings.orphan_after_seconds)
        lost = (Run.status == "running", Run.heartbeat_at < stale,
                (Run.dispatched_at.is_(None)) | (Run.dispatched_at < stale))
        return self._send(lost, now, takeover=True)

    def _send(self, where: tuple[ColumnElement[bool], ...], now: dt.datetime, *,
              takeover: bool) -> int:
        db = self.platform.db
        with db.session() as s:
            ids = list(s.scalars(select(Run.id).where(*where).order_by(Run.created_at).limit(BATCH)))
        sent = 0
        for run_id in ids:
            with db.session() as s:  # several API instances: one of them sends it
                if changed_rows(s, update(Run).where(Run.id == run_id, *where)
                                .values(dispatched_at=now)) != 1:
                    continue
            # a takeover gets a task id of its own: a revoked run id must not hide it
            task_id = f"{run_id}:{uuid.uuid4().hex[:8]}" if takeover else run_id
            try:
                self.celery.send_task(TASK, args=[run_id], task_id=task_id,
                                      queue=self.settings.celery_queue)
            except Exception as exc:
                log.error("could not send the run to the broker; will try again", run_id=run_id,
                          error=str(exc))
                with db.session() as s:
                    s.execute(update(Run).where(Run.id == run_id).values(dispatched_at=None))
                continue
            if takeover:
                log.warning("run lost its worker (no heartbeat); sent again", run_id=run_id)
            sent += 1
        return sent
