"""ELT pushdown into PostgreSQL: postgres → cleaner → aggregate → postgres on the same database
runs as one SQL statement inside it; --explain shows it; a chain that cannot be pushed down
(a query with bound parameters) is streamed through the engine and gives the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from ecluse.cli import app
from tests.helpers import chain, node, run_doc


@pytest.fixture
def warehouse(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ECLUSE_CONN_WH", pg_database)
    with psycopg.connect(pg_database, autocommit=True) as con:
        con.execute("CREATE SCHEMA sales")
        con.execute("CREATE TABLE sales.orders AS SELECT g AS id, ' User' || (g % 5) || '@X.com ' "
                    "AS email, (ARRAY['fr', 'de', NULL])[g % 3 + 1] AS country, g * 1.5 AS amount "
                    "FROM generate_series(0, 999) AS g")
    return pg_database


def _doc(source: dict[str, object]) -> dict[str, object]:
    return chain(
        node("src", "extractor", "postgres", connection="wh", **source),
        node("clean", "transformer", "cleaner", trim=True, case={"email": "lower"},
             fill_nulls={"country": "XX"}),
        node("agg", "transformer", "aggregate", group_by=["country"],
             aggregations=[{"column": "amount", "function": "sum", "name": "total"},
                           {"column": "email", "function": "count_distinct", "name": "customers"}]),
        node("out", "loader", "postgres", connection="wh", table="sales.summary", mode="replace"),
        name="elt", parameters={"min": {"type": "integer", "default": 0}})


def _summary(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as con:
        return con.execute("SELECT country, total::float8, customers FROM sales.summary "
                           "ORDER BY 1").fetchall()


EXPECTED = [("XX", sum(i * 1.5 for i in range(2, 1000, 3)), 5),
            ("de", sum(i * 1.5 for i in range(1, 1000, 3)), 5),
            ("fr", sum(i * 1.5 for i in range(0, 1000, 3)), 5)]


def test_chain_runs_inside_postgres(warehouse: str) -> None:
    result = run_doc(_doc({"table": "sales.orders"}))
    assert result.status == "succeeded", result.error
    assert all(m.extra.get("pushed_down", "").startswith("postgres://") for m in result.nodes.values())
    assert _summary(warehouse) == EXPECTED
    assert result.nodes["out"].extra["rows_inserted"] == 3
    # the same load again replaces, atomically, inside the database
    assert run_doc(_doc({"table": "sales.orders"})).status == "succeeded"
    assert _summary(warehouse) == EXPECTED


def test_bound_query_is_streamed_and_agrees(warehouse: str) -> None:
    result = run_doc(_doc({"query": "SELECT * FROM sales.orders WHERE id >= :min"}))
    assert result.status == "succeeded", result.error
    assert "pushed_down" not in result.nodes["out"].extra
    assert _summary(warehouse) == EXPECTED


def test_explain_shows_the_sql_run_by_postgres(warehouse: str, tmp_path: Path) -> None:
    file = tmp_path / "p.json"
    file.write_text(json.dumps(_doc({"table": "sales.orders"})))
    result = CliRunner().invoke(app, ["run", str(file), "--explain", "--json"])
    assert result.exit_code == 0, result.output
    (step,) = json.loads(result.output)
    assert step["mode"] == "pushdown" and step["warehouse"].startswith("postgres://")
    assert '"sales"."orders"' in step["sql"] and "GROUP BY" in step["sql"].upper()


def test_a_pushed_chain_divides_and_averages_as_the_engine_does(warehouse: str) -> None:
    """PostgreSQL stops on a division by zero and types the mean of a numeric as numeric; the
    engine's rules (null, a float mean) hold inside the database too."""
    def doc(target: str) -> dict[str, object]:
        return chain(node("src", "extractor", "postgres", connection="wh", table="sales.orders"),
                     node("d", "transformer", "derive", columns={"q": "amount / (id % 3)"}),
                     node("agg", "transformer", "aggregate", group_by=["country"],
                          aggregations=[{"column": "q", "function": "count", "name": "n"},
                                        {"column": "amount", "function": "mean", "name": "m"}]),
                     node("out", "loader", "postgres", connection="wh", table=target))
    engine = run_doc(doc("sales.by_engine"), pushdown=False)
    assert engine.status == "succeeded", engine.error
    pushed = run_doc(doc("sales.by_server"))
    assert pushed.status == "succeeded", pushed.error
    assert "pushed_down" in pushed.nodes["out"].extra
    with psycopg.connect(warehouse) as con:
        tables = [con.execute(f"SELECT country, n, m FROM sales.{t} ORDER BY 1").fetchall()
                  for t in ("by_engine", "by_server")]
        kind = con.execute("SELECT data_type FROM information_schema.columns "
                           "WHERE table_name = 'by_server' AND column_name = 'm'").fetchone()
    assert tables[0] == tables[1]
    assert [n for _, n, _ in tables[1]] == [333, 0, 333]  # de, fr (id % 3 = 0: by zero), null
    assert kind == ("double precision",)
