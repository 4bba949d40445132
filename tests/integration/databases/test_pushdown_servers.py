"""ELT pushdown into MariaDB and ClickHouse (real servers on 127.0.0.1): extractor → cleaner →
aggregate → loader on one server runs there as SQL, staged with CREATE TABLE … AS SELECT (or
INSERT … SELECT), then the load mode. The modules' streaming paths are made to fail, so a pushed
run proves that no row crossed the network; its results equal the engine's run of the same
pipeline."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ecluse.cli import app
from ecluse.modules.extract.clickhouse import ClickhouseExtractor
from ecluse.modules.extract.mysql import MysqlExtractor
from ecluse.modules.load.clickhouse import ClickhouseLoader
from ecluse.modules.load.mysql import MysqlLoader
from ecluse.sdk.module import Extractor, Loader
from tests.helpers import chain, node, run_doc


@dataclass
class Server:
    module: str
    connection: str
    run: Callable[[str], list[tuple[Any, ...]]]
    extractor: type[Extractor]
    loader: type[Loader]


def _mysql(url: str) -> Callable[[str], list[tuple[Any, ...]]]:
    import pymysql

    from ecluse.sdk.connections import parse_connection
    from ecluse.sdk.mysql_arrow import connect_params

    params = connect_params(parse_connection("t", url))

    def run(statement: str) -> list[tuple[Any, ...]]:
        conn = pymysql.connect(**params, autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return list(cur.fetchall())
        finally:
            conn.close()
    return run


def _clickhouse(url: str) -> Callable[[str], list[tuple[Any, ...]]]:
    from clickhouse_driver import Client

    def run(statement: str) -> list[tuple[Any, ...]]:
        client = Client.from_url(url)
        try:
            result = client.execute(statement)
            return list(result) if isinstance(result, list) else []
        finally:
            client.disconnect()
    return run


@pytest.fixture(params=["mysql", "clickhouse"])
def server(request: pytest.FixtureRequest) -> Server:
    if request.param == "mysql":
        run = _mysql(request.getfixturevalue("mysql_url"))
        run("CREATE TABLE orders (id BIGINT PRIMARY KEY, email VARCHAR(64), country VARCHAR(8), "
            "amount DECIMAL(12, 2))")
        run("INSERT INTO orders SELECT seq, CONCAT(' User', seq % 5, '@X.com '), "
            "ELT(seq % 3 + 1, 'fr', 'de', NULL), seq * 1.5 FROM seq_0_to_999")
        return Server("mysql", "test-mysql", run, MysqlExtractor, MysqlLoader)
    run = _clickhouse(request.getfixturevalue("clickhouse_url"))
    run("CREATE TABLE orders (id Int64, email Nullable(String), country Nullable(String), "
        "amount Nullable(Decimal(12, 2))) ENGINE = MergeTree ORDER BY id")
    run("INSERT INTO orders SELECT number, concat(' User', toString(number % 5), '@X.com '), "
        "[toNullable('fr'), 'de', NULL][number % 3 + 1], toDecimal64(number * 1.5, 2) "
        "FROM system.numbers LIMIT 1000")
    return Server("clickhouse", "test-clickhouse", run, ClickhouseExtractor, ClickhouseLoader)


def _doc(s: Server, target: str, *, mode: str = "replace", **source: Any) -> dict[str, Any]:
    keys = {"keys": ["country"]} if mode == "upsert" else {}
    return chain(
        node("src", "extractor", s.module, connection=s.connection, **(source or {"table": "orders"})),
        node("clean", "transformer", "cleaner", trim=True, case={"email": "lower"},
             fill_nulls={"country": "XX"}),
        node("agg", "transformer", "aggregate", group_by=["country"],
             aggregations=[{"column": "amount", "function": "sum", "name": "total"},
                           {"column": "email", "function": "count_distinct", "name": "customers"}]),
        node("out", "loader", s.module, connection=s.connection, table=target, mode=mode, **keys),
        name="elt", parameters={"min": {"type": "integer", "default": 0}})


def _rows(s: Server, table: str) -> list[tuple[Any, ...]]:
    return sorted((c, Decimal(str(t)), int(n))
                  for c, t, n in s.run(f"SELECT country, total, customers FROM {table}"))


EXPECTED = [(country, Decimal(sum(range(start, 1000, 3))) * Decimal("1.5"), 5)
            for country, start in (("XX", 2), ("de", 1), ("fr", 0))]


def _no_streaming(s: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading from the source or writing batches into the target now fails: a pushed-down run
    never calls either."""
    def boom(*_: Any, **__: Any) -> Any:
        raise AssertionError("rows crossed the network")
    monkeypatch.setattr(s.extractor, "read", boom)
    monkeypatch.setattr(s.loader, "write", boom)


