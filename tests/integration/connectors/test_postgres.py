"""PostgreSQL extractor and loader against a real PostgreSQL on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from ecluse.engine.state import FileStateStore, MemoryStateStore
from ecluse.spec.validate import DocumentInvalid
from tests.helpers import chain, node, preview, run_doc, schemas, state_set

pytestmark = pytest.mark.integration


@pytest.fixture
def pg(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ECLUSE_CONN_PG", pg_database)
    return pg_database


def sql(url: str, text: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(text, params)
        return cur.fetchall() if cur.description else []


def ok(result: Any) -> Any:
    assert result.status == "succeeded", result.error
    return result


TYPES_DDL = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE src (
  id integer PRIMARY KEY, small smallint, big bigint, real_v real, dbl double precision,
  amount numeric(12,2), huge numeric(40,10), free_num numeric, flag boolean, txt text,
  vc varchar(20), day date, ts timestamp, tstz timestamptz, tm time, iv interval,
  j json, jb jsonb, ints integer[], texts text[], uid uuid, raw bytea, m mood, cash money);
INSERT INTO src VALUES
 (1, 1, 9007199254740993, 1.5, 2.25, 1234567890.12, 123456789012345678901234567890.0123456789,
  3.14159, true, 'héllo ''quoted''', 'v', '2024-02-29', '2024-01-01 10:00:00.123456',
  '2024-06-30 23:59:59.999999+02', '12:34:56', '1 mon 2 days 03:00', '{"a": [1, 2]}',
  '{"k": {"n": null}}', '{1,NULL,3}', '{"x","y z"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '\\x00ff10', 'happy', '-1234.56'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""


def test_types_are_faithful_and_round_trip(pg: str, workdir: Path) -> None:
    sql(pg, TYPES_DDL)
    doc = chain(node("e", "extractor", "postgres", connection="pg", table="public.src"),
                node("l", "loader", "postgres", connection="pg", table="copy.dst"))
    cols = dict(schemas(doc)["e"] or [])
    assert cols["amount"] == "decimal(12,2)"
    assert cols["tstz"] == "timestamptz"
    assert cols["ts"] == "timestamp"
    assert cols["jb"] == "json" and cols["j"] == "json"
    assert cols["uid"] == "uuid"
    assert cols["raw"] == "binary"
    assert cols["m"] == "string"
    assert cols["ints"] == "array<int32>"
    assert cols["big"] == "int64"
    rows = preview(doc, "e", limit=5).to_pylist()
    first = next(r for r in rows if r["id"] == 1)
    assert first["amount"] == Decimal("1234567890.12")
    assert first["huge"] == "123456789012345678901234567890.0123456789"  # past 38 digits: text
    assert first["big"] == 9007199254740993
    assert first["ints"] == [1, None, 3]
    assert first["raw"] == b"\x00\xff\x10"
    assert first["m"] == "happy"
    assert first["cash"] == "-1234.56"  # ADBC sent money as its cents: -123456
    assert first["tstz"].isoformat() == "2024-06-30T21:59:59.999999+00:00"
    ok(run_doc(doc))
    types = dict(sql(pg, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = 'copy.dst'::regclass AND attnum > 0"))
    assert types["amount"] == "numeric(12,2)"
    assert types["tstz"] == "timestamp with time zone"
    assert types["uid"] == "uuid"
    assert types["jb"] == "jsonb"
    assert types["ints"] == "integer[]"
    assert types["raw"] == "bytea"
    # every value comes back identical (compared as text in PostgreSQL itself)
    diff = sql(pg, """
      SELECT count(*) FROM (
        SELECT id, small, big, real_v, dbl, amount, huge, free_num::float8, flag, txt, vc, day, ts,
               tstz, tm, iv::text, j::jsonb, jb, ints, texts, uid, raw, m::text,
               cash::numeric::text FROM src
        EXCEPT
        SELECT id, small, big, real_v, dbl, amount, huge::numeric, free_num, flag, txt, vc, day, ts,
               tstz, tm, iv, j, jb, ints, texts, uid, raw, m, cash FROM copy.dst) AS d""")
    assert diff == [(0,)]


def test_query_parameters_are_bound_not_pasted(pg: str, workdir: Path) -> None:
    sql(pg, "CREATE TABLE customers (id int, name text, created_at date);"
            "INSERT INTO customers VALUES (1, 'a', '2024-01-01'), (2, 'b', '2024-03-01'),"
            "(3, 'x''); DROP TABLE customers; --', '2024-05-01')")
    doc = chain(node("e", "extractor", "postgres", connection="pg",
                     query="SELECT * FROM customers WHERE created_at > :start_date AND name <> :who "
                           "ORDER BY id"),
                node("l", "loader", "parquet", path="out.parquet"),
                parameters={"start_date": {"type": "date", "default": "2024-02-01"},
                            "who": {"type": "string", "default": "nobody"}})
    ok(run_doc(doc))
    assert pq.read_table("out.parquet").column("id").to_pylist() == [2, 3]
    # an injection attempt in a parameter value is just a value
    evil = "b' OR 1=1; DROP TABLE customers; --"
    ok(run_doc(doc, parameters={"who": evil, "start_date": "2023-01-01"}))
    assert pq.read_table("out.parquet").column("id").to_pylist() == [1, 2, 3]
    assert sql(pg, "SELECT count(*) FROM customers") == [(3,)]


def test_table_names_cannot_inject_sql(pg: str, workdir: Path) -> None:
    sql(pg, "CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)")
    evil = "victim; DROP TABLE victim; --"
    doc = chain(node("e", "extractor", "postgres", connection="pg", query="SELECT 1 AS id"),
                node("l", "loader", "postgres", connection="pg", table=evil))
    ok(run_doc(doc))  # a table with that odd name, nothing else
    assert sql(pg, "SELECT count(*) FROM victim") == [(1,)]
    assert sql(pg, 'SELECT count(*) FROM "victim; DROP TABLE victim; --"') == [(1,)]
    # a stray quote cannot close the identifier: the document is rejected before anything runs
    unbalanced = chain(node("e", "extractor", "postgres", connection="pg", query="SELECT 1 AS id"),
                       node("l", "loader", "postgres", connection="pg",
                            table='x"; DROP TABLE victim; --'))
    with pytest.raises(DocumentInvalid, match="not a table name"):
        run_doc(unbalanced)
    bad = chain(node("e", "extractor", "postgres", connection="pg", table="victim; DROP TABLE victim",
                     columns=["id"]),
                node("l", "loader", "parquet", path="o.parquet"))
    result = run_doc(bad)
    assert result.status == "failed"
    assert "does not exist" in result.error.reason
    assert sql(pg, "SELECT count(*) FROM victim") == [(1,)]


def _load(pg: str, rows: str, **config: Any) -> Any:
    doc = chain(node("e", "extractor", "postgres", connection="pg", query=rows),
                node("l", "loader", "postgres", connection="pg", **config))
    return ok(run_doc(doc)).nodes["l"].extra


def test_load_modes(pg: str, workdir: Path) -> None:
    base = "SELECT g AS id, 'v' || g AS name FROM generate_series(1, 5) g"
    extra = _load(pg, base, table="sales.t", mode="append")
    assert extra["rows_inserted"] == 5
    _load(pg, base, table="sales.t", mode="append")
    assert sql(pg, "SELECT count(*) FROM sales.t") == [(10,)]
    extra = _load(pg, "SELECT g AS id, 'r' || g AS name FROM generate_series(1, 3) g",
                  table="sales.t", mode="replace")
    assert extra["rows_deleted"] == 10 and extra["rows_inserted"] == 3
    assert sql(pg, "SELECT id, name FROM sales.t ORDER BY id") == [(1, "r1"), (2, "r2"), (3, "r3")]
    sql(pg, "ALTER TABLE sales.t ADD PRIMARY KEY (id)")
    extra = _load(pg, "SELECT g AS id, 'u' || g AS name FROM generate_series(2, 4) g",
                  table="sales.t", mode="upsert", keys=["id"])
    assert (extra["rows_inserted"], extra["rows_updated"]) == (1, 2)
    assert sql(pg, "SELECT id, name FROM sales.t ORDER BY id") == [
        (1, "r1"), (2, "u2"), (3, "u3"), (4, "u4")]
    extra = _load(pg, "SELECT * FROM (VALUES (3, 'm3'), (5, 'm5')) v(id, name)",
                  table="sales.t", mode="merge_delete", keys=["id"])
    assert (extra["rows_inserted"], extra["rows_updated"], extra["rows_deleted"]) == (1, 1, 3)
    assert sql(pg, "SELECT id, name FROM sales.t ORDER BY id") == [(3, "m3"), (5, "m5")]


def test_upsert_creates_keyed_table_and_keeps_last_duplicate(pg: str, workdir: Path) -> None:
    extra = _load(pg, "SELECT * FROM (VALUES (1, 'a'), (1, 'b'), (2, 'c')) v(id, name)",
                  table="u", mode="upsert", keys=["id"])
    assert extra["rows_inserted"] == 2
    assert sql(pg, "SELECT id, name FROM u ORDER BY id") == [(1, "b"), (2, "c")]


def test_upsert_without_unique_key_is_a_clear_error(pg: str, workdir: Path) -> None:
    sql(pg, "CREATE TABLE nokey (id int, name text)")
    doc = chain(node("e", "extractor", "postgres", connection="pg", query="SELECT 1 AS id, 'a' AS name"),
                node("l", "loader", "postgres", connection="pg", table="nokey", mode="upsert",
                     keys=["id"]))
    result = run_doc(doc)
    assert result.status == "failed"
    assert "primary key or unique index" in result.error.reason


def test_a_boolean_into_a_number_column_is_named(pg: str, workdir: Path) -> None:
    """PostgreSQL refused it with "cannot cast type boolean to bigint", naming no column."""
    sql(pg, "CREATE TABLE bn (id int, qty bigint, ok boolean)")
    for select, message in (
            ("SELECT 1 AS id, true AS qty, true AS ok",
             "column 'qty' of table 'bn' is of type bigint, but the incoming 'qty' is boolean"),
            ("SELECT 1 AS id, 2::bigint AS qty, 1 AS ok",
             "column 'ok' of table 'bn' is of type boolean, but the incoming 'ok' is integer")):
        doc = chain(node("e", "extractor", "postgres", connection="pg", query=select),
                    node("l", "loader", "postgres", connection="pg", table="bn"))
        result = run_doc(doc)
        assert result.status == "failed" and result.error.reason.startswith(message), \
            result.error.reason
    assert sql(pg, "SELECT count(*) FROM bn") == [(0,)]


def test_times_are_loaded_in_utc_whatever_the_databases_time_zone(pg: str, workdir: Path) -> None:
    """The staging casts ran in the session's time zone: in a database set to New York, a
    naive 10:00 loaded into a timestamptz column became 15:00 UTC, and the instant 10:00 UTC
    into a timestamp column became 05:00."""
    import datetime as dt

    import pyarrow as pa

    from tests.integration.databases.harness import load

    db = pg.rsplit("/", 1)[1]
    sql(pg, f'ALTER DATABASE "{db}" SET timezone = \'America/New_York\'')
    sql(pg, "CREATE TABLE tz (id int PRIMARY KEY, at timestamptz, naive timestamp)")
    data = pa.table({"id": [1],
                     "at": pa.array([dt.datetime(2024, 6, 1, 10)], pa.timestamp("us")),
                     "naive": pa.array([dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC)],
                                       pa.timestamp("us", tz="UTC"))})
    for mode in ("append", "upsert"):
        result = load("postgres", data, workdir, connection="pg", table="tz", mode=mode,
                      keys=["id"])
        assert result.status == "succeeded", result.error
        assert sql(pg, "SELECT at AT TIME ZONE 'UTC', naive FROM tz") == [
            (dt.datetime(2024, 6, 1, 10), dt.datetime(2024, 6, 1, 10))]


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_a_value_the_column_would_round_is_refused_naming_it(pg: str, workdir: Path,
                                                             mode: str) -> None:
    """PostgreSQL stored 1.234 into a numeric(5,2) column as 1.23 and 1.5 into an integer as
    2, without a word, and refused 1234.5 or 3e10 naming no column; values that fit exactly
    still load."""
    import pyarrow as pa

    from tests.integration.databases.harness import load

    sql(pg, "CREATE TABLE r (id int PRIMARY KEY, amount numeric(5,2), n integer);"
            "INSERT INTO r VALUES (0, 9.99, 9)")
    before = sql(pg, "SELECT * FROM r ORDER BY id")

    def data(amount: pa.Array, n: list[float | None]) -> pa.Table:
        return pa.table({"id": list(range(1, len(n) + 1)), "amount": amount, "n": n})

    fits = data(pa.array([Decimal("1.200"), Decimal("-3.450"), None], pa.decimal128(6, 3)),
                [2.0, -3.0, None])
    cases = [
        (data(pa.array([Decimal("1.200"), Decimal("3.450"), Decimal("1.234")], pa.decimal128(6, 3)),
              [1.0, 2.0, 3.0]),
         "column 'amount' of table 'r' is of type numeric(5,2), but the incoming 'amount' "
         "(decimal(6,3)) holds 1.234 (row 3): PostgreSQL would store it rounded to 2 decimal "
         "place(s); nothing was changed: round it before this node (e.g. a derive's "
         "round(amount, 2)), or widen the column (ALTER TABLE r ALTER COLUMN \"amount\" TYPE "
         "numeric(6,3))"),
        (data(pa.array([Decimal("1.2")] * 3, pa.decimal128(6, 3)), [2.0, 1.5, 3.0]),
         "column 'n' of table 'r' is of type integer, but the incoming 'n' (float64) holds 1.5 "
         "(row 2): PostgreSQL would store it rounded to a whole number"),
        (data(pa.array([Decimal("1234.5")], pa.decimal128(6, 1)), [1.0]),
         "column 'amount' of table 'r' is of type numeric(5,2), but the incoming 'amount' "
         "(decimal(6,1)) holds 1234.5 (row 1): PostgreSQL cannot store it: it is too large for "
         "that type; nothing was changed"),
        (data(pa.array([None, None], pa.decimal128(6, 1)), [1.0, 3e10]),
         "column 'n' of table 'r' is of type integer, but the incoming 'n' (float64) holds "
         "30000000000 (row 2): PostgreSQL cannot store it: it is too large"),
        (data(pa.array([None], pa.decimal128(6, 1)), [float("nan")]),
         "column 'n' of table 'r' is of type integer, but the incoming 'n' (float64) holds NaN "
         "(row 1)"),
    ]
    for table, message in cases:
        result = load("postgres", table, workdir, connection="pg", table="r", mode=mode,
                      keys=["id"])
        assert result.status == "failed" and result.error.reason.startswith(message), \
            result.error.reason
        assert result.error.field == "table"
        assert sql(pg, "SELECT * FROM r ORDER BY id") == before
    result = load("postgres", fits, workdir, connection="pg", table="r", mode=mode, keys=["id"])
    assert result.status == "succeeded", result.error
    assert sql(pg, "SELECT id, amount::text, n FROM r ORDER BY id") == [
        (0, "9.99", 9), (1, "1.20", 2), (2, "-3.45", -3), (3, None, None)]
    # pushed down into PostgreSQL (no row leaves it): the same check, on the same staging table
    sql(pg, "CREATE TABLE src (id int, n float8, amount numeric(6,3));"
            "INSERT INTO src VALUES (7, 7.0, 7.100)")
    doc = chain(node("e", "extractor", "postgres", connection="pg", table="src"),
                node("s", "transformer", "select", columns=["id", "n", "amount"]),
                node("l", "loader", "postgres", connection="pg", table="r", mode=mode, keys=["id"]))
    assert "pushed_down" in ok(run_doc(doc)).nodes["l"].extra
    for rows, message in (
            ("(8, 8.0, 2.501), (9, 9.0, 1.0)",
             "column 'amount' of table 'r' is of type numeric(5,2), but the incoming 'amount' "
             "(decimal(6,3)) holds 2.501 (row 2)"),
            ("(8, 8.0, 1.0), (9, 1.5, 1.0)",
             "column 'n' of table 'r' is of type integer, but the incoming 'n' (float64) holds "
             "1.5 (row 3)")):
        sql(pg, f"DELETE FROM src WHERE id > 7; INSERT INTO src VALUES {rows}")
        result = run_doc(doc)
        assert result.status == "failed" and result.error.reason.startswith(message), \
            result.error.reason
    assert sql(pg, "SELECT count(*) FROM r") == [(5,)]


def test_floats_integers_and_decimals_fit_or_are_named(pg: str, workdir: Path) -> None:
    """A float's value is the one PostgreSQL gives it (15 digits: 0.1 + 0.2 is 0.3); NaN fits
    a numeric(p,s) column, Infinity does not; an integer out of a smallint's range, or a
    decimal with a fraction, is named too."""
    import pyarrow as pa

    from tests.integration.databases.harness import load

    sql(pg, "CREATE TABLE q (price numeric(5,2), small smallint)")

    def attempt(column: str, values: pa.Array) -> Any:
        return load("postgres", pa.table({column: values}), workdir, connection="pg", table="q")

    for column, values in (("price", pa.array([1.23, 0.1 + 0.2, -999.99, float("nan")])),
                           ("small", pa.array([32767, -32768], pa.int64())),
                           ("small", pa.array([Decimal("5.00")], pa.decimal128(10, 2)))):
        ok(attempt(column, values))
    assert sql(pg, "SELECT price::text, small FROM q") == [
        ("1.23", None), ("0.30", None), ("-999.99", None), ("NaN", None), (None, 32767),
        (None, -32768), (None, 5)]
    for column, values, message in (
            ("price", pa.array([1.0, 1.005]), "holds 1.005 (row 2): PostgreSQL would store it "
             "rounded to 2 decimal place(s)"),
            ("price", pa.array([1000.0]), "holds 1000 (row 1): PostgreSQL cannot store it"),
            ("price", pa.array([float("-inf")]), "holds -Infinity (row 1): PostgreSQL cannot"),
            ("small", pa.array([1, 32768], pa.int64()), "is of type smallint, but the incoming "
             "'small' (int64) holds 32768 (row 2): PostgreSQL cannot store it"),
            ("small", pa.array([Decimal("5.5")], pa.decimal128(10, 2)), "holds 5.50 (row 1): "
             "PostgreSQL would store it rounded to a whole number")):
        result = attempt(column, values)
        assert result.status == "failed" and message in result.error.reason, result.error.reason
    assert sql(pg, "SELECT count(*) FROM q") == [(7,)]


def test_a_view_is_refused_in_every_mode(pg: str, workdir: Path) -> None:
    """An append into a view was written through it into its table (PostgreSQL's updatable
    views), cutting text to the table's varchar(n) on the way; replace said '"v" is not a
    table', upsert asked for a unique index, a materialized view 'cannot change materialized
    view'."""
    import pyarrow as pa

    from tests.integration.databases.harness import load

    sql(pg, "CREATE TABLE base (id int PRIMARY KEY, name text); INSERT INTO base VALUES (1, 'a');"
            "CREATE VIEW v AS SELECT id, name FROM base;"
            "CREATE MATERIALIZED VIEW mv AS SELECT b.id, b.name FROM base b JOIN base c USING (id)")
    data = pa.table({"id": [2], "name": ["b"]})

    def refused(result: Any, table: str, kind: str) -> None:
        assert result.status == "failed" and result.error.field == "table"
        assert result.error.reason == (
            f"table {table!r} of connection 'pg' is {kind}, and a view cannot be loaded: it holds "
            "no rows of its own, only a query; nothing was changed: set `table` to the table it "
            "reads ('base') to load that, or to another name (a missing table is created)")

    for table, kind in (("v", "a view"), ("mv", "a materialized view")):
        for mode in ("append", "replace", "upsert", "merge_delete"):
            refused(load("postgres", data, workdir, connection="pg", table=table, mode=mode,
                         keys=["id"]), table, kind)
    # pushed down into PostgreSQL, the same
    doc = chain(node("e", "extractor", "postgres", connection="pg", table="base"),
                node("s", "transformer", "select", columns=["id", "name"]),
                node("l", "loader", "postgres", connection="pg", table="v", mode="replace"))
    refused(run_doc(doc), "v", "a view")
    assert sql(pg, "SELECT * FROM v") == [(1, "a")]
    assert sql(pg, "SELECT * FROM mv") == [(1, "a")]


