"""Runs through the inline executor: results, logs, listing, parameters, cancel, timeout,
a worker killed mid-run, retries and orphan recovery."""

from __future__ import annotations

import datetime as dt
import os
import signal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.integration.server.conftest import Api, csv_pipeline, gated_pipeline


def _worker_pid(api: Api, run_id: str) -> int:
    with api.app.state.platform.db.engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT worker_pid FROM runs WHERE id = :id"),
                           {"id": run_id}).scalar()
    assert pid
    return int(pid)


def _at_gate(api: Api, run_id: str) -> None:
    def waiting(run: dict[str, Any]) -> bool:
        lines = api.get(f"/api/v1/runs/{run_id}/logs").json()["items"]
        return any(line["message"] == "waiting at the gate" for line in lines)

    api.wait_run(run_id, until=waiting)


def test_run_succeeds_with_metrics_and_paged_logs(api: Api, tmp_path: Path) -> None:
    pid = api.create_pipeline(csv_pipeline(tmp_path, rows=7))["id"]
    run = api.start_run(pid)
    assert run["status"] == "queued" and run["trigger"] == "api"
    done = api.wait_run(run["id"])
    assert done["status"] == "succeeded", done
    assert done["nodes"]["out"]["rows_in"] == 7 and done["nodes"]["src"]["status"] == "succeeded"
    assert done["started_at"] and done["finished_at"] and done["duration_s"] >= 0
    assert pq.read_table(tmp_path / "out" / "orders.parquet").num_rows == 7
    logs = api.get(f"/api/v1/runs/{run['id']}/logs?limit=2").json()
    assert len(logs["items"]) == 2 and logs["total"] >= 4 and logs["items"][0]["seq"] == 1
    more = api.get(f"/api/v1/runs/{run['id']}/logs?after={logs['next_after']}").json()
    assert more["items"][0]["seq"] == 3
    assert {line["node_id"] for line in more["items"]} >= {"src", "out"}
    # listing: filter, sort, paginate
    api.wait_run(api.start_run(pid)["id"])
    page = api.get(f"/api/v1/runs?pipeline_id={pid}&status=succeeded&sort=-created_at&limit=1")
    body = page.json()
    assert body["total"] == 2 and len(body["items"]) == 1 and body["items"][0]["id"] != run["id"]
    assert api.get("/api/v1/runs?status=failed").json()["total"] == 0
    metrics = api.client.get("/metrics").text
    assert f'ecluse_runs_total{{pipeline_id="{pid}",status="succeeded"}}' in metrics
    assert "ecluse_http_request_duration_seconds_bucket" in metrics


def test_parameters_are_checked_before_queueing(api: Api, tmp_path: Path) -> None:
    doc = csv_pipeline(tmp_path)
    doc["parameters"] = {"limit": {"type": "integer", "default": 3}}
    pid = api.create_pipeline(doc)["id"]
    r = api.post(f"/api/v1/pipelines/{pid}/runs", json={"parameters": {"limit": "three"}})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/parameters/limit"
    assert api.get(f"/api/v1/runs?pipeline_id={pid}").json()["total"] == 0
    run = api.post(f"/api/v1/pipelines/{pid}/runs",
                   json={"parameters": {"limit": 5}, "trigger": "manual"}).json()
    assert run["parameters"] == {"limit": 5} and run["trigger"] == "manual"
    assert api.get(f"/api/v1/runs?trigger=manual&pipeline_id={pid}").json()["total"] == 1
    assert api.wait_run(run["id"])["status"] == "succeeded"


def test_node_failure_is_recorded_with_node_id(api: Api, tmp_path: Path) -> None:
    marker = tmp_path / "down"
    marker.touch()
    pid = api.create_pipeline(gated_pipeline(tmp_path, fail_marker=marker))["id"]
    done = api.wait_run(api.start_run(pid)["id"])
    assert done["status"] == "failed" and done["error"]["node_id"] == "src"
    assert "source is down" in done["error"]["message"]
    # the whole message is the cause's text: no separate cause; no rows to show
    assert done["error"]["cause"] is None and done["error"]["sample_rows"] == []
    assert api.get(f"/api/v1/runs?pipeline_id={pid}").json()["total"] == 1  # no retry policy


