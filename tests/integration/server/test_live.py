"""Live updates on the WebSocket: status, per-node progress and log lines, in-process and
through Redis across two API instances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.server.conftest import Api, gated_pipeline


def _follow(watcher: Api, runner: Api, tmp_path: Path, url: str) -> list[dict[str, Any]]:
    """The events of one run, on the feed of that run (which starts with a snapshot) or on the
    feed of every run (connected before the run starts, so it sees it from the beginning)."""
    gate = tmp_path / "gate"
    gate.touch()
    pid = runner.create_pipeline(gated_pipeline(tmp_path, gate=gate))["id"]
    token = watcher.headers("viewer")["Authorization"].split()[1]
    per_run = "{run_id}" in url
    run = runner.start_run(pid) if per_run else {}
    events: list[dict[str, Any]] = []
    with watcher.client.websocket_connect(f"{url.format(run_id=run.get('id'))}?token={token}") as ws:
        if per_run:
            first = ws.receive_json()
            assert first["kind"] == "snapshot" and first["run_id"] == run["id"]
            events.append(first)
        else:
            run = runner.start_run(pid)
        while True:
            ev = ws.receive_json()
            if ev.get("run_id") != run["id"]:
                continue
            events.append(ev)
            if ev["kind"] == "log" and ev["data"].get("message") == "waiting at the gate":
                gate.unlink()
            if ev["kind"] == "run_finished":
                break
    return events


def test_run_websocket_in_process(api: Api, tmp_path: Path) -> None:
    events = _follow(api, api, tmp_path, "/api/v1/ws/runs/{run_id}")
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "snapshot" and kinds[-1] == "run_finished"
    assert "node_started" in kinds and "node_finished" in kinds
    progress = [e["data"]["rows"] for e in events if e["kind"] == "node_progress"]
    assert progress[:3] == [10, 20, 30]
    assert events[-1]["data"]["status"] == "succeeded"


def test_feed_of_all_runs_across_instances_through_redis(make_api: Any, redis_url: str,
                                                         tmp_path: Path) -> None:
    runner = make_api(redis_url=redis_url)
    watcher = make_api(redis_url=redis_url, executor_enabled=False)
    watcher.headers("viewer")
    events = _follow(watcher, runner, tmp_path, "/api/v1/ws/runs")
    kinds = [e["kind"] for e in events]
    assert "run_started" in kinds and "node_progress" in kinds and kinds[-1] == "run_finished"
    assert all(e["pipeline_id"] for e in events)