def test_a_text_longer_than_its_column_is_refused_naming_it(pg: str, workdir: Path) -> None:
    """The staging table's cast to varchar(5) cut 30 characters to 5 without a word (every
    load but an append whose types all matched, whose COPY said "value too long for type
    character varying(5)", naming no column). Trailing spaces beyond the length are dropped,
    as PostgreSQL does."""
    import pyarrow as pa

    from tests.integration.databases.harness import load

    sql(pg, "CREATE TABLE w (id bigint PRIMARY KEY, code varchar(5), flag char(3));"
            "INSERT INTO w VALUES (0, 'keep', 'k')")
    before = sql(pg, "SELECT * FROM w")

    def message(column: str, column_type: str, incoming: str, value: str, length: int, row: int,
                limit: int, wider: str) -> str:
        return (f"column {column!r} of table 'w' is of type {column_type}, but the incoming "
                f"{column!r} ({incoming}) holds {value} ({length} characters, row {row}): "
                f"PostgreSQL cannot store more than {limit} characters there; nothing was "
                f"changed: shorten it before this node (e.g. a derive's left({column}, {limit})) "
                f"or filter it out, or widen the column (ALTER TABLE w ALTER COLUMN "
                f"\"{column}\" TYPE {wider}({length}), or text)")

    long_code = message("code", "character varying(5)", "string", repr("x" * 30), 30, 3, 5,
                        "varchar")
    cases = [
        # types all match: straight into the table (binary COPY), checked as it streams
        (pa.table({"id": pa.array([1, 2, 3], pa.int64()), "code": ["ok", None, "x" * 30]}),
         "append", long_code),
        # through the staging table
        (pa.table({"id": pa.array([1, 2, 3], pa.int32()), "code": ["ok", None, "x" * 30]}),
         "append", long_code),
        (pa.table({"id": [1, 2, 3], "code": ["ok", None, "x" * 30]}), "upsert", long_code),
        (pa.table({"id": [1, 2, 3], "code": ["ok", None, "x" * 30]}), "replace", long_code),
        (pa.table({"id": [1], "flag": ["abcd"]}), "append",
         message("flag", "character(3)", "string", "'abcd'", 4, 1, 3, "char")),
        (pa.table({"id": [1, 2], "code": [12, 1234567]}), "append",
         message("code", "character varying(5)", "int64", "'1234567'", 7, 2, 5, "varchar")),
    ]
    for data, mode, expected in cases:
        result = load("postgres", data, workdir, connection="pg", table="w", mode=mode,
                      keys=["id"])
        assert result.status == "failed" and result.error.reason == expected, result.error
        assert result.error.field == "table"
        assert sql(pg, "SELECT * FROM w") == before
    # pushed down into PostgreSQL (no row leaves it): the same check, in SQL
    sql(pg, "CREATE TABLE src (id bigint, code text); INSERT INTO src VALUES (5, 'five')")
    doc = chain(node("e", "extractor", "postgres", connection="pg", table="src"),
                node("s", "transformer", "select", columns=["id", "code"]),
                node("l", "loader", "postgres", connection="pg", table="w", mode="append"))
    assert "pushed_down" in ok(run_doc(doc)).nodes["l"].extra
    sql(pg, "DELETE FROM w WHERE id = 5; INSERT INTO src VALUES (6, 'sixsixsix')")
    result = run_doc(doc)
    assert result.status == "failed" and result.error.reason == message(
        "code", "character varying(5)", "string", "'sixsixsix'", 9, 2, 5, "varchar")
    assert sql(pg, "SELECT * FROM w") == before
    # what fits goes in: trailing spaces beyond the length are dropped, as PostgreSQL does
    fits = pa.table({"id": [1, 2], "code": ["abcde   ", "ünïcø"], "flag": ["ab", "xyz  "]})
    ok(load("postgres", fits, workdir, connection="pg", table="w", mode="upsert", keys=["id"]))
    assert sql(pg, "SELECT * FROM w ORDER BY id") == [
        (0, "keep", "k  "), (1, "abcde", "ab "), (2, "ünïcø", "xyz")]


