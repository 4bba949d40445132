"""Generated DAGs in a real Airflow 3: they load in its DagBag, and ``airflow dags test`` runs
them against a running Ecluse server, which executes and records the runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.integration.airflow.conftest import Airflow, Ecluse

pytestmark = pytest.mark.integration

DAGBAG = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={folder!r})
dags = {{}}
for dag in bag.dags.values():
    task = dag.get_task("run_pipeline")
    tt = dag.timetable
    dags[dag.dag_id] = {{
        "name": dag.dag_display_name, "tags": sorted(dag.tags),
        "cron": getattr(tt, "expression", None), "timezone": str(getattr(tt, "timezone", "")),
        "owner": task.owner, "retries": task.retries, "params": dag.params.dump(),
        "timeout": task.execution_timeout.total_seconds() if task.execution_timeout else None}}
print(json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}}, "dags": dags}}))
"""


def _csv(tmp: Path, name: str, rows: int = 4) -> tuple[dict[str, Any], Path]:
    src = tmp / f"{name}.csv"
    src.write_text("id,amount\n" + "".join(f"{i},{i * 2.5}\n" for i in range(rows)))
    out = tmp / "out" / f"{name}.parquet"
    return {"id": name, "name": name, "nodes": [
        {"id": "src", "type": "extractor", "module": "csv", "config": {"path": str(src)}},
        {"id": "out", "type": "loader", "module": "parquet",
         "config": {"path": str(out), "mode": "overwrite"}}],
        "edges": [{"source": "src", "target": "out"}]}, out


def _gated(tmp: Path, name: str, **config: Any) -> dict[str, Any]:
    return {"id": name, "name": name, "nodes": [
        {"id": "src", "type": "extractor", "module": "gated", "config": config},
        {"id": "out", "type": "loader", "module": "parquet",
         "config": {"path": str(tmp / "out" / f"{name}.parquet"), "mode": "overwrite"}}],
        "edges": [{"source": "src", "target": "out"}]}


def _export(ecluse: Ecluse, airflow: Airflow, *args: str) -> None:
    out = ecluse.cli("airflow", "export", str(airflow.dags), "--poll-seconds", "0.5", *args)
    assert out.returncode == 0, out.stderr


def _dags_test(airflow: Airflow, dag_id: str) -> tuple[int, str]:
    """``airflow dags test`` of one DAG file (only that file is parsed)."""
    result = airflow.run("dags", "test", dag_id, "-f", str(airflow.dags / f"{dag_id}.py"))
    return result.returncode, result.stdout + result.stderr


def test_generated_dags_load_in_airflow(ecluse: Ecluse, airflow: Airflow, tmp_path: Path) -> None:
    paris, _ = _csv(tmp_path, "paris")
    ecluse.create({**paris, "schedule": "30 2 * * 1-5", "timezone": "Europe/Paris",
                   "parameters": {"day": {"type": "date", "default": "2024-01-01"}}})
    retried, _ = _csv(tmp_path, "retried")
    ecluse.create({**retried, "schedule": "*/15 * * * *", "retries": 2, "owner": "data-team",
                   "tags": ["finance", "it's \"odd\""], "timeout_seconds": 600,
                   "name": "Retried '''\nimport os"})
    adhoc, _ = _csv(tmp_path, "adhoc")
    ecluse.create(adhoc)
    _export(ecluse, airflow)
    assert not (airflow.dags / "ecluse_adhoc.py").exists()  # no schedule: not in a full export
    _export(ecluse, airflow, "--pipeline", "adhoc")  # ...but on demand
    for f in airflow.dags.glob("*.py"):
        assert "ecl_" not in f.read_text()  # the API key stays in the Airflow connection

    bag = airflow.python(DAGBAG.format(folder=str(airflow.dags)))
    assert bag["errors"] == {}
    dags = bag["dags"]
    assert {"ecluse_paris", "ecluse_retried", "ecluse_adhoc"} <= set(dags)
    assert dags["ecluse_paris"]["cron"] == "30 2 * * 1-5"
    assert dags["ecluse_paris"]["timezone"] == "Europe/Paris"
    assert dags["ecluse_paris"]["params"] == {"day": "2024-01-01"}
    retried_dag = dags["ecluse_retried"]
    assert retried_dag["name"] == "Retried '''\nimport os"
    assert retried_dag["tags"] == ["ecluse", "finance", "it's \"odd\""]
    assert (retried_dag["owner"], retried_dag["retries"], retried_dag["timeout"]) == \
        ("data-team", 2, 600.0)
    assert dags["ecluse_adhoc"]["cron"] is None


def test_dags_test_runs_the_pipeline_and_ecluse_records_it(ecluse: Ecluse, airflow: Airflow,
                                                            tmp_path: Path) -> None:
    doc, out = _csv(tmp_path, "e2e", rows=7)
    ecluse.create({**doc, "schedule": "0 3 * * *"})
    _export(ecluse, airflow, "--pipeline", "e2e")
    code, output = _dags_test(airflow, "ecluse_e2e")
    assert code == 0, output[-4000:]
    runs = ecluse.runs("e2e")
    assert len(runs) == 1
    run = runs[0]
    assert (run["status"], run["trigger"], run["created_by"]) == ("succeeded", "airflow",
                                                                 "apikey:airflow")
    assert run["nodes"]["out"]["rows_out"] == 7
    assert pq.read_table(out).num_rows == 7
    assert run["id"] in output  # the task logged the run it followed


def test_a_failing_pipeline_fails_the_task_with_the_ecluse_error(
        ecluse: Ecluse, airflow: Airflow, tmp_path: Path) -> None:
    marker = tmp_path / "down"
    marker.touch()
    ecluse.create(_gated(tmp_path, "broken", fail_marker=str(marker)))
    _export(ecluse, airflow, "--pipeline", "broken")
    code, output = _dags_test(airflow, "ecluse_broken")
    assert code != 0
    assert "the source is down (fail marker present)" in output
    assert "in node 'src'" in output and "state=failed" in output
    run = ecluse.runs("broken")[0]
    assert (run["status"], run["trigger"], run["error"]["node_id"]) == ("failed", "airflow", "src")


def test_on_kill_cancels_the_ecluse_run(ecluse: Ecluse, airflow: Airflow, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    ecluse.create(_gated(tmp_path, "killed", gate=str(gate), batches=3))
    _export(ecluse, airflow, "--pipeline", "killed")
    started = ecluse.client.post("/api/v1/pipelines/killed/runs",
                                 json={"parameters": {}, "trigger": "airflow"}).json()
    deadline = time.monotonic() + 60
    while ecluse.client.get(f"/api/v1/runs/{started['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    # The task Airflow would kill, with the run it follows: on_kill asks Ecluse to cancel it.
    killed = airflow.python(f"""
import json
from airflow.dag_processing.dagbag import DagBag
task = DagBag(dag_folder={str(airflow.dags)!r}).dags["ecluse_killed"].get_task("run_pipeline")
task.run_id = {started["id"]!r}
task.on_kill()
print(json.dumps({{"ok": True}}))
""")
    assert killed == {"ok": True}
    deadline = time.monotonic() + 60
    while (run := ecluse.client.get(f"/api/v1/runs/{started['id']}").json())["status"] == "running":
        assert time.monotonic() < deadline, json.dumps(run)
        time.sleep(0.1)
    assert run["status"] == "cancelled" and run["cancel_requested"] is True
