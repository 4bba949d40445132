"""The cron scheduler. Several API instances may run it against one database: a lease row
says which instance schedules, and a unique (pipeline, slot) key on runs makes a double run
impossible even if two ever tried."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ecluse.observability.logging import get_logger
from ecluse.services import runs
from ecluse.services.errors import ServiceError
from ecluse.services.pipelines import next_fire
from ecluse.services.platform import SYSTEM, Platform
from ecluse.store.db import changed_rows
from ecluse.store.models import Lease, Pipeline, Schedule, utcnow

log = get_logger("ecluse.scheduler")
LEASE = "scheduler"


class Scheduler:
    def __init__(self, platform: Platform, instance: str) -> None:
        self.platform = platform
        self.instance = instance
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ecluse-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.release()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                log.error("scheduler tick failed", error=str(exc))
            self._stop.wait(self.platform.settings.scheduler_tick_seconds)

    def acquire(self) -> bool:
        """Take or renew the lease; True when this instance is the scheduler."""
        now = utcnow()
        until = now + dt.timedelta(seconds=self.platform.settings.lease_seconds)
        with self.platform.db.session() as s:
            got = changed_rows(s, update(Lease).where(
                Lease.name == LEASE, (Lease.holder == self.instance) | (Lease.expires_at < now))
                .values(holder=self.instance, expires_at=until))
            if got == 1:
                return True
            if s.get(Lease, LEASE) is not None:
                return False
        try:
            with self.platform.db.session() as s:
                s.add(Lease(name=LEASE, holder=self.instance, expires_at=until))
            return True
        except IntegrityError:
            return False

    def release(self) -> None:
        with self.platform.db.session() as s:
            s.execute(update(Lease).where(Lease.name == LEASE, Lease.holder == self.instance)
                      .values(expires_at=utcnow() - dt.timedelta(seconds=1)))

    def tick(self, now: dt.datetime | None = None) -> int:
        """Queue every due run; returns how many were queued."""
        if not self.acquire():
            return 0
        now = now or utcnow()
        queued = 0
        with self.platform.db.session() as s:
            due = list(s.scalars(select(Schedule).join(Pipeline, Pipeline.id == Schedule.pipeline_id)
                                 .where(Schedule.enabled, Schedule.next_run_at <= now,
                                        Pipeline.deleted_at.is_(None))))
        for sched in due:
            queued += self._fire(sched, now)
        return queued

    def _fire(self, sched: Schedule, now: dt.datetime) -> int:
        assert sched.next_run_at is not None
        slots: list[dt.datetime] = []
        slot = sched.next_run_at
        limit = self.platform.settings.max_catch_up_runs
        while slot <= now and len(slots) < 10_000:
            slots.append(slot)
            slot = next_fire(sched.cron, sched.timezone, slot)
        # "skip": missed intervals are skipped, only the latest runs; "all": each one runs
        slots = slots[-limit:] if sched.catch_up == "all" else slots[-1:]
        queued = 0
        for when in slots:
            try:
                runs.start(self.platform, SYSTEM, sched.pipeline_id, {}, trigger="schedule",
                           scheduled_for=when)
                queued += 1
            except IntegrityError:
                pass  # that slot already has its run
            except ServiceError as exc:
                log.warning("scheduled run refused", pipeline_id=sched.pipeline_id,
                            error=exc.detail)
        with self.platform.db.session() as s:
            s.execute(update(Schedule).where(Schedule.pipeline_id == sched.pipeline_id,
                                             Schedule.next_run_at == sched.next_run_at)
                      .values(next_run_at=slot, last_run_at=slots[-1] if slots else None))
        return queued