def test_merge_delete_keeps_the_incoming_rows_with_a_null_key(pg: str, workdir: Path) -> None:
    """A row with a NULL key matches no row (the unique index says NULLs differ), so upsert
    inserts it; merge_delete then deleted it again, as a row 'not in the data', and reported it
    inserted. The target's own row with that NULL key is not in the data: it goes."""
    sql(pg, "CREATE TABLE md (a int, b text, v int, UNIQUE (a, b))")
    sql(pg, "INSERT INTO md VALUES (1, 'x', 10), (1, NULL, 11), (2, 'y', 12)")
    source = ("SELECT * FROM (VALUES (1, 'x', 100), (1, NULL, 101), (3, 'z', 103), (3, 'z', 104)) "
              "AS v(a, b, v)")
    extra = _load(pg, source, table="md", mode="merge_delete", keys=["a", "b"])
    assert sql(pg, "SELECT a, b, v FROM md ORDER BY a, b NULLS FIRST") == [
        (1, None, 101), (1, "x", 100), (3, "z", 104)]
    assert (extra["rows_inserted"], extra["rows_updated"], extra["rows_deleted"]) == (2, 1, 2)


def test_schema_evolution(pg: str, workdir: Path) -> None:
    sql(pg, "CREATE TABLE evo (id int)")
    _load(pg, "SELECT 1 AS id, 'new' AS label, 2.5::numeric(5,1) AS score", table="evo")
    assert sql(pg, "SELECT id, label, score FROM evo") == [(1, "new", Decimal("2.5"))]
    doc = chain(node("e", "extractor", "postgres", connection="pg", query="SELECT 2 AS id, 1 AS other"),
                node("l", "loader", "postgres", connection="pg", table="evo", schema_evolution="fail"))
    result = run_doc(doc)
    assert result.status == "failed"
    assert "'other'" in result.error.reason
    assert sql(pg, "SELECT count(*) FROM evo") == [(1,)]


