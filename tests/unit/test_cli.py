"""The ``ecluse`` command as a user meets it: exit codes, messages, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecluse.cli import app
from tests.helpers import chain, node

runner = CliRunner()


def write_pipeline(workdir: Path, **cleaner: object) -> Path:
    (workdir / "in.csv").write_text("id;email;amount\n1; A@x.COM ;1,5\n2;b@x.com;2,25\n2;b@x.com;2,25\n")
    doc = chain(node("src", "extractor", "csv", path="in.csv", decimal=","),
                node("clean", "transformer", "cleaner", trim=True, case={"email": "lower"},
                     remove_duplicates=True, **cleaner),
                node("out", "loader", "parquet", path="out.parquet"), name="cli test")
    path = workdir / "p.json"
    path.write_text(json.dumps(doc))
    return path


def test_validate_ok_and_json(workdir: Path) -> None:
    path = write_pipeline(workdir)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid." in result.output and "✔" in result.output
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert json.loads(result.output) == {"valid": True, "problems": []}


def test_validate_reports_every_problem_and_exits_1(workdir: Path) -> None:
    path = write_pipeline(workdir)
    doc = json.loads(path.read_text())
    doc["nodes"][1]["module"] = "claener"
    doc["edges"].append({"source": "out", "target": "ghost"})
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 1
    codes = {p["code"] for p in json.loads(result.output)["problems"]}
    assert {"unknown_module", "dangling_edge"} <= codes


def test_validate_checks_columns_against_the_data(workdir: Path) -> None:
    path = write_pipeline(workdir, drop_nulls=["emial"])
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 1
    problem = json.loads(result.output)["problems"][0]
    assert problem["node_id"] == "clean" and problem["field"] == "drop_nulls"
    assert "did you mean 'email'" in problem["message"]
    assert problem["pointer"] == "/nodes/1/config/drop_nulls"


def test_broken_json_file_is_located(workdir: Path) -> None:
    path = workdir / "bad.json"
    path.write_text('{"name": "x",\n "nodes": [}')
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "line 2, column 12" in result.output


def test_schema_and_preview(workdir: Path) -> None:
    path = write_pipeline(workdir)
    result = runner.invoke(app, ["schema", str(path), "--json"])
    assert result.exit_code == 0, result.output
    cols = json.loads(result.output)["clean"]["columns"]
    assert cols == [{"name": "id", "type": "int64"}, {"name": "email", "type": "string"},
                    {"name": "amount", "type": "float64"}]
    result = runner.invoke(app, ["preview", str(path), "--node", "clean", "--json"])
    assert result.exit_code == 0, result.output
    rows = sorted(json.loads(result.output)["rows"], key=lambda r: r["id"])
    assert rows == [{"id": 1, "email": "a@x.com", "amount": 1.5},
                    {"id": 2, "email": "b@x.com", "amount": 2.25}]
    result = runner.invoke(app, ["preview", str(path), "--node", "nope"])
    assert result.exit_code == 1 and "no node 'nope'" in result.output


def test_run_success_and_failure(workdir: Path) -> None:
    path = write_pipeline(workdir)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    result = runner.invoke(app, ["run", str(path), "--json", "--engine", "polars"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["nodes"]["out"]["rows_out"] == 2
    bad = write_pipeline(workdir, cast={"email": "int64"})
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 1
    assert "error in node" in result.output and "left unchanged" in result.output


def test_a_failure_after_a_loader_finished_says_which_destination_was_written(
        workdir: Path) -> None:
    (workdir / "in.csv").write_text("id,email\n1,a@x.com\n")
    doc = {"name": "two", "version": "1.0.0", "nodes": [
        node("src", "extractor", "csv", path="in.csv"),
        node("a", "loader", "parquet", path="a.parquet"),
        node("clean", "transformer", "cleaner", cast={"email": "int64"}),
        node("b", "loader", "parquet", path="b.parquet")],
        "edges": [{"source": "src", "target": "a"}, {"source": "src", "target": "clean"},
                  {"source": "clean", "target": "b"}]}
    (workdir / "p.json").write_text(json.dumps(doc))
    result = runner.invoke(app, ["run", str(workdir / "p.json")])
    assert result.exit_code == 1
    assert (workdir / "a.parquet").exists() and not (workdir / "b.parquet").exists()
    assert ("Written before the failure: a (a rerun writes those rows there again: in append "
            "mode, twice); the other destinations were left unchanged.") in \
        " ".join(result.output.split())


def test_brackets_in_names_and_messages_are_printed_as_they_are(workdir: Path) -> None:
    """Rich reads ``[...]`` as markup: a column named ``[/b]`` crashed schema and preview."""
    (workdir / "in.csv").write_text("id,[/b],[x]\n1,2,3\n")
    doc = chain(node("src", "extractor", "csv", path="in.csv"),
                node("clean", "transformer", "cleaner", cast={"[x]": "date"}),
                node("out", "loader", "parquet", path="out.parquet"))
    (workdir / "p.json").write_text(json.dumps(doc))
    for command in (["schema"], ["preview", "--node", "src"]):
        result = runner.invoke(app, [*command, str(workdir / "p.json")])
        assert "[/b]" in result.output and "[x]" in result.output, result.output
    result = runner.invoke(app, ["run", str(workdir / "p.json")])
    assert result.exit_code == 1 and "cannot cast column '[x]'" in result.output, result.output


def test_a_folder_or_an_unknown_engine_is_refused_in_one_sentence(workdir: Path) -> None:
    result = runner.invoke(app, ["validate", str(workdir)])
    assert result.exit_code == 1 and "is a folder" in " ".join(result.output.split())
    result = runner.invoke(app, ["schema", str(write_pipeline(workdir)), "--engine", "spark"])
    assert result.exit_code == 1 and "Unknown engine 'spark'" in " ".join(result.output.split())
    assert "does not run" not in result.output


def test_bad_param_syntax(workdir: Path) -> None:
    result = runner.invoke(app, ["run", str(write_pipeline(workdir)), "--param", "oops"])
    assert result.exit_code == 1 and "key=value" in result.output


def test_modules_json_lists_schemas() -> None:
    result = runner.invoke(app, ["modules", "--json"])
    assert result.exit_code == 0
    entries = json.loads(result.output)
    by_key = {(e["type"], e["module"]): e for e in entries}
    for key in [("extractor", "csv"), ("extractor", "parquet"), ("extractor", "json"),
                ("transformer", "cleaner"), ("transformer", "aggregate"), ("loader", "parquet"),
                ("loader", "csv"), ("loader", "json")]:
        entry = by_key[key]
        assert entry["description"] and entry["config_schema"]["type"] == "object"
        for name, prop in entry["config_schema"]["properties"].items():
            assert "description" in prop or "$ref" in prop or "anyOf" in prop, (key, name)
    assert by_key[("extractor", "csv")]["config_schema"]["properties"]["path"]["x-widget"] == "path"


def test_settings_lists_every_setting_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECLUSE_SECRET_KEY", "hunter2-key")
    monkeypatch.setenv("ECLUSE_MAX_CONCURRENT_RUNS", "7")
    result = runner.invoke(app, ["settings", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["variable"]: r for r in json.loads(result.output)}
    assert rows["ECLUSE_MAX_CONCURRENT_RUNS"]["value"] == 7
    assert rows["ECLUSE_MAX_CONCURRENT_RUNS"]["default"] == 2
    assert rows["ECLUSE_SECRET_KEY"]["value"] == "********" and "hunter2" not in result.output
    assert all(r["description"] for r in rows.values()), "every setting says what it is for"


def test_every_setting_is_documented() -> None:
    from ecluse.services.config import PlatformSettings

    text = (Path(__file__).parents[2] / "docs" / "server.md").read_text()
    missing = [f"ECLUSE_{name.upper()}" for name in PlatformSettings.model_fields
               if f"`ECLUSE_{name.upper()}`" not in text]
    assert not missing, f"add to docs/server.md: {missing}"


def test_ctrl_c_cancels_a_running_query_and_exits_130(workdir: Path) -> None:
    """A Ctrl+C that interrupted Thread.join() left Python taking the run's thread for finished:
    the process aborted ('terminate called without an active exception') with DuckDB running,
    and a query on an extractor's own connection was never interrupted."""
    import signal
    import subprocess
    import sys
    import time

    import duckdb

    duckdb.connect(str(workdir / "src.duckdb")).close()
    slow = "SELECT count(*) AS c FROM range(100000) a, range(100000) b WHERE (a.range * b.range) % 7 = 3"
    doc = chain(node("src", "extractor", "duckdb", path="src.duckdb", query=slow),
                node("out", "loader", "csv", path="out.csv"))
    (workdir / "p.json").write_text(json.dumps(doc))
    run = subprocess.Popen([sys.executable, "-m", "ecluse.cli", "run", "p.json"], cwd=workdir,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(4)  # past start-up: the query is running
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 130, output
    assert "cancelled" in output and "terminate called" not in output
    assert not (workdir / "out.csv").exists()


def test_a_run_wide_warning_is_not_put_on_node_none(workdir: Path) -> None:
    from ecluse.cli import _compile, _Progress
    from ecluse.engine.events import RunEvent

    progress = _Progress(_compile(write_pipeline(workdir), None, {}, False))
    progress(RunEvent("log", "r1", None, {"level": "warning", "message": "ELT pushdown not possible"}))
    progress(RunEvent("log", "r1", "src", {"level": "info", "message": "read"}))
    assert progress.logs == ["[warning] ELT pushdown not possible", "[info] src: read"]


def test_state_set_last_value_names_the_node_columns(workdir: Path) -> None:
    """A mark set by hand is flagged inclusive (read from it on, its own rows included); from
    a pipeline file it names the node's current cursor and key columns (a previous state's,
    left by an older setting, would make the extractor ignore the mark), and a node the file
    lacks, or one that is not incremental, is refused: no run would read the mark."""
    from ecluse.engine.state import FileStateStore
    from tests.helpers import state_set

    doc = chain(node("src", "extractor", "mysql", connection="db", table="ev",
                     incremental={"cursor_column": "at", "key_column": "id"}),
                node("out", "loader", "parquet", path="out.parquet"), name="marks")
    path = workdir / "p.json"
    path.write_text(json.dumps(doc))
    store = FileStateStore(workdir / "data" / "state")
    store.put("marks", "src", {"cursor_column": "old", "last_value": 5, "key_column": None,
                               "last_key": None, "type": "int4"})
    result = state_set(workdir / "data", "marks", "src", "--last-value", "2024-01-01")
    assert result.exit_code == 0, result.output
    assert store.get("marks", "src") == {"last_value": "2024-01-01", "last_key": None,
                                         "inclusive": True, "type": "int4"}
    result = state_set(workdir / "data", str(path), "src", "--last-value", "2024-01-02")
    assert result.exit_code == 0, result.output
    assert store.get("marks", "src") == {"cursor_column": "at", "key_column": "id",
                                         "last_value": "2024-01-02", "last_key": None,
                                         "inclusive": True, "type": "int4"}
    result = state_set(workdir / "data", str(path), "scr", "--last-value", "1")
    said = " ".join(result.output.split())  # as wrapped for the terminal
    assert result.exit_code == 2 and "has no node 'scr'. Did you mean 'src'?" in said
    result = state_set(workdir / "data", str(path), "out", "--last-value", "1")
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "node 'out' of" in said and "no `incremental` setting" in said
    assert store.get("marks", "out") is None
