"""Runs through the Celery executor: real Redis, metadata on real PostgreSQL, two `ecluse
worker` processes. The API queues, the workers execute; events reach the WebSocket; cancel,
timeout and retries behave as with the inline executor; a worker SIGKILLed mid-run hands its
run to the other worker."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ecluse.api import create_app
from ecluse.orchestration.scheduler import Scheduler
from ecluse.store.models import Schedule
from tests.integration.server.conftest import ADMIN, Api, csv_pipeline, gated_pipeline

ROOT = Path(__file__).resolve().parents[3]
READY_WITHIN = 60.0


class Worker:
    """One `ecluse worker` process (its own process group, so that a SIGKILL takes the main
    process and its prefork children together: a lost machine)."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name, self.env, self.log = name, env, log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.write_text("")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "ecluse"), "worker", "--concurrency", "1",
             "--hostname", f"{self.name}@%h", "--loglevel", "info"],
            cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait_ready(self) -> None:
        end = time.monotonic() + READY_WITHIN
        while " ready." not in self.log.read_text(errors="replace"):
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < end, f"{self.name} not ready: {self.log.read_text()}"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture(scope="module")
def database(postgres_url: str) -> Iterator[str]:
    name = f"ecluse_celery_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_url.rpartition('/')[0]}/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def cluster(database: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Api, dict[str, Worker]]]:
    """The API (Celery executor) and two workers, sharing PostgreSQL and a queue of their
    own on Redis."""
    tmp = tmp_path_factory.mktemp("celery")
    queue = f"ecluse-test-{uuid.uuid4().hex[:8]}"
    common: dict[str, Any] = {
        "database_url": database, "redis_url": redis_url, "secret_key": "test-secret-key",
        "celery_queue": queue, "poll_seconds": 0.1, "heartbeat_seconds": 0.5,
        "cancel_grace_seconds": 1, "retry_backoff_seconds": 1,
        "extra_modules": ["tests.integration.server.slow_modules"]}
    client = TestClient(create_app(**common, data_dir=tmp / "api", executor="celery",
                                   scheduler="off", orphan_after_seconds=3,
                                   admin_username=ADMIN[0], admin_password=ADMIN[1]))
    client.__enter__()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ECLUSE_DATA_DIR": str(tmp / "worker"),
           **{f"ECLUSE_{k.upper()}": (str(v) if not isinstance(v, list) else f'["{v[0]}"]')
              for k, v in common.items()}}
    workers = {name: Worker(name, env, tmp) for name in ("w1", "w2")}
    try:
        for w in workers.values():
            w.start()
        for w in workers.values():
            w.wait_ready()
        yield Api(client), workers
    finally:
        for w in workers.values():
            w.stop()
        client.__exit__(None, None, None)


@pytest.fixture
def api(cluster: tuple[Api, dict[str, Worker]]) -> Api:
    for w in cluster[1].values():  # a test may have killed one
        if w.process is None or w.process.poll() is not None:
            w.start()
            w.wait_ready()
    return cluster[0]


def _row(api: Api, run_id: str, column: str) -> Any:
    with api.app.state.platform.db.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT {column} FROM runs WHERE id = :id"),
                            {"id": run_id}).scalar()


def _messages(api: Api, run_id: str) -> list[str]:
    lines = api.get(f"/api/v1/runs/{run_id}/logs?limit=500").json()["items"]
    return [line["message"] for line in lines]


def _at_gate(api: Api, run_id: str, times: int = 1) -> None:
    api.wait_run(run_id, until=lambda _: _messages(api, run_id).count("waiting at the gate")
                 >= times)