@pytest.mark.parametrize("mode", ["append", "replace", "upsert", "merge_delete"])
def test_failure_mid_load_leaves_table_unchanged(pg: str, workdir: Path, mode: str) -> None:
    sql(pg, "CREATE TABLE guarded (id int PRIMARY KEY, v int CHECK (v < 150000));"
            "INSERT INTO guarded SELECT g, g FROM generate_series(1, 1000) g")
    before = sql(pg, "SELECT count(*), sum(v) FROM guarded")
    # row 150,000 of 200,000 breaks the CHECK constraint, deep inside the COPY stream
    doc = chain(node("e", "extractor", "postgres", connection="pg",
                     query="SELECT g AS id, g AS v FROM generate_series(1, 200000) g"),
                node("l", "loader", "postgres", connection="pg", table="guarded", mode=mode,
                     keys=["id"] if mode in ("upsert", "merge_delete") else []))
    result = run_doc(doc)
    assert result.status == "failed"
    assert "nothing was changed" in result.error.reason
    assert sql(pg, "SELECT count(*), sum(v) FROM guarded") == before
    assert sql(pg, "SELECT count(*) FROM pg_class WHERE relname LIKE '_ecluse_stage_%'") == [(0,)]


def test_incremental_runs_with_tie_break_and_commit_only(pg: str, workdir: Path) -> None:
    sql(pg, "CREATE TABLE events (id int PRIMARY KEY, updated_at timestamptz, v text);"
            "INSERT INTO events SELECT g, '2024-01-01'::timestamptz + (g / 3) * interval '1 hour', "
            "'a' FROM generate_series(1, 10) g")
    state = MemoryStateStore()
    doc = chain(node("e", "extractor", "postgres", connection="pg", table="events",
                     incremental={"cursor_column": "updated_at", "key_column": "id", "page_size": 4}),
                node("l", "loader", "postgres", connection="pg", table="events_copy"),
                name="inc")
    ok(run_doc(doc, state=state))
    assert sql(pg, "SELECT count(*) FROM events_copy") == [(10,)]
    saved = state.get("inc", "e")
    assert saved is not None and saved["last_key"] == "10"
    # new rows share the last cursor value: the tie-break key keeps them, nothing repeats
    sql(pg, "INSERT INTO events SELECT g, '2024-01-01'::timestamptz + interval '3 hours', 'b' "
            "FROM generate_series(11, 13) g")
    ok(run_doc(doc, state=state))
    assert sql(pg, "SELECT count(*), count(DISTINCT id) FROM events_copy") == [(13, 13)]
    # a failed run does not advance the high-water mark
    sql(pg, "INSERT INTO events VALUES (14, '2025-01-01', 'c');"
            "ALTER TABLE events_copy ADD CONSTRAINT no_c CHECK (v <> 'c')")
    mark = state.get("inc", "e")
    assert run_doc(doc, state=state).status == "failed"
    assert state.get("inc", "e") == mark
    sql(pg, "ALTER TABLE events_copy DROP CONSTRAINT no_c")
    ok(run_doc(doc, state=state))
    assert sql(pg, "SELECT count(*), count(DISTINCT id) FROM events_copy") == [(14, 14)]
    assert state.get("inc", "e")["last_value"].startswith("2025-01-01")
    # nothing new: nothing read, mark kept
    ok(run_doc(doc, state=state))
    assert sql(pg, "SELECT count(*) FROM events_copy") == [(14,)]