def test_a_failing_cast_is_recorded_on_its_cleaner_with_rows(api: Api, tmp_path: Path) -> None:
    """The rows a node failed on hold any type (here a timestamp): they are stored and served as
    JSON; the steps the failure stopped are recorded as cancelled, in the log too."""
    src = tmp_path / "stamps.csv"
    src.write_text("id,at,code\n1,2024-03-31 01:30:00,A1\n2,2024-03-31 02:30:00,7\n")
    doc = {"name": "stamps", "nodes": [
        {"id": "src", "type": "extractor", "module": "csv", "config": {"path": str(src)}},
        {"id": "clean", "type": "transformer", "module": "cleaner",
         "config": {"cast": {"code": "int64"}}},
        {"id": "out", "type": "loader", "module": "parquet",
         "config": {"path": str(tmp_path / "out.parquet")}}],
        "edges": [{"source": "src", "target": "clean"}, {"source": "clean", "target": "out"}]}
    done = api.wait_run(api.start_run(api.create_pipeline(doc)["id"])["id"])
    assert done["status"] == "failed" and done["error"]["node_id"] == "clean"
    assert done["error"]["field"] == "cast" and done["error"]["cause"]
    assert done["error"]["sample_rows"] == [{"code": "A1", "id": 1, "at": "2024-03-31T01:30:00"}]
    assert list(done["error"]["sample_rows"][0]) == ["code", "id", "at"]
    assert done["nodes"]["clean"]["status"] == "failed"
    assert done["nodes"]["src"]["status"] == done["nodes"]["out"]["status"] == "cancelled"
    lines = api.get(f"/api/v1/runs/{done['id']}/logs").json()["items"]
    assert {"level": "warning", "node_id": "out", "message": "node stopped: node 'clean' upstream "
            "failed"}.items() <= next(ln for ln in lines if ln["node_id"] == "out"
                                      and ln["message"].startswith("node stopped")).items()
    assert not (tmp_path / "out.parquet").exists()


def test_cancel_stops_the_work_and_leaves_the_destination(api: Api, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    pid = api.create_pipeline(gated_pipeline(tmp_path, gate=gate))["id"]
    run = api.start_run(pid)
    _at_gate(api, run["id"])
    source = api.get(f"/api/v1/runs/{run['id']}").json()["nodes"]["src"]
    assert source["status"] == "running" and source["rows_so_far"] == 10  # live progress
    r = api.post(f"/api/v1/runs/{run['id']}/cancel", role="developer")
    assert r.status_code == 202 and r.json()["cancel_requested"]
    done = api.wait_run(run["id"])
    assert done["status"] == "cancelled"
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())
    assert api.post(f"/api/v1/runs/{run['id']}/cancel").status_code == 409


def test_cancel_a_queued_run(make_api: Any, tmp_path: Path) -> None:
    api = make_api(executor_enabled=False)
    pid = api.create_pipeline(csv_pipeline(tmp_path))["id"]
    run = api.start_run(pid)
    r = api.post(f"/api/v1/runs/{run['id']}/cancel")
    assert r.json()["status"] == "cancelled"


