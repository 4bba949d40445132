"""One rule for every loader with an upsert: when the input repeats a key, its last row is
written (the first load into a new table and a load into an existing one alike), and the
counts say how many keys were inserted and updated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.integration.databases.harness import load

FIRST = pa.table({"id": [1, 2, 1, 3, 1], "v": ["a", "b", "c", "d", "e"]})  # in chunks of 2
SECOND = pa.table({"id": [3, 4, 3], "v": ["f", "g", "h"]})


def _target(module: str, request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Any]:
    """The loader's config for a table ``dup`` and a function reading it back."""
    if module in ("sqlite", "duckdb"):
        import sqlite3

        import duckdb

        path = tmp_path / f"t.{module}"

        def read_file() -> list[tuple[Any, ...]]:
            con = sqlite3.connect(path) if module == "sqlite" else duckdb.connect(str(path))
            try:
                return list(con.execute("SELECT id, v FROM dup ORDER BY id").fetchall())
            finally:
                con.close()
        return {"path": str(path)}, read_file
    if module == "postgres":
        import psycopg

        url = request.getfixturevalue("pg_database")
        monkeypatch.setenv("ECLUSE_CONN_TEST_PG", url)

        def read_pg() -> list[tuple[Any, ...]]:
            with psycopg.connect(url) as con:
                return con.execute("SELECT id, v FROM dup ORDER BY id").fetchall()
        return {"connection": "test-pg"}, read_pg
    if module == "mysql":
        import pymysql

        from ecluse.sdk.connections import parse_connection
        from ecluse.sdk.mysql_arrow import connect_params

        params = connect_params(parse_connection("t", request.getfixturevalue("mysql_url")))

        def read_mysql() -> list[tuple[Any, ...]]:
            conn = pymysql.connect(**params)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT id, v FROM dup ORDER BY id")
                    return list(cur.fetchall())
            finally:
                conn.close()
        return {"connection": "test-mysql"}, read_mysql
    from clickhouse_driver import Client

    url = request.getfixturevalue("clickhouse_url")

    def read_clickhouse() -> list[tuple[Any, ...]]:
        client = Client.from_url(url)
        try:
            return list(client.execute("SELECT id, v FROM dup ORDER BY id"))
        finally:
            client.disconnect()
    return {"connection": "test-clickhouse"}, read_clickhouse


@pytest.mark.parametrize("module", ["postgres", "mysql", "clickhouse", "sqlite", "duckdb"])
def test_upsert_writes_the_last_row_of_a_repeated_key(module: str, request: pytest.FixtureRequest,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config, read = _target(module, request, tmp_path, monkeypatch)
    config |= {"table": "dup", "mode": "upsert", "keys": ["id"]}
    first = load(module, FIRST, tmp_path, **config)
    assert first.status == "succeeded", first.error
    assert read() == [(1, "e"), (2, "b"), (3, "d")]
    assert first.nodes["out"].extra["rows_inserted"] == 3
    second = load(module, SECOND, tmp_path, **config)
    assert second.status == "succeeded", second.error
    assert read() == [(1, "e"), (2, "b"), (3, "h"), (4, "g")]
    extra = second.nodes["out"].extra
    assert (extra["rows_inserted"], extra["rows_updated"]) == (1, 1)


@pytest.mark.parametrize("module", ["postgres", "mysql", "clickhouse", "sqlite", "duckdb"])
def test_upsert_without_repeated_keys(module: str, request: pytest.FixtureRequest, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The common case, which the loaders take a shorter path for (ClickHouse skips ordering
    staging by row; MySQL stages with the target's primary key)."""
    config, read = _target(module, request, tmp_path, monkeypatch)
    config |= {"table": "dup", "mode": "upsert", "keys": ["id"]}
    first = load(module, pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), tmp_path, **config)
    assert first.status == "succeeded", first.error
    assert read() == [(1, "a"), (2, "b"), (3, "c")]
    second = load(module, pa.table({"id": [4, 2], "v": ["d", "e"]}), tmp_path, **config)
    assert second.status == "succeeded", second.error
    assert read() == [(1, "a"), (2, "e"), (3, "c"), (4, "d")]
    extra = second.nodes["out"].extra
    assert (extra["rows_inserted"], extra["rows_updated"]) == (1, 1)


def test_mysql_insert_path_keeps_the_last_row_too(request: pytest.FixtureRequest, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config, read = _target("mysql", request, tmp_path, monkeypatch)
    config |= {"table": "dup", "mode": "upsert", "keys": ["id"], "bulk_method": "insert"}
    for data in (FIRST, SECOND):
        assert load("mysql", data, tmp_path, **config).status == "succeeded"
    assert read() == [(1, "e"), (2, "b"), (3, "h"), (4, "g")]