@pytest.mark.parametrize("page_size", [100, 5])
def test_incremental_rows_without_a_cursor_value_are_never_read(page_size: int, pg: str,
                                                                workdir: Path) -> None:
    """The first page had no condition and NULLs sort last: the position became a NULL, no
    state was saved and every run read the table again (or, with a page holding a NULL, the
    same page forever)."""
    sql(pg, "CREATE TABLE nc (id int PRIMARY KEY, at timestamp);"
            "INSERT INTO nc SELECT g, CASE WHEN g > 4 THEN NULL ELSE '2024-01-01'::timestamp "
            "+ g * interval '1 day' END FROM generate_series(1, 6) g")
    state = MemoryStateStore()
    doc = chain(node("e", "extractor", "postgres", connection="pg", table="nc",
                     incremental={"cursor_column": "at", "key_column": "id",
                                  "page_size": page_size}),
                node("l", "loader", "postgres", connection="pg", table="nc_copy"), name="nc")
    for _ in range(2):
        ok(run_doc(doc, state=state))
        assert sql(pg, "SELECT count(*), count(DISTINCT id) FROM nc_copy") == [(4, 4)]


def test_incremental_marks_set_by_hand(pg: str, workdir: Path) -> None:
    """Without a key column, a mark set by hand (`ecluse state set … --last-value X`) skipped
    the rows at X, as a run's own mark does (`cursor > X`): it reads from X on, as with a key
    column and on the other databases; a run's mark still reads nothing twice."""
    sql(pg, "CREATE TABLE hm (id int PRIMARY KEY, at date);"
            "INSERT INTO hm SELECT g, '2024-01-01'::date + g / 4 FROM generate_series(0, 9) g")
    state = FileStateStore(workdir / "data" / "state")
    doc = chain(node("e", "extractor", "postgres", connection="pg", table="hm",
                     incremental={"cursor_column": "at"}),
                node("l", "loader", "postgres", connection="pg", table="hm_copy"), name="hm")
    for rows in (10, 0):
        assert ok(run_doc(doc, state=state)).nodes["e"].rows_out == rows
    assert state_set(workdir / "data", "hm", "e", "--last-value", "2024-01-02").exit_code == 0
    assert ok(run_doc(doc, state=state)).nodes["e"].rows_out == 6
    assert ok(run_doc(doc, state=state)).nodes["e"].rows_out == 0
    assert sql(pg, "SELECT count(*), count(DISTINCT id), min(id) FROM hm_copy "
                   "WHERE at >= '2024-01-02'") == [(12, 6, 4)]