def test_chain_runs_inside_the_server(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = run_doc(_doc(server, "summary_engine"), pushdown=False)
    assert engine.status == "succeeded", engine.error
    assert not any("pushed_down" in m.extra for m in engine.nodes.values())
    with monkeypatch.context() as patched:
        _no_streaming(server, patched)
        pushed = run_doc(_doc(server, "summary"))
        assert pushed.status == "succeeded", pushed.error
        assert all(m.extra.get("pushed_down", "").startswith(f"{server.module}://")
                   for m in pushed.nodes.values())
        assert pushed.nodes["out"].extra["rows_inserted"] == 3
        assert _rows(server, "summary") == _rows(server, "summary_engine") == EXPECTED
        # replace again: swapped atomically, same rows
        assert run_doc(_doc(server, "summary")).status == "succeeded"
        assert _rows(server, "summary") == EXPECTED


def test_upsert_and_append_inside_the_server(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_streaming(server, monkeypatch)
    first = run_doc(_doc(server, "summary", mode="upsert"))
    assert first.status == "succeeded", first.error
    again = run_doc(_doc(server, "summary", mode="upsert"))
    assert again.status == "succeeded", again.error
    assert (again.nodes["out"].extra["rows_inserted"], again.nodes["out"].extra["rows_updated"]) \
        == (0, 3)
    assert _rows(server, "summary") == EXPECTED
    for _ in range(2):
        assert run_doc(_doc(server, "log", mode="append")).status == "succeeded"
    assert _rows(server, "log") == sorted(EXPECTED * 2)


@pytest.mark.parametrize("mode", ["replace", "append"])
def test_a_failure_after_staging_changes_nothing(server: Server, mode: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _no_streaming(server, monkeypatch)
    assert run_doc(_doc(server, "summary")).status == "succeeded"

    def lost(*_: Any) -> int:  # the rows are in staging; the connection drops before the apply
        raise ConnectionError("server gone")
    module = sys.modules[server.loader.__module__]
    monkeypatch.setattr(module, "_scalar" if server.module == "mysql" else "_count", lost)
    failed = run_doc(_doc(server, "summary", mode=mode))
    assert failed.status == "failed" and failed.error is not None
    assert "server gone" in failed.error.reason
    assert _rows(server, "summary") == EXPECTED
    assert sorted(t for (t,) in server.run("SHOW TABLES")) == ["orders", "summary"]


def test_bound_query_is_streamed_and_agrees(server: Server) -> None:
    result = run_doc(_doc(server, "summary", query="SELECT * FROM orders WHERE id >= :min"))
    assert result.status == "succeeded", result.error
    assert "pushed_down" not in result.nodes["out"].extra
    assert _rows(server, "summary") == EXPECTED


def test_explain_shows_the_sql_the_server_runs(server: Server, tmp_path: Path) -> None:
    file = tmp_path / "p.json"
    file.write_text(json.dumps(_doc(server, "summary")))
    result = CliRunner().invoke(app, ["run", str(file), "--explain", "--json"])
    assert result.exit_code == 0, result.output
    (step,) = json.loads(result.output)
    assert step["mode"] == "pushdown" and step["nodes"] == ["src", "clean", "agg", "out"]
    assert step["warehouse"].startswith(f"{server.module}://")
    assert "GROUP BY" in step["sql"].upper() and "orders" in step["sql"]
    assert ("uniqExact" if server.module == "clickhouse" else "COUNT(DISTINCT") in step["sql"]
    assert server.run("SHOW TABLES") == [("orders",)]  # explain ran nothing


CLICKHOUSE_CHAINS = {
    # pushed on every server: text functions work on characters, weeks start on Monday
    "case": ([node("t", "transformer", "cleaner", case={"name": "upper", "email": "lower"})], True),
    "week": ([node("t", "transformer", "aggregate", group_by=["name"],
                   time_bucket={"column": "ts", "unit": "week", "name": "week"},
                   aggregations=[{"function": "count", "name": "n"}])], True),
    "divide": ([node("t", "transformer", "derive", columns={"q": "qty / (qty - 2)"})], True),
    # a group of NULLs (élodie's score and note), groups of one row (ŝara, ömer): a distinct
    # count of 0, NULL spreads and sums, as the engine gives (ClickHouse gave NULL and nan)
    "nulls": ([node("t", "transformer", "aggregate", group_by=["name"], aggregations=[
        {"column": f, "function": fn, "name": f"{fn}_{f}"}
        for f in ("note", "score", "qty")
        for fn in ("count_distinct", "count", "stddev", "sum", "mean", "min", "max", "first")
        if (f, fn) not in {("note", "stddev"), ("note", "sum"), ("note", "mean"),
                           ("qty", "first")}])], True),
    # no row at all (no group): NULL sums, means, minima; counts of 0 (ClickHouse gave 0 and nan)
    "empty": ([node("f", "transformer", "filter", condition="qty > 100"),
               node("t", "transformer", "aggregate", aggregations=[
                   {"column": "qty", "function": fn, "name": fn}
                   for fn in ("count_distinct", "count", "stddev", "sum", "mean", "min", "max",
                              "first", "last")] + [{"function": "count", "name": "n"}])], True),
    # empty cells are NULL (sumIf gave 0)
    "pivot": ([node("t", "transformer", "pivot", index=["name"], columns="note", values="qty",
                    pivot_values=["a", "b"])], True),
    # an interpolated median needs ClickHouse 20.1: older servers leave it to the engine
    "median": ([node("t", "transformer", "aggregate", group_by=["name"],
                     aggregations=[{"column": "qty", "function": "median", "name": "m"}])], None),
}


@pytest.mark.parametrize("chain_name", list(CLICKHOUSE_CHAINS))
def test_clickhouse_chain_gives_the_engines_results(clickhouse_url: str, chain_name: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    run = _clickhouse(clickhouse_url)
    run("CREATE TABLE src (id Int64, name String, email String, qty Int64, ts DateTime, "
        "score Nullable(Float64), note Nullable(String)) ENGINE = MergeTree ORDER BY id")
    rows = [(1, "élodie", "ÉLO@X.FR", 2, "2024-01-31 23:00:00", "NULL", "NULL"),
            (2, "ŝara", "ŜA@X.FR", 3, "2024-02-04 12:00:00", "1.5", "'a'"),
            (3, "ömer", "Ö@X.FR", 4, "2024-02-05 00:00:00", "2.5", "'b'"),
            (4, "élodie", "e@x", 7, "2024-02-11 10:00:00", "NULL", "NULL")]
    run("INSERT INTO src " + " UNION ALL ".join(
        f"SELECT {i} AS id, '{n}' AS name, '{e}' AS email, {q} AS qty, toDateTime('{ts}') AS ts, "
        f"toNullable(toFloat64OrNull('{s}')) AS score, toNullable({t}) AS note"
        for i, n, e, q, ts, s, t in rows))
    middle, pushed = CLICKHOUSE_CHAINS[chain_name]

    def doc(target: str) -> dict[str, Any]:
        return chain(node("s", "extractor", "clickhouse", connection="test-clickhouse", table="src"),
                     *middle, node("o", "loader", "clickhouse", connection="test-clickhouse",
                                   table=target, mode="replace"))

    def table(name: str) -> list[tuple[Any, ...]]:
        return sorted(run(f"SELECT * FROM {name}"), key=repr)

    engine = run_doc(doc("by_engine"), pushdown=False)
    assert engine.status == "succeeded", engine.error
    result = run_doc(doc("by_server"))
    assert result.status == "succeeded", result.error
    assert table("by_server") == table("by_engine")
    old = run("SELECT version()")[0][0] < "20.1"
    expect_pushed = pushed if pushed is not None else not old
    assert ("pushed_down" in result.nodes["o"].extra) is expect_pushed
    if chain_name == "case":
        assert {r[1] for r in table("by_server")} == {"ÉLODIE", "ŜARA", "ÖMER"}
        assert {r[2] for r in table("by_server")} == {"élo@x.fr", "ŝa@x.fr", "ö@x.fr", "e@x"}
    if chain_name == "divide":
        assert sorted(r[-1] for r in table("by_server") if r[-1] is not None) == [1.4, 2.0, 3.0]
        assert [r[-1] for r in table("by_server") if r[3] == 2] == [None]


def test_mysql_chain_may_replace_its_own_source(mysql_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The warehouse's connection holds no metadata lock on the tables it has read: the load
    renames the source away without waiting (MariaDB would wait a day, then fail)."""
    from ecluse.modules.load import mysql as loader

    connect = loader.connect

    def impatient(*args: Any, **kwargs: Any) -> Any:
        conn = connect(*args, **kwargs)
        conn.cursor().execute("SET SESSION lock_wait_timeout = 5")
        return conn
    monkeypatch.setattr(loader, "connect", impatient)
    run = _mysql(mysql_url)
    run("CREATE TABLE words (id INT, name VARCHAR(8))")
    run("INSERT INTO words VALUES (1, 'a'), (2, 'b')")
    result = run_doc(chain(
        node("s", "extractor", "mysql", connection="test-mysql", table="words"),
        node("f", "transformer", "filter", condition="id > 1"),
        node("o", "loader", "mysql", connection="test-mysql", table="words", mode="replace")))
    assert result.status == "succeeded", result.error
    assert "pushed_down" in result.nodes["o"].extra
    assert run("SELECT * FROM words") == [(2, "b")]
