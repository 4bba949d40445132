"""ELT pushdown: a chain between an extractor and a loader on the same DuckDB file runs
inside that file as SQL; --explain shows it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from ecluse.cli import app
from tests.helpers import chain, node, run_doc


def _warehouse(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE orders AS SELECT range AS id, ' User' || (range % 5) || '@X.com ' "
                    "AS email, ['fr', 'de', NULL][range % 3 + 1] AS country, range * 1.5 AS amount "
                    "FROM range(1000)")


def _doc(path: Path, query: str | None = None) -> dict[str, object]:
    source = {"query": query} if query else {"table": "orders"}
    return chain(
        node("src", "extractor", "duckdb", path=str(path), **source),
        node("clean", "transformer", "cleaner", trim=True, case={"email": "lower"},
             fill_nulls={"country": "XX"}),
        node("agg", "transformer", "aggregate", group_by=["country"],
             aggregations=[{"column": "amount", "function": "sum", "name": "total"},
                           {"column": "email", "function": "count_distinct", "name": "customers"}]),
        node("out", "loader", "duckdb", path=str(path), table="summary", mode="replace"),
        name="elt", parameters={"min": {"type": "integer", "default": 10}})


def test_chain_runs_inside_the_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    _warehouse(path)
    result = run_doc(_doc(path))
    assert result.status == "succeeded", result.error
    assert all(m.extra.get("pushed_down", "").startswith("duckdb:") for m in result.nodes.values())
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT country, total, customers FROM summary ORDER BY 1").fetchall()
    assert rows == [("XX", sum(i * 1.5 for i in range(2, 1000, 3)), 5),
                    ("de", sum(i * 1.5 for i in range(1, 1000, 3)), 5),
                    ("fr", sum(i * 1.5 for i in range(0, 1000, 3)), 5)]
    assert result.nodes["out"].extra["rows_inserted"] == 3


def test_bound_parameters_fall_back_to_streaming(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    _warehouse(path)
    result = run_doc(_doc(path, query="SELECT * FROM orders WHERE id >= :min"))
    assert result.status == "succeeded", result.error
    assert "pushed_down" not in result.nodes["out"].extra
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT sum(customers) FROM summary").fetchone() == (15,)


def test_explain_shows_the_pushed_down_sql(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    _warehouse(path)
    file = tmp_path / "p.json"
    file.write_text(json.dumps(_doc(path)))
    result = CliRunner().invoke(app, ["run", str(file), "--explain", "--json"])
    assert result.exit_code == 0, result.output
    (step,) = json.loads(result.output)
    assert step["mode"] == "pushdown" and step["nodes"] == ["src", "clean", "agg", "out"]
    assert "GROUP BY" in step["sql"].upper() and "orders" in step["sql"]
    with duckdb.connect(str(path), read_only=True) as con:  # explain ran nothing
        assert con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_name = 'summary'").fetchone() == (0,)