def test_incremental_cursor_and_key_of_awkward_types(pg: str, workdir: Path) -> None:
    """A numeric without precision is read as a float: its position was rounded up and the
    rows between were never read. A bytea key's position was written as "b'..'" text and the
    second page failed."""
    sql(pg, "CREATE TABLE num (id int PRIMARY KEY, v numeric);"
            "INSERT INTO num SELECT g, 12345678901234567 + g / 10.0 FROM generate_series(1, 6) g;"
            "CREATE TABLE bk (k bytea PRIMARY KEY, at date);"
            "INSERT INTO bk SELECT decode(lpad(to_hex(g), 4, '0'), 'hex'), '2024-01-01' "
            "FROM generate_series(1, 5) g")
    numeric = chain(node("e", "extractor", "postgres", connection="pg", table="num",
                         incremental={"cursor_column": "v", "key_column": "id", "page_size": 2}),
                    node("l", "loader", "parquet", path=str(workdir / "n.parquet")))
    error = run_doc(numeric).error
    assert error is not None and error.field == "incremental" and "numeric(38, 10)" in error.reason
    state = MemoryStateStore()
    binary = chain(node("e", "extractor", "postgres", connection="pg", table="bk",
                        incremental={"cursor_column": "at", "key_column": "k", "page_size": 2}),
                   node("l", "loader", "postgres", connection="pg", table="bk_copy"), name="bk")
    ok(run_doc(binary, state=state))
    sql(pg, "INSERT INTO bk VALUES ('\\x0006', '2024-01-01')")
    ok(run_doc(binary, state=state))
    assert sql(pg, "SELECT count(*), count(DISTINCT k) FROM bk_copy") == [(6, 6)]


def test_incremental_query_binds_last_value(pg: str, workdir: Path) -> None:
    sql(pg, "CREATE TABLE logs (id bigint, at date);"
            "INSERT INTO logs SELECT g, '2024-01-01'::date + g FROM generate_series(1, 5) g")
    state = MemoryStateStore()
    doc = chain(node("e", "extractor", "postgres", connection="pg",
                     query="SELECT id, at FROM logs WHERE at >= :last_value",
                     incremental={"cursor_column": "at", "key_column": "id",
                                  "initial_value": "2024-01-04"}),
                node("l", "loader", "parquet", path="logs.parquet"), name="q")
    ok(run_doc(doc, state=state))
    assert pq.read_table("logs.parquet").column("id").to_pylist() == [3, 4, 5]
    sql(pg, "INSERT INTO logs VALUES (6, '2024-01-06'), (7, '2024-01-09')")
    ok(run_doc(doc, state=state))
    assert pq.read_table("logs.parquet").column("id").to_pylist() == [6, 7]