def test_a_run_executes_on_a_worker_and_its_events_reach_the_websocket(api: Api,
                                                                       tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    pid = api.create_pipeline(gated_pipeline(tmp_path, gate=gate))["id"]
    token = api.headers("admin")["Authorization"].split()[1]
    run = api.start_run(pid)
    events: list[dict[str, Any]] = []
    with api.client.websocket_connect(f"/api/v1/ws/runs/{run['id']}?token={token}") as ws:
        while True:
            ev = ws.receive_json()
            events.append(ev)
            if ev["kind"] == "log" and ev["data"].get("message") == "waiting at the gate":
                gate.unlink()
            if ev["kind"] == "run_finished":
                break
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "snapshot" and "run_started" in kinds and "node_finished" in kinds
    assert [e["data"]["rows"] for e in events if e["kind"] == "node_progress"][:3] == [10, 20, 30]
    assert events[-1]["data"]["status"] == "succeeded"
    done = api.wait_run(run["id"])
    assert done["status"] == "succeeded" and done["nodes"]["out"]["rows_in"] == 30
    assert _row(api, run["id"], "instance").split("@")[0] in ("w1", "w2")
    assert pq.read_table(tmp_path / "dest" / "gated.parquet").num_rows == 30
    assert _messages(api, run["id"]).count("run started") == 1


def test_runs_spread_over_both_workers(api: Api, tmp_path: Path) -> None:
    pid = api.create_pipeline(csv_pipeline(tmp_path, rows=4))["id"]
    gates = [tmp_path / f"gate{i}" for i in range(2)]
    ids = []
    for i, gate in enumerate(gates):  # each run holds its worker until both have started
        gate.touch()
        gpid = api.create_pipeline(gated_pipeline(tmp_path, gate=gate, name=f"hold{i}"))["id"]
        ids.append(api.start_run(gpid)["id"])
    for run_id in ids:
        _at_gate(api, run_id)
    assert {_row(api, run_id, "instance").split("@")[0] for run_id in ids} == {"w1", "w2"}
    for gate in gates:
        gate.unlink()
    assert all(api.wait_run(run_id)["status"] == "succeeded" for run_id in ids)
    assert api.wait_run(api.start_run(pid)["id"])["status"] == "succeeded"


def test_cancel_a_running_run_and_a_run_queued_in_celery(api: Api, tmp_path: Path) -> None:
    gates = [tmp_path / f"gate{i}" for i in range(2)]
    running = []
    for i, gate in enumerate(gates):  # both workers busy
        gate.touch()
        pid = api.create_pipeline(gated_pipeline(tmp_path, gate=gate, name=f"busy{i}"))["id"]
        running.append(api.start_run(pid)["id"])
    for run_id in running:
        _at_gate(api, run_id)
    waiting_pid = api.create_pipeline(csv_pipeline(tmp_path, name="waiting"))["id"]
    queued = api.start_run(waiting_pid)["id"]
    api.wait_run(queued, until=lambda _: _row(api, queued, "dispatched_at") is not None)
    assert api.post(f"/api/v1/runs/{queued}/cancel").json()["status"] == "cancelled"
    r = api.post(f"/api/v1/runs/{running[0]}/cancel")
    assert r.status_code == 202 and r.json()["cancel_requested"]
    assert api.wait_run(running[0])["status"] == "cancelled"
    assert not (tmp_path / "dest" / "busy0.parquet").exists()
    gates[1].unlink()
    assert api.wait_run(running[1])["status"] == "succeeded"
    # both workers are free again and the queue is drained: the cancelled run never started
    after = api.wait_run(api.start_run(waiting_pid)["id"])
    assert after["status"] == "succeeded"
    gone = api.get(f"/api/v1/runs/{queued}").json()
    assert gone["status"] == "cancelled" and gone["started_at"] is None
    assert _messages(api, queued) == [] and _row(api, queued, "deliveries") == 0


def test_scheduled_runs_go_to_the_workers(api: Api, tmp_path: Path) -> None:
    pid = api.create_pipeline({**csv_pipeline(tmp_path, name="nightly"),
                               "schedule": "*/10 * * * *"})["id"]
    slot = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    platform = api.app.state.platform
    with platform.db.session() as s:
        s.execute(sa.update(Schedule).where(Schedule.pipeline_id == pid).values(next_run_at=slot))
    assert Scheduler(platform, "test-scheduler").tick() == 1
    (run,) = api.runs_of(pid)
    done = api.wait_run(run["id"])
    assert done["trigger"] == "schedule" and done["status"] == "succeeded"
    assert _row(api, run["id"], "instance").split("@")[0] in ("w1", "w2")
    assert pq.read_table(tmp_path / "out" / "nightly.parquet").num_rows == 5


def test_timeout_fails_the_run(api: Api, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    pid = api.create_pipeline(gated_pipeline(tmp_path, gate=gate, timeout_seconds=1))["id"]
    done = api.wait_run(api.start_run(pid)["id"])
    assert done["status"] == "failed" and "timed out after 1 s" in done["error"]["message"]
    assert not (tmp_path / "dest" / "gated.parquet").exists()


def test_a_run_that_ignores_the_cancel_is_stopped_with_its_process(api: Api,
                                                                   tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    doc = gated_pipeline(tmp_path, gate=gate, timeout_seconds=1)
    doc["nodes"][0]["config"]["stubborn"] = True
    pid = api.create_pipeline(doc)["id"]
    run_id = api.start_run(pid)["id"]
    done = api.wait_run(run_id)
    assert done["status"] == "failed"
    assert "timed out after 1 s; the worker was stopped" in done["error"]["message"]
    gate.unlink()
    # the process exit gave the message back; the redelivery found the run finished
    pid2 = api.create_pipeline(csv_pipeline(tmp_path, name="next"))["id"]
    for _ in range(2):  # both workers still work
        assert api.wait_run(api.start_run(pid2)["id"])["status"] == "succeeded"
    assert api.get(f"/api/v1/runs/{run_id}").json()["status"] == "failed"
    assert _row(api, run_id, "deliveries") == 1 and len(api.runs_of(pid)) == 1
    assert not (tmp_path / "dest" / "gated.parquet").exists()


def test_a_failed_run_is_retried_by_policy(api: Api, tmp_path: Path) -> None:
    marker = tmp_path / "down"
    marker.touch()
    pid = api.create_pipeline(gated_pipeline(tmp_path, fail_marker=marker, retries=3))["id"]
    first = api.start_run(pid)
    failed = api.wait_run(first["id"])
    marker.unlink()  # the source is back before the retry (1 s back-off on the workers)
    assert failed["status"] == "failed" and failed["error"]["node_id"] == "src"
    api.wait_run(first["id"], until=lambda _: any(r["status"] == "succeeded"
                                                  for r in api.runs_of(pid)))
    runs = api.runs_of(pid)
    assert runs[0]["attempt"] == 1 and runs[1]["retry_of"] == first["id"]
    assert runs[-1]["status"] == "succeeded" and runs[-1]["attempt"] >= 2
    assert pq.read_table(tmp_path / "dest" / "gated.parquet").num_rows == 30


def test_killed_workers_hand_the_run_over(cluster: tuple[Api, dict[str, Worker]],
                                          tmp_path: Path) -> None:
    api, workers = cluster[0], cluster[1]
    gate = tmp_path / "gate"
    gate.touch()
    pid = api.create_pipeline(gated_pipeline(tmp_path, gate=gate))["id"]
    run_id = api.start_run(pid)["id"]
    dest = tmp_path / "dest" / "gated.parquet"
    _at_gate(api, run_id)
    # a prefork child killed (OOM killer): its worker puts the message back at once
    os.kill(_row(api, run_id, "worker_pid"), signal.SIGKILL)
    _at_gate(api, run_id, times=2)
    assert _row(api, run_id, "deliveries") == 2 and not dest.exists()
    # a whole worker killed, main process and child (a lost machine): the API sees the
    # heartbeat stop and sends the run again; the other worker takes it over
    first = _row(api, run_id, "instance").split("@")[0]
    workers[first].kill()
    _at_gate(api, run_id, times=3)
    assert not dest.exists()
    assert _row(api, run_id, "instance").split("@")[0] != first
    assert api.get(f"/api/v1/runs/{run_id}").json()["status"] == "running"
    gate.unlink()
    done = api.wait_run(run_id)
    assert done["status"] == "succeeded" and done["attempt"] == 1
    assert _row(api, run_id, "deliveries") == 3
    assert sum("its worker was lost; taken over by" in m for m in _messages(api, run_id)) == 2
    assert pq.read_table(dest).column("n").to_pylist() == list(range(30))
    assert [r["id"] for r in api.runs_of(pid)] == [run_id]  # the same run went on: no retry
