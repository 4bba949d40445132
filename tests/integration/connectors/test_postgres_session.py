"""The low-level ADBC session for PostgreSQL (real server): rows affected from the command tag,
text parameters, explicit transactions around a binary COPY, the one-query catalog, and a
pushed-down run that loads neither ADBC's DB-API layer nor pandas/polars."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from ecluse.sdk import ConfigError
from ecluse.sdk.arrow_pg_session import PgSession, open_warehouse, read_catalog


@pytest.fixture
def session(pg_database: str) -> Iterator[PgSession]:
    s = PgSession.open(pg_database, name="db")
    yield s
    s.close()


def test_statements_report_the_rows_they_affected(session: PgSession) -> None:
    assert session.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 7) AS g") == 7
    assert session.execute("INSERT INTO t SELECT g FROM generate_series(8, 10) AS g") == 3
    assert session.execute("DELETE FROM t WHERE id > $1::int", ["5"]) == 5
    assert session.rows("SELECT count(*) FROM t") == [(5,)]


def test_parameters_are_text_and_may_be_null(session: PgSession) -> None:
    rows = session.rows("SELECT CAST($1 AS text), CAST($2 AS int), CAST($3 AS date) IS NULL",
                        ["hé 'x'", "42", None])
    assert rows == [("hé 'x'", 42, True)]


def test_reader_streams_arrow(session: PgSession) -> None:
    reader = session.reader("SELECT g AS id, g::text AS name FROM generate_series(1, 3) AS g")
    table = reader.read_all()
    assert table.column_names == ["id", "name"] and table.column("name").to_pylist() == ["1", "2", "3"]


def test_closing_releases_a_stream_left_unread(pg_database: str) -> None:
    session = PgSession.open(pg_database, name="db")
    reader = session.reader("SELECT g FROM generate_series(1, 1000000) AS g")
    next(iter(reader))
    session.close()
    with psycopg.connect(pg_database, autocommit=True) as con:  # its server connection ends
        others = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                  "AND pid <> pg_backend_pid()")
        for _ in range(100):  # the backend exits just after the client hangs up
            if con.execute(others).fetchone() == (0,):
                break
            time.sleep(0.05)
        assert con.execute(others).fetchone() == (0,)


def test_a_rolled_back_copy_leaves_nothing(session: PgSession, pg_database: str) -> None:
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64())})
    session.begin()
    assert session.ingest("copied", data.to_reader(), mode="create") == 3
    session.rollback()
    with psycopg.connect(pg_database) as con:
        assert con.execute("SELECT to_regclass('copied')").fetchone() == (None,)
    session.begin()
    session.ingest("copied", data.to_reader(), mode="create")
    session.commit()
    with psycopg.connect(pg_database) as con:
        assert con.execute("SELECT count(*) FROM copied").fetchone() == (3,)


def test_server_errors_carry_the_servers_sentence(session: PgSession) -> None:
    with pytest.raises(Exception, match="no_such_table"):
        session.execute("SELECT * FROM no_such_table")
    assert session.rows("SELECT 1") == [(1,)]  # the session is still usable


def test_a_refused_connection_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot connect to 'db'"):
        PgSession.open("postgresql://nobody@127.0.0.1:1/none", name="db")


def test_one_catalog_query_for_every_table(session: PgSession) -> None:
    session.execute("CREATE TYPE mood AS ENUM ('ok', 'sad')")
    session.execute("CREATE SCHEMA s")
    session.execute('CREATE TABLE s."Parent" (id int PRIMARY KEY, m mood, n numeric(12,2) NOT NULL)')
    session.execute('CREATE TABLE child (id int REFERENCES s."Parent" (id))')
    found = read_catalog(session, ['s."Parent"', '"child"', '"missing"'])
    parent, child = found['s."Parent"'], found['"child"']
    assert found['"missing"'] is None and parent is not None and child is not None
    assert parent.columns == [("id", "integer", False, False), ("m", "mood", True, True),
                              ("n", "numeric(12,2)", False, False)]
    assert parent.referenced and not child.referenced


def test_the_warehouse_reads_the_loader_target_with_the_source(pg_database: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(pg_database, autocommit=True) as con:
        con.execute("CREATE TABLE src (id int, name text)")
        con.execute("CREATE TABLE dst (id int)")
    warehouse = open_warehouse(pg_database, name="wh")
    try:
        queries: list[str] = []
        rows = warehouse.session.rows

        def counted(sql: str, params: list[str] | None = None) -> list[tuple[object, ...]]:
            queries.append(sql)
            return rows(sql, params)
        monkeypatch.setattr(warehouse.session, "rows", counted)
        warehouse.prefetch(None, "dst")
        assert list(warehouse.table("src").schema().names) == ["id", "name"]
        target = warehouse.columns(None, "dst", keep=False)
        assert target is not None and target.types() == {"id": "integer"}
        assert len(queries) == 1
        assert warehouse.columns(None, "dst") is not None and len(queries) == 2  # read again
    finally:
        warehouse.disconnect()


RUN = """
import json, sys
from tests.helpers import chain, node, run_doc
doc = chain(
    node("src", "extractor", "postgres", connection="wh", table="orders"),
    node("agg", "transformer", "aggregate", group_by=["country"],
         aggregations=[{"column": "amount", "function": "sum", "name": "total"}]),
    node("out", "loader", "postgres", connection="wh", table="summary", mode="replace"))
result = run_doc(doc, data_dir=__import__("pathlib").Path(sys.argv[1]))
print(json.dumps({"status": result.status, "pushed": result.nodes["out"].extra.get("pushed_down"),
                  "rows": result.nodes["out"].rows_in,
                  "modules": [m for m in ("pandas", "polars", "adbc_driver_manager.dbapi")
                              if m in sys.modules]}))
"""


def test_a_pushed_down_run_loads_no_dataframe_library(pg_database: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_database, autocommit=True) as con:
        con.execute("CREATE TABLE orders AS SELECT g AS id, (ARRAY['fr', 'de'])[g % 2 + 1] AS country, "
                    "g * 1.5 AS amount FROM generate_series(1, 10) AS g")
    done = subprocess.run([sys.executable, "-c", RUN, str(tmp_path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[3], check=True,
                          env={"ECLUSE_CONN_WH": pg_database, "PATH": "/usr/bin:/bin"})
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == "succeeded" and out["pushed"] and out["rows"] == 2
    assert out["modules"] == []
    with psycopg.connect(pg_database) as con:
        assert con.execute("SELECT country, total::float8 FROM summary ORDER BY 1").fetchall() == [
            ("de", 37.5), ("fr", 45.0)]
