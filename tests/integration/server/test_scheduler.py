"""The cron scheduler: time zones, catch-up policy, and two API instances sharing one database
without a double run."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ecluse.services.pipelines import next_fire
from ecluse.store.models import Schedule
from tests.integration.server.conftest import Api, csv_pipeline


def _due(api: Api, pid: str, ago: dt.timedelta) -> dt.datetime:
    """Pretend the server was down: the schedule's next slot is ``ago`` in the past."""
    slot = (dt.datetime.now(dt.UTC) - ago).replace(second=0, microsecond=0)
    with api.app.state.platform.db.session() as s:
        s.execute(sa.update(Schedule).where(Schedule.pipeline_id == pid).values(next_run_at=slot))
    return slot


def _scheduled(api: Api, pid: str) -> list[dict[str, Any]]:
    return [r for r in api.runs_of(pid) if r["trigger"] == "schedule"]


def test_time_zones() -> None:
    after = dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC)  # the day before Paris goes to CEST
    first = next_fire("0 2 * * *", "Europe/Paris", after)
    second = next_fire("0 2 * * *", "Europe/Paris", first)
    assert first == dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)  # 02:00 CET... skipped hour
    assert second == dt.datetime(2026, 3, 30, 0, 0, tzinfo=dt.UTC)  # 02:00 CEST


def test_two_instances_share_a_schedule_without_double_runs(make_api: Any, tmp_path: Path) -> None:
    a = make_api(executor_enabled=False, scheduler="off")
    b = make_api(executor_enabled=False, scheduler="off")
    doc = {**csv_pipeline(tmp_path), "schedule": "*/10 * * * *", "timezone": "Europe/Paris"}
    pid = a.create_pipeline(doc)["id"]
    a.request("PATCH", f"/api/v1/pipelines/{pid}/schedule", json={"catch_up": "all"})
    _due(a, pid, dt.timedelta(minutes=55))
    from ecluse.orchestration.scheduler import Scheduler

    schedulers = [Scheduler(a.app.state.platform, "instance-a"),
                  Scheduler(b.app.state.platform, "instance-b")]
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def race(s: Scheduler) -> None:
        barrier.wait()
        for _ in range(5):
            counts.append(s.tick())

    threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = _scheduled(a, pid)
    slots = [r["scheduled_for"] for r in runs]
    assert len(slots) == len(set(slots)) == sum(counts)
    assert 6 <= len(runs) <= 7  # the missed slot, then every 10-minute slot since: once each
    # only one instance holds the lease at a time
    assert (schedulers[0].acquire(), schedulers[1].acquire()).count(True) == 1
    # even without the lease, the (pipeline, slot) key refuses a second run of a slot
    schedulers[0].release()
    _due(a, pid, dt.timedelta(minutes=55))
    assert schedulers[1].tick() == 0
    assert len(_scheduled(a, pid)) == len(runs)


def test_catch_up_skip_runs_only_the_latest_missed_slot(make_api: Any, tmp_path: Path) -> None:
    api = make_api(executor_enabled=False, scheduler="off")
    doc = {**csv_pipeline(tmp_path), "schedule": "*/5 * * * *"}
    pid = api.create_pipeline(doc)["id"]
    _due(api, pid, dt.timedelta(minutes=30))
    from ecluse.orchestration.scheduler import Scheduler

    assert Scheduler(api.app.state.platform, "solo").tick() == 1
    sched = api.get(f"/api/v1/pipelines/{pid}/schedule").json()
    assert dt.datetime.fromisoformat(sched["next_run_at"]) > dt.datetime.now(dt.UTC)
    # paused schedules do not fire
    api.request("PATCH", f"/api/v1/pipelines/{pid}/schedule", json={"enabled": False})
    _due(api, pid, dt.timedelta(minutes=30))
    assert Scheduler(api.app.state.platform, "solo").tick() == 0


def test_embedded_scheduler_runs_due_pipelines(make_api: Any, tmp_path: Path) -> None:
    api = make_api(scheduler="embedded", scheduler_tick_seconds=0.2)
    doc = {**csv_pipeline(tmp_path), "schedule": "0 3 * * *", "timezone": "America/New_York"}
    pid = api.create_pipeline(doc)["id"]
    _due(api, pid, dt.timedelta(minutes=1))

    def scheduled_and_done(_: dict[str, Any]) -> bool:
        runs = _scheduled(api, pid)
        return bool(runs) and runs[0]["status"] == "succeeded"

    run = api.start_run(pid)  # a manual run alongside
    api.wait_run(run["id"], until=scheduled_and_done)
    assert len(_scheduled(api, pid)) == 1