MEMORY_SCRIPT = textwrap.dedent("""
    import json, os, resource, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from ecluse.sdk.connections import EnvConnections
    from ecluse.sdk.context import CancelToken, NodeContext
    from ecluse.sdk.registry import default_registry
    from tests.helpers import chain, node, run_doc

    class Capture:  # stands for the engine: hands back the stream the extractor binds
        name = "duckdb"
        def from_arrow(self, data, *, name):
            return data

    def stream(query):
        cls = default_registry().get("extractor", "postgres")
        module = cls(cls.parse_config({"connection": "pg", "query": query}), "e")
        ctx = NodeContext(run_id="m", pipeline_id="m", node_id="e", backend=Capture(),
                          parameters={}, connections=EnvConnections(), mode="run",
                          work_dir=Path("."), cancel=CancelToken())
        rows = biggest = 0
        for batch in module.read(ctx):
            rows += batch.num_rows
            biggest = max(biggest, batch.nbytes)
        return rows, biggest, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    small = stream("SELECT * FROM big WHERE id <= 100000")
    full = stream("SELECT * FROM big")
    doc = chain(node("e", "extractor", "postgres", connection="pg", table="big"),
                node("l", "loader", "parquet", path=sys.argv[1]))
    result = run_doc(doc, memory_limit="256MB", threads=2)
    print(json.dumps({"small": small, "full": full, "status": result.status,
                      "error": str(result.error), "pipeline_rows": result.nodes["l"].rows_in,
                      "pipeline_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def test_million_rows_extract_with_bounded_memory(pg: str, workdir: Path) -> None:
    # ~330 bytes a row: the whole table held in memory would take ~330 MB in Arrow
    sql(pg, "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS a, repeat(md5((g * 7)::text), 8) AS b, "
            "(g % 1000)::numeric(10,2) AS amount, now() - g * interval '1 second' AS ts "
            "FROM generate_series(1, 1000000) g")
    script = workdir / "mem.py"
    script.write_text(MEMORY_SCRIPT)
    root = str(Path(__file__).resolve().parents[3])
    out = subprocess.run([sys.executable, str(script), str(workdir / "big.parquet"), root],
                         capture_output=True, text=True, cwd=workdir)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    (small_rows, _, small_peak), (rows, biggest, peak) = report["small"], report["full"]
    assert (small_rows, rows) == (100_000, 1_000_000)
    growth = peak - small_peak
    print(f"extractor stream: peak RSS {small_peak:.0f} MB after 100k rows, {peak:.0f} MB after "
          f"1M rows (+{growth:.0f} MB, largest batch {biggest / 2**20:.0f} MB); whole pipeline "
          f"into Parquet (DuckDB memory_limit 256MB): {report['pipeline_peak_mb']:.0f} MB")
    # streaming: ten times the rows (~300 MB more data) must not grow memory near that size
    assert growth < 100
    assert report["status"] == "succeeded", report["error"]
    assert report["pipeline_rows"] == 1_000_000
    assert pq.ParquetFile(workdir / "big.parquet").metadata.num_rows == 1_000_000


def test_replace_of_a_referenced_table_and_polars_engine(pg: str, workdir: Path) -> None:
    sql(pg, "CREATE TABLE parent (id int PRIMARY KEY, name text);"
            "CREATE TABLE child (pid int REFERENCES parent(id) DEFERRABLE);"
            "INSERT INTO parent VALUES (1, 'a'), (2, 'b'); INSERT INTO child VALUES (1)")
    doc = chain(node("e", "extractor", "postgres", connection="pg",
                     query="SELECT * FROM (VALUES (1, 'x'), (3, 'y')) v(id, name)"),
                node("l", "loader", "postgres", connection="pg", table="parent", mode="replace"))
    extra = ok(run_doc(doc, engine="polars")).nodes["l"].extra
    assert (extra["rows_inserted"], extra["rows_deleted"]) == (2, 2)
    assert sql(pg, "SELECT id, name FROM parent ORDER BY id") == [(1, "x"), (3, "y")]
    # a replace that would orphan a child row fails at commit: nothing changes
    doc["nodes"][0]["config"]["query"] = "SELECT 5 AS id, 'z' AS name"
    result = run_doc(doc)
    assert result.status == "failed" and "foreign key" in result.error.reason
    assert sql(pg, "SELECT id, name FROM parent ORDER BY id") == [(1, "x"), (3, "y")]


def test_a_nan_in_numeric_is_read_as_a_float_or_fails_naming_its_column(pg: str, workdir: Path) -> None:
    """Unconstrained numeric is read as float64 (NaN and infinities kept); numeric(p,s) is a
    decimal, which has no NaN: the run fails naming the column, the row and the way out. A
    numeric(p <= 18) NaN failed in PostgreSQL ('cannot convert NaN to bigint'), a wider one in
    Arrow ('The string 'nan' is not a valid decimal128 number'), neither naming the column."""
    sql(pg, "CREATE TABLE n (id int, free numeric, small numeric(10,2), mid numeric(30,5));"
            "INSERT INTO n VALUES (1, 'NaN', 1.5, 2.5), (2, 'Infinity', 2, 3), (3, 1.25, 'NaN', 'NaN')")

    def read(query: str) -> Any:
        return run_doc(chain(node("e", "extractor", "postgres", connection="pg", query=query),
                             node("l", "loader", "parquet", path=str(workdir / "n.parquet"))))

    ok(read("SELECT id, free FROM n ORDER BY id"))
    free = pq.read_table(workdir / "n.parquet").column("free").to_pylist()
    assert free[0] != free[0] and free[1:] == [float("inf"), 1.25]  # NaN, inf, 1.25
    for column, declared in (("small", "numeric(10,2)"), ("mid", "numeric(30,5)")):
        result = read(f"SELECT id, {column} FROM n ORDER BY id")
        assert result.status == "failed" and result.error.field == "query"
        assert (f"column '{column}' holds NaN (row 3 of the result), which a decimal cannot hold "
                f"({declared})") in result.error.reason
        assert f"""NULLIF("{column}", 'NaN')""" in result.error.reason
        ok(read(f"""SELECT id, NULLIF("{column}", 'NaN') AS {column} FROM n ORDER BY id"""))
        assert pq.read_table(workdir / "n.parquet").column(column).to_pylist()[2] is None
    # any other error met while rows flow is the server's, on the query
    result = read("SELECT 1 / (id - 3) AS x FROM n ORDER BY id")
    assert result.status == "failed" and result.error.field == "query"
    assert result.error.reason == "PostgreSQL rejected the query: division by zero"


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_arrays_of_types_read_as_text_are_lists_of_text(engine: str, pg: str, workdir: Path) -> None:
    """Items of arrays follow the columns' rule: ADBC sent interval[] items as raw 16-byte
    values, money[] as unscaled amounts (1.50 -> 150), inet[] and citext[] as bytes."""
    sql(pg, "CREATE EXTENSION citext; CREATE TABLE arr (iv interval[], cash money[], ip inet[], "
            "ci citext[], num numeric(10,2)[], uid uuid[]);"
            "INSERT INTO arr VALUES ('{1 mon 2 days, -03:00:00}', '{1.50, -2}', '{10.0.0.1, ::1}', "
            "'{HeLLo, NULL}', '{1.5, NaN}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}')")
    ok(run_doc(chain(node("e", "extractor", "postgres", connection="pg", table="arr"),
                     node("l", "loader", "parquet", path=str(workdir / "a.parquet"))), engine=engine))
    back = pq.read_table(workdir / "a.parquet").to_pylist()[0]
    assert back | {"uid": None} == {
        "iv": ["1 mon 2 days", "-03:00:00"], "cash": ["1.50", "-2.00"],
        "ip": ["10.0.0.1/32", "::1/128"], "ci": ["HeLLo", None], "num": ["1.50", "NaN"],
        "uid": None}
    if engine == "polars":  # no uuid type there: text, as a uuid column is
        assert back["uid"] == ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]


def test_a_mistyped_table_or_column_gets_a_suggestion(pg: str, workdir: Path) -> None:
    """The server only said 'relation "ordrs" does not exist' (or 'column ... does not
    exist'), on `table` whatever was mistyped; the names it has are looked up then."""
    sql(pg, "CREATE SCHEMA sales; CREATE TABLE sales.orders (id int, amount int)")
    for config, field, message in (
            ({"table": "sales.ordrs"}, "table",
             "table 'ordrs' does not exist in schema 'sales'. Did you mean 'orders'?"),
            ({"table": "sale.orders"}, "table", "schema 'sale' does not exist. Did you mean 'sales'?"),
            ({"table": "Orders"}, "table", "table 'Orders' does not exist."),
            ({"table": "sales.orders", "columns": ["id", "amout"]}, "columns",
             "table 'sales.orders' has no column 'amout'. Did you mean 'amount'?"),
            ({"table": "sales.orders", "where": '"Amount" > 1'}, "where",
             'PostgreSQL rejected the condition: column "Amount" does not exist. Did you mean '
             "'amount'?")):
        result = run_doc(chain(node("e", "extractor", "postgres", connection="pg", **config),
                               node("l", "loader", "parquet", path=str(workdir / "o.parquet"))))
        assert result.error is not None and (result.error.field, result.error.reason) == (field, message)
    # an unqualified name is looked for in the search path
    sql(pg, "CREATE TABLE public.orders (id int)")
    doc = chain(node("e", "extractor", "postgres", connection="pg", table="Orders"),
                node("l", "loader", "parquet", path=str(workdir / "o.parquet")))
    error = run_doc(doc).error
    assert error is not None and error.reason == "table 'Orders' does not exist. Did you mean 'orders'?"


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_rows_out_is_the_number_of_rows_read(engine: str, pg: str, workdir: Path) -> None:
    """The engine cannot always count a stream: rows_out was blank on Polars and on a chain
    into PostgreSQL, and on DuckDB it was the rows a filter kept (334), DuckDB running the
    filter inside its scan of the stream. A pushed-down chain reads no row: no count (counting
    would cost a scan of the table)."""
    sql(pg, "CREATE TABLE t AS SELECT g AS id, g % 3 AS k FROM generate_series(1, 1000) g;"
            "CREATE TABLE empty (id int, k int)")
    keep = node("f", "transformer", "filter", condition="k = 1")
    into_pg = node("l", "loader", "postgres", connection="pg", table="o", mode="replace")
    into_file = node("l", "loader", "parquet", path=str(workdir / "o.parquet"))
    for source, loader, rows, pushed in (({"table": "t"}, into_file, 1000, False),
                                         ({"query": "SELECT * FROM t"}, into_pg, 1000, False),
                                         ({"table": "t"}, into_pg, None, True),
                                         ({"table": "empty"}, into_file, 0, False),
                                         ({"table": "t", "incremental": {"cursor_column": "id"}},
                                          into_file, 1000, False)):
        result = ok(run_doc(chain(node("e", "extractor", "postgres", connection="pg", **source),
                                  keep, loader), engine=engine))
        assert result.nodes["e"].rows_out == rows, (source, loader["module"])
        assert ("pushed_down" in result.nodes["e"].extra) == pushed