def test_timeout_fails_the_run(api: Api, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    pid = api.create_pipeline(gated_pipeline(tmp_path, gate=gate, timeout_seconds=1))["id"]
    done = api.wait_run(api.start_run(pid)["id"])
    assert done["status"] == "failed" and "timed out" in done["error"]["message"]
    assert not (tmp_path / "dest" / "gated.parquet").exists()


def test_sigkilled_worker_fails_the_run_and_the_retry_succeeds(api: Api, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    pid = api.create_pipeline(gated_pipeline(tmp_path, gate=gate, retries=1))["id"]
    run = api.start_run(pid)
    assert run["max_attempts"] == 2
    _at_gate(api, run["id"])
    progress = api.get(f"/api/v1/runs/{run['id']}").json()["nodes"]
    assert progress["src"]["rows_so_far"] == 10  # the first batch went through
    os.kill(_worker_pid(api, run["id"]), signal.SIGKILL)
    failed = api.wait_run(run["id"])
    assert failed["status"] == "failed" and "signal 9" in failed["error"]["message"]
    dest = tmp_path / "dest" / "gated.parquet"
    assert not dest.exists()  # untouched: the loader writes to a staging path first
    retries = [r for r in api.runs_of(pid) if r["retry_of"] == run["id"]]
    assert len(retries) == 1 and retries[0]["attempt"] == 2
    gate.unlink()
    done = api.wait_run(retries[0]["id"])
    assert done["status"] == "succeeded", done
    assert pq.read_table(dest).num_rows == 30


def test_orphans_are_failed_and_retried_after_a_crash(make_api: Any, settings: dict[str, Any],
                                                      tmp_path: Path) -> None:
    first = make_api(executor_enabled=False)
    pid = first.create_pipeline(csv_pipeline(tmp_path, rows=3))["id"]
    run = first.start_run(pid)
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with first.app.state.platform.db.engine.begin() as conn:  # a server died mid-run
        conn.execute(sa.text("UPDATE runs SET status='running', heartbeat_at=:t, started_at=:t, "
                             "max_attempts=2 WHERE id=:id"),
                     {"t": stale.replace(tzinfo=None) if settings["database_url"] is None
                      else stale, "id": run["id"]})
    second = make_api(orphan_after_seconds=30)
    failed = second.wait_run(run["id"])
    assert failed["status"] == "failed" and "orphaned" in failed["error"]["message"]
    retry = next(r for r in second.runs_of(pid) if r["retry_of"] == run["id"])
    assert second.wait_run(retry["id"])["status"] == "succeeded"


def test_two_instances_never_run_a_run_twice(make_api: Any, tmp_path: Path) -> None:
    a = make_api()
    b = make_api()
    pid = a.create_pipeline(csv_pipeline(tmp_path, rows=4))["id"]
    started = [(a if i % 2 else b).start_run(pid)["id"] for i in range(6)]
    for run_id in started:
        assert a.wait_run(run_id)["status"] == "succeeded"
        lines = a.get(f"/api/v1/runs/{run_id}/logs?limit=500").json()["items"]
        assert [line["message"] for line in lines].count("run started") == 1
    with a.app.state.platform.db.engine.connect() as conn:
        instances = {r[0] for r in conn.execute(sa.text("SELECT instance FROM runs"))}
    assert instances <= {a.app.state.executor.instance, b.app.state.executor.instance}


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.mark.parametrize("increment", [10, 0])
def test_run_workers_have_a_lower_cpu_priority(make_api: Any, tmp_path: Path,
                                              increment: int) -> None:
    api = make_api(worker_nice=increment)
    gate = tmp_path / "gate"
    gate.touch()
    run = api.start_run(api.create_pipeline(gated_pipeline(tmp_path, gate=gate))["id"])
    _at_gate(api, run["id"])
    worker, server = _nice(_worker_pid(api, run["id"])), _nice(os.getpid())
    gate.unlink()
    assert api.wait_run(run["id"])["status"] == "succeeded"
    assert worker == min(19, server + increment)


def test_run_list_pages_filters_and_sorts(make_api: Any, tmp_path: Path) -> None:
    api = make_api(executor_enabled=False)  # the runs stay queued
    pid = api.create_pipeline(csv_pipeline(tmp_path))["id"]
    other = api.create_pipeline(csv_pipeline(tmp_path, name="other"))["id"]
    started = [api.start_run(pid)["id"] for _ in range(3)] + [api.start_run(other)["id"]]
    page = api.get(f"/api/v1/runs?pipeline_id={pid}&sort=created_at&limit=2&offset=1").json()
    assert page["total"] == 3 and [r["id"] for r in page["items"]] == started[1:3]
    assert page["items"][0]["status"] == "queued" and page["items"][0]["parameters"] == {}
    newest = api.get("/api/v1/runs?limit=1").json()
    assert newest["total"] == 4 and newest["items"][0]["id"] == started[3]
    assert api.get("/api/v1/runs?trigger=api&status=queued").json()["total"] == 4
    assert api.get(f"/api/v1/runs?pipeline_id={other}&trigger=schedule").json() == {
        "items": [], "total": 0, "limit": 50, "offset": 0}
