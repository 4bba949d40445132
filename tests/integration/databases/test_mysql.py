"""mysql extractor and loader against a real MariaDB: types, every load mode and bulk path,
atomicity under a failure mid-load, awkward identifiers, bound parameters, incremental state."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pymysql
import pytest

from ecluse.engine.state import MemoryStateStore
from tests.integration.databases.harness import (
    check_marks_set_by_hand,
    extract,
    load,
    mistyped_names,
)

TABLE = 'odd `name` "select"'
CONN = "test-mysql"


def sql(url: str, *statements: str) -> list[tuple[Any, ...]]:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = pymysql.connect(host=u.hostname, port=u.port or 3306, user=u.username or "root",
                           password=u.password or "", database=u.path.lstrip("/"),
                           charset="utf8mb4", autocommit=True, init_command="SET time_zone='+00:00'")
    rows: list[tuple[Any, ...]] = []
    with conn.cursor() as cur:
        for s in statements:
            cur.execute(s)
            rows = list(cur.fetchall())
    conn.close()
    return rows


def snapshot(url: str) -> list[tuple[Any, ...]]:
    return sorted(sql(url, "SELECT id, `text` FROM `odd ``name`` \"select\"`"))


def test_types_are_mapped(mysql_url: str, tmp_path: Path) -> None:
    sql(mysql_url, """CREATE TABLE t (id INT UNSIGNED PRIMARY KEY, big BIGINT UNSIGNED,
        small TINYINT, flag TINYINT(1), price DECIMAL(12,3), wall DATETIME(6), instant TIMESTAMP(6) NULL,
        day DATE, doc JSON, raw BLOB, label VARCHAR(20), f FLOAT, d DOUBLE)""",
        """INSERT INTO t VALUES (1, 18446744073709551615, -128, 1, 123456789.125,
        '2024-03-31 02:30:00.123456', '2024-03-31 01:00:00.5', '1000-01-01', '{"a": [1, 2]}',
        X'00FF10', 'héllo 🚀', 1.5, -2.25e300)""",
        "INSERT INTO t (id) VALUES (2)")
    back, _ = extract("mysql", tmp_path, connection=CONN, table="t")
    types = {f.name: str(f.type) for f in back.schema}
    assert types == {"id": "uint32", "big": "uint64", "small": "int8", "flag": "bool",
                     "price": "decimal128(12, 3)", "wall": "timestamp[us]",
                     "instant": "timestamp[us, tz=UTC]", "day": "date32[day]",
                     "doc": "string", "raw": "binary", "label": "string", "f": "float",
                     "d": "double"}
    rows = back.sort_by("id").to_pylist()
    first = rows[0]
    assert first["big"] == 2**64 - 1 and first["flag"] is True
    assert first["price"] == decimal.Decimal("123456789.125")
    assert first["wall"] == dt.datetime(2024, 3, 31, 2, 30, 0, 123456)
    assert first["instant"] == dt.datetime(2024, 3, 31, 1, 0, 0, 500000, tzinfo=dt.UTC)
    assert first["raw"] == b"\x00\xff\x10" and first["label"] == "héllo 🚀"
    assert '"a"' in first["doc"]
    assert all(v is None for k, v in rows[1].items() if k != "id")


AWKWARD = pa.table({
    "id": pa.array([1, 2, 3, 4], pa.int64()),
    "text": ["plain", "ünïcødé ✓ \"q\" 'a' \\ ,", "emoji 🚀🔥\nline", "x" * 100_000],
    "amount": [0.0, -1.5e300, None, 3.25],
    "flag": [True, False, None, True],
    "raw": [b"\x00", None, b"", b"\xff" * 10],
    "ts": [dt.datetime(2024, 3, 31, 1, 59, 59), dt.datetime(2024, 3, 31, 3, 0, 0), None,
           dt.datetime(1970, 1, 1)],
})


@pytest.mark.parametrize("method", ["load_data", "insert"])
def test_both_bulk_paths_round_trip(method: str, mysql_url: str, tmp_path: Path) -> None:
    result = load("mysql", AWKWARD, tmp_path, connection=CONN, table=TABLE, bulk_method=method)
    assert result.status == "succeeded", result.error
    assert result.nodes["out"].extra["rows_inserted"] == 4
    back, _ = extract("mysql", tmp_path, connection=CONN, table=TABLE)
    back = back.sort_by("id")
    for name in AWKWARD.column_names:
        assert back.column(name).to_pylist() == AWKWARD.column(name).to_pylist(), name


@pytest.mark.parametrize("method", ["load_data", "insert"])
def test_float32_extremes_round_trip(method: str, mysql_url: str, tmp_path: Path) -> None:
    """float32's maximum was written as its shortest text, 3.4028235e+38, which is above what
    a FLOAT holds: LOAD DATA refused it as out of range."""
    import numpy as np

    info = np.finfo(np.float32)
    values = [float(info.max), float(-info.max), float(info.tiny), 1.1, None]
    data = pa.table({"id": list(range(5)), "f": pa.array(values, pa.float32())})
    result = load("mysql", data, tmp_path, connection=CONN, table="f32", bulk_method=method)
    assert result.status == "succeeded", result.error
    back, _ = extract("mysql", tmp_path, connection=CONN, table="f32")
    assert back.sort_by("id").column("f").to_pylist() == data.column("f").to_pylist()


def test_modes_and_schema_evolution(mysql_url: str, tmp_path: Path) -> None:
    first = pa.table({"id": [1, 2], "text": ["a", "b"]})
    run = lambda data, **kw: load("mysql", data, tmp_path, connection=CONN, table=TABLE, **kw)  # noqa: E731
    assert run(first).status == "succeeded"
    assert run(first, mode="append").status == "succeeded"
    assert snapshot(mysql_url) == [(1, "a"), (1, "a"), (2, "b"), (2, "b")]
    assert run(first, mode="replace", keys=["id"]).status == "succeeded"
    assert snapshot(mysql_url) == [(1, "a"), (2, "b")]
    result = run(pa.table({"id": [2, 3], "text": ["B", "c"]}), mode="upsert", keys=["id"])
    assert result.status == "succeeded", result.error
    extra = result.nodes["out"].extra
    assert (extra["rows_inserted"], extra["rows_updated"]) == (1, 1)
    assert snapshot(mysql_url) == [(1, "a"), (2, "B"), (3, "c")]
    wider = pa.table({"id": [4], "text": ["d"], "extra": [1.5]})
    failed = run(wider, schema_evolution="fail")
    assert failed.status == "failed" and failed.error is not None
    assert "extra" in failed.error.reason and "add_columns" in failed.error.reason
    assert run(wider).status == "succeeded"
    back, _ = extract("mysql", tmp_path, connection=CONN, table=TABLE)
    assert back.sort_by("id").column("extra").to_pylist() == [None, None, None, 1.5]


def test_upsert_without_unique_index_is_refused(mysql_url: str, tmp_path: Path) -> None:
    sql(mysql_url, "CREATE TABLE plain (id INT, v TEXT)")
    result = load("mysql", pa.table({"id": [1], "v": ["a"]}), tmp_path, connection=CONN,
                  table="plain", mode="upsert", keys=["id"])
    assert result.status == "failed" and result.error is not None
    assert "unique index" in result.error.reason


@pytest.mark.parametrize("method", ["load_data", "insert"])
def test_upsert_on_a_nullable_unique_key(method: str, mysql_url: str, tmp_path: Path) -> None:
    """A unique key lets NULL keys repeat: rows with a NULL key are inserted (they match no row,
    as in the target's index), the last row of a repeated key wins, and the counts say so. The
    counts took NULL for a match and said 2 updated, 1 inserted."""
    sql(mysql_url, "CREATE TABLE nk (id INT NULL, v VARCHAR(10), UNIQUE KEY (id))",
        "INSERT INTO nk VALUES (1, 'old'), (NULL, 'n0')")
    data = pa.table({"id": [1, None, 1, 2], "v": ["a", "b", "c", "d"]})
    result = load("mysql", data, tmp_path, connection=CONN, table="nk", mode="upsert",
                  keys=["id"], bulk_method=method)
    assert result.status == "succeeded", result.error
    assert sorted(sql(mysql_url, "SELECT id, v FROM nk"), key=repr) == \
        [(1, "c"), (2, "d"), (None, "b"), (None, "n0")]
    extra = result.nodes["out"].extra
    assert (extra["rows_inserted"], extra["rows_updated"]) == (2, 1)


@pytest.mark.parametrize("method", ["load_data", "insert", "pushdown"])
def test_values_the_column_would_round_are_refused(method: str, mysql_url: str,
                                                   tmp_path: Path) -> None:
    """MySQL rounds 1.234 into DECIMAL(5,2) (a note, not a warning) and 1.5 into INT (nothing
    at all): the load succeeded with other values than the data's."""
    from tests.helpers import chain, node, run_doc

    sql(mysql_url, "CREATE TABLE n (id INT, price DECIMAL(5,2), qty INT)",
        "CREATE TABLE src (id INT, price DECIMAL(10,3), qty DOUBLE)")

    def append(price: str, qty: float) -> Any:
        if method == "pushdown":
            sql(mysql_url, "DELETE FROM src", f"INSERT INTO src VALUES (1, {price}, {qty})")
            result = run_doc(chain(node("s", "extractor", "mysql", connection=CONN, table="src"),
                                   node("t", "transformer", "derive", columns={"id": "id + 0"}),
                                   node("out", "loader", "mysql", connection=CONN, table="n")),
                             data_dir=tmp_path / "d")
            assert "pushed_down" in result.nodes["out"].extra or result.status == "failed"
            return result
        data = pa.table({"id": [1], "price": pa.array([decimal.Decimal(price)], pa.decimal128(10, 3)),
                         "qty": pa.array([qty], pa.float64())})
        return load("mysql", data, tmp_path, connection=CONN, table="n", bulk_method=method)

    exact = append("1.200", 2.0)
    assert exact.status == "succeeded", exact.error
    assert sql(mysql_url, "SELECT price, qty FROM n") == [(decimal.Decimal("1.20"), 2)]
    for price, qty, column, value in (("1.234", 2.0, "price", "1.234"), ("1.5", 1.5, "qty", "1.5")):
        result = append(price, qty)
        assert result.status == "failed" and result.error is not None
        assert f"column {column!r} holds {value}" in result.error.reason, result.error.reason
        assert "round" in result.error.reason
    assert sql(mysql_url, "SELECT price, qty FROM n") == [(decimal.Decimal("1.20"), 2)]


@pytest.mark.parametrize("method", ["load_data", "insert"])
def test_upsert_on_a_case_insensitive_key(method: str, mysql_url: str, tmp_path: Path) -> None:
    """Under a _ci collation 'x' and 'X' are one key: staging compared keys in binary, kept both,
    and the target took whichever came last in staging's order (the first row of each key)."""
    sql(mysql_url, "CREATE TABLE k (code VARCHAR(10) PRIMARY KEY, v INT) "
        "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci", "INSERT INTO k VALUES ('x', 0)")
    data = pa.table({"code": ["x", "X", "y", "Y"], "v": [1, 2, 3, 4]})
    result = load("mysql", data, tmp_path, connection=CONN, table="k", mode="upsert",
                  keys=["code"], bulk_method=method)
    assert result.status == "succeeded", result.error
    assert sorted(sql(mysql_url, "SELECT code, v FROM k")) == [("Y", 4), ("x", 2)]
    extra = result.nodes["out"].extra
    assert (extra["rows_inserted"], extra["rows_updated"]) == (1, 1)


@pytest.mark.parametrize("method", ["load_data", "insert"])
def test_keys_differing_by_case_or_trailing_spaces_are_distinct_in_tables_it_creates(
        method: str, mysql_url: str, tmp_path: Path) -> None:
    """Staging and the tables the loader creates were utf8mb4_bin, which ignores trailing
    spaces: of the keys 'a', 'a ' and 'A', the row of 'a' was lost."""
    data = pa.table({"code": ["a", "a ", "A"], "v": [1, 2, 3]})
    for _ in range(2):  # creates the table, then upserts into it
        result = load("mysql", data, tmp_path, connection=CONN, table="codes", mode="upsert",
                      keys=["code"], bulk_method=method)
        assert result.status == "succeeded", result.error
        assert sorted(sql(mysql_url, "SELECT code, v FROM codes")) == [("A", 3), ("a", 1), ("a ", 2)]


@pytest.mark.parametrize("method", ["load_data", "insert"])
def test_replace_keeps_the_tables_definition(method: str, mysql_url: str, tmp_path: Path) -> None:
    """`replace` renamed a table built from the data's columns over the target: the user's
    types, character sets, defaults, indexes and options were lost. The rows now go into a copy
    of the table's definition (through staging when values must be checked for rounding)."""
    sql(mysql_url, "CREATE TABLE kept (id INT NOT NULL, name VARCHAR(20) CHARACTER SET latin1 "
        "NOT NULL, status VARCHAR(10) NOT NULL DEFAULT 'new', amount DECIMAL(8,2), "
        "PRIMARY KEY (id), KEY by_name (name)) ENGINE=InnoDB COMMENT='mine'",
        "INSERT INTO kept VALUES (1, 'old', 'done', 1.5)")
    before = sql(mysql_url, "SHOW CREATE TABLE kept")
    run = lambda data, **kw: load("mysql", data, tmp_path, connection=CONN, table="kept",  # noqa: E731
                                  mode="replace", bulk_method=method, **kw)
    rows = lambda: sorted(sql(mysql_url, "SELECT id, name, status, amount FROM kept"))  # noqa: E731
    amounts = [decimal.Decimal("2.500"), None]
    for amount_type in (pa.decimal128(8, 2), pa.decimal128(10, 3)):  # straight, through staging
        new = pa.table({"id": [7, 8], "name": ["x", "é"],
                        "amount": pa.array(amounts, amount_type)})
        result = run(new)
        assert result.status == "succeeded", result.error
        assert result.nodes["out"].extra["rows_inserted"] == 2
        assert sql(mysql_url, "SHOW CREATE TABLE kept") == before
        assert rows() == [(7, "x", "new", decimal.Decimal("2.50")),
                          (8, "é", "new", None)]
    assert run(new.slice(0, 1), fail=True).status == "failed"  # a failure mid-load
    assert rows() == [(7, "x", "new", decimal.Decimal("2.50")), (8, "é", "new", None)]
    assert sql(mysql_url, "SHOW TABLES") == [("kept",)]
    wider = new.append_column("note", pa.array(["n", None]))
    assert run(wider).status == "succeeded"
    after = sql(mysql_url, "SHOW CREATE TABLE kept")[0][1]
    assert "`note` longtext" in after and "KEY `by_name`" in after and "COMMENT='mine'" in after


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_failure_mid_load_leaves_the_table_unchanged(mode: str, mysql_url: str, tmp_path: Path) -> None:
    setup = load("mysql", pa.table({"id": [1, 2], "text": ["a", "b"]}), tmp_path, connection=CONN,
                 table=TABLE, mode="replace", keys=["id"])
    assert setup.status == "succeeded", setup.error
    before = snapshot(mysql_url)
    big = pa.table({"id": list(range(10, 20)), "text": ["n"] * 10, "new col": [1] * 10})
    keys = {"keys": ["id"]} if mode == "upsert" else {}
    result = load("mysql", big, tmp_path, fail=True, connection=CONN, table=TABLE, mode=mode, **keys)
    assert result.status == "failed"
    assert result.error is not None and "source connection lost" in result.error.reason
    assert snapshot(mysql_url) == before
    cols = sql(mysql_url, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
               "TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION")
    assert cols == [("id",), ("text",)]  # no new column, no staging table left behind


def test_query_parameters_are_bound(mysql_url: str, tmp_path: Path) -> None:
    sql(mysql_url, "CREATE TABLE p (id INT, name TEXT)",
        "INSERT INTO p VALUES (1, 'a%'), (2, 'b'), (3, 'c''; DROP TABLE p; --')")
    back, _ = extract("mysql", tmp_path, connection=CONN, parameters={"min_id": 2},
                      query="SELECT * FROM p WHERE id >= :min_id AND name NOT LIKE 'zz%' ORDER BY id")
    assert back.column("id").to_pylist() == [2, 3]
    back, _ = extract("mysql", tmp_path, connection=CONN, table="p", where="id < :min_id",
                      parameters={"min_id": 3})
    assert sorted(back.column("name").to_pylist()) == ["a%", "b"]


def test_incremental_keyset_and_state(mysql_url: str, tmp_path: Path) -> None:
    sql(mysql_url, "CREATE TABLE ev (id INT PRIMARY KEY, at DATETIME, v TEXT)",
        "INSERT INTO ev VALUES " + ", ".join(
            f"({i}, '2024-01-0{1 + i // 4} 00:00:00', 'v{i}')" for i in range(10)),
        # rows without a cursor value, sorted first by MySQL: more than a page of them made
        # every page restart from the beginning, forever
        "INSERT INTO ev VALUES " + ", ".join(f"({i}, NULL, 'no cursor')" for i in range(20, 27)))
    state = MemoryStateStore()
    inc = {"cursor_column": "at", "key_column": "id", "page_size": 3}
    back, _ = extract("mysql", tmp_path, state=state, connection=CONN, table="ev", incremental=inc)
    assert sorted(back.column("id").to_pylist()) == list(range(10))
    saved = state.get("p-read", "src")
    assert saved is not None and saved["last_key"] == 9 and saved["last_value"].startswith("2024-01-03")
    back, _ = extract("mysql", tmp_path, state=state, connection=CONN, table="ev", incremental=inc)
    assert back.num_rows == 0
    sql(mysql_url, "INSERT INTO ev VALUES (10, '2024-01-03 00:00:00', 'same ts'), "
        "(11, '2024-02-01 00:00:00', 'later')")
    back, _ = extract("mysql", tmp_path, state=state, connection=CONN, table="ev", incremental=inc)
    assert sorted(back.column("id").to_pylist()) == [10, 11]


def test_incremental_marks_set_by_hand(mysql_url: str, tmp_path: Path) -> None:
    """`ecluse state set P NODE --last-value X` was ignored on a node without state (the mark
    names no `cursor_column`), and over a run's state the rows at X itself were skipped
    (`cursor > X`): a mark set by hand reads from X on, its own rows included."""
    sql(mysql_url, "CREATE TABLE ev (id INT PRIMARY KEY, at DATETIME)",
        "INSERT INTO ev VALUES " + ", ".join(
            f"({i}, '2024-01-0{1 + i // 4} 00:00:00')" for i in range(10)))
    check_marks_set_by_hand("mysql", tmp_path, CONN, plain={"cursor_column": "at"},
                            plain_mark="2024-01-02", plain_after=list(range(4, 10)),
                            expected_mark={"cursor_column": "at", "key_column": "id",
                                           "last_value": "2024-01-03", "last_key": None,
                                           "inclusive": True})


def test_incremental_on_a_binary_key_is_refused(mysql_url: str, tmp_path: Path) -> None:
    """A BINARY(16) key's position was kept as the text "b'...'", which matched no key: the
    same page was read again, forever."""
    sql(mysql_url, "CREATE TABLE bk (k BINARY(2) PRIMARY KEY, at DATE)",
        "INSERT INTO bk VALUES (X'0001', '2024-01-01'), (X'0002', '2024-01-01'), "
        "(X'0003', '2024-01-01')")
    _, result = extract("mysql", tmp_path, connection=CONN, table="bk", expect_ok=False,
                        incremental={"cursor_column": "at", "key_column": "k", "page_size": 2})
    assert result.status == "failed" and result.error is not None
    assert "binary column cannot be an incremental" in result.error.reason


def test_design_time_schema_and_preview(mysql_url: str) -> None:
    from tests.helpers import chain, node, preview, schemas

    sql(mysql_url, "CREATE TABLE d (id INT, name TEXT)",
        "INSERT INTO d VALUES " + ", ".join(f"({i}, 'n{i}')" for i in range(100)))
    doc = chain(node("src", "extractor", "mysql", connection=CONN, table="d"),
                node("out", "loader", "parquet", path="out.parquet"))
    assert schemas(doc)["src"] == [("id", "int32"), ("name", "string")]
    assert preview(doc, "src", limit=5).num_rows == 5


def test_connectorx_and_pymysql_paths_agree(mysql_url: str, tmp_path: Path) -> None:
    """connectorx reads what it can decode faithfully (TIME and wide DECIMALs converted by the
    server first); a spatial column sends the whole query through PyMySQL. Same values."""
    sql(mysql_url, """CREATE TABLE w (id INT PRIMARY KEY, tm TIME(6), wide DECIMAL(38, 5),
        fine DECIMAL(30, 20), plain DECIMAL(12, 3), flag TINYINT(1), instant TIMESTAMP(6) NULL,
        name TEXT, spot POINT)""",
        """INSERT INTO w VALUES (1, '838:59:59.5', 123456789012345678901234567890123.12345,
        0.12345678901234567891, -1.5, 0, '2024-10-27 01:30:00', 'x''; DROP TABLE w; --', POINT(1, 2)),
        (2, '25:00:00', NULL, NULL, NULL, NULL, NULL, NULL, NULL)""")
    cols = ["id", "tm", "wide", "fine", "plain", "flag", "instant", "name"]
    fast, fast_run = extract("mysql", tmp_path, connection=CONN, table="w", columns=cols)
    slow, slow_run = extract("mysql", tmp_path, connection=CONN, table="w")
    assert fast_run.nodes["src"].extra["reader"] == "connectorx"
    assert slow_run.nodes["src"].extra["reader"] == "pymysql"
    assert fast.schema == slow.select(cols).schema
    assert fast.sort_by("id").to_pylist() == slow.select(cols).sort_by("id").to_pylist()
    first = fast.sort_by("id").to_pylist()[0]
    assert first["tm"] is not None  # > 24 h; the PyMySQL path agrees on it (above)
    assert first["wide"] == decimal.Decimal("123456789012345678901234567890123.12345")
    assert first["fine"] == decimal.Decimal("0.12345678901234567891") and first["flag"] is False
    assert first["instant"] == dt.datetime(2024, 10, 27, 1, 30, tzinfo=dt.UTC)
    # a condition (values bound) streams from connectorx in a child process, so a query slow
    # to produce rows holds no GIL here (connectorx's does while it waits); same values
    back, run = extract("mysql", tmp_path, connection=CONN, table="w", columns=cols,
                        where="id >= :min_id OR name = 'x'':'", parameters={"min_id": 2})
    assert run.nodes["src"].extra["reader"] == "connectorx-process"
    assert back.to_pylist() == [r for r in slow.select(cols).sort_by("id").to_pylist() if r["id"] >= 2]
    # a keyset page is bounded by its LIMIT: read whole, in this process, without the GIL
    back, run = extract("mysql", tmp_path, connection=CONN, table="w", columns=cols,
                        incremental={"cursor_column": "id", "key_column": "id", "page_size": 1})
    assert run.nodes["src"].extra["reader"] == "connectorx-pages"
    assert back.sort_by("id").to_pylist() == fast.sort_by("id").to_pylist()


def test_decimal_expressions_read_exactly(mysql_url: str, tmp_path: Path) -> None:
    """Computed DECIMALs come back as the (p, s) the server declares, every digit kept: the
    rescale from connectorx's (38, 10) drops only zeros."""
    sql(mysql_url, "CREATE TABLE dx (id INT PRIMARY KEY, v DECIMAL(12, 3))",
        "INSERT INTO dx VALUES (1, 999999999.999), (2, -999999999.999), (3, 0.001), (4, NULL)")
    query = ("SELECT id, v * 1000 AS big, v / 7 AS ratio, -v AS neg, SUM(v) OVER () AS total, "
             "CAST(v AS DECIMAL(14, 1)) AS rounded, v + 0.5 AS shifted FROM dx")
    got, run = extract("mysql", tmp_path, connection=CONN, query=query)
    assert run.nodes["src"].extra["reader"] == "connectorx-process"
    expected = sql(mysql_url, query + " ORDER BY id")
    names = got.column_names
    assert [tuple(r[n] for n in names) for r in got.sort_by("id").to_pylist()] == expected
    assert got.schema.field("ratio").type.scale == 7 and expected[0][2] == decimal.Decimal(
        "142857142.8570000")


def test_a_decimal_wider_than_the_server_declared_fails_on_the_extractor(
        mysql_url: str, tmp_path: Path) -> None:
    """MariaDB declares ROUND(x, <a column>) with x's precision, though ROUND(99.99, 0) is
    100.00: the run fails on the extractor, naming the column and the fix, and writes nothing."""
    sql(mysql_url, "CREATE TABLE rd (f DECIMAL(4, 2), n INT)", "INSERT INTO rd VALUES (99.99, 0)")
    _, run = extract("mysql", tmp_path, connection=CONN, expect_ok=False,
                     query="SELECT ROUND(f, n) AS r FROM rd")
    assert run.status == "failed" and run.error is not None
    assert (run.error.node_id, run.error.field) == ("src", "query")
    assert "column 'r'" in run.error.reason and "CAST the expression" in run.error.reason
    assert run.nodes["out"].status == "cancelled"
    assert not (tmp_path / "back.parquet").exists()


def test_cancel_kills_the_running_query(mysql_url: str, tmp_path: Path) -> None:
    import threading

    from ecluse.engine.run import RunOptions, run_pipeline
    from ecluse.sdk.context import CancelToken
    from tests.helpers import chain, compile_doc, node

    slow = "SELECT seq, SLEEP(0.01) AS s FROM seq_1_to_1000000"  # ~3 hours if left alone
    doc = chain(node("src", "extractor", "mysql", connection=CONN, query=slow),
                node("out", "loader", "parquet", path=str(tmp_path / "o.parquet")))
    cancel = CancelToken()
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.update(r=run_pipeline(
        compile_doc(doc), RunOptions(data_dir=tmp_path / "d", cancel=cancel))))
    worker.start()

    def running() -> list[tuple[Any, ...]]:
        return sql(mysql_url, "SELECT ID FROM information_schema.PROCESSLIST "
                   "WHERE INFO LIKE '%seq_1_to_1000000%' AND ID <> CONNECTION_ID()")
    while not running():  # the query reached the server
        worker.join(0.1)
        assert worker.is_alive(), box
    cancel.cancel()
    worker.join(120)
    assert not worker.is_alive() and box["r"].status == "cancelled"
    assert running() == []


def test_cancel_during_load_data_stops_at_once_and_says_cancelled(mysql_url: str,
                                                                 tmp_path: Path) -> None:
    """Cancelling while LOAD DATA runs: the thread writing the CSV files blocked on handing over
    its next file (or the error the cancel gave it) and the loader waited 60 s for it, then was
    reported failed."""
    import threading

    from ecluse.sdk.context import CancelToken

    rows = 1_000_000
    big = pa.table({"id": pa.array(range(rows), pa.int64()), "v": pa.array(["some text"] * rows)})
    cancel = CancelToken()
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.update(r=load(
        "mysql", big, tmp_path, chunk=50_000, cancel=cancel, connection=CONN, table="big",
        bulk_method="load_data")))
    worker.start()
    while not sql(mysql_url, "SELECT ID FROM information_schema.PROCESSLIST "
                  "WHERE INFO LIKE 'LOAD DATA%'"):  # the second file is written meanwhile
        worker.join(0.05)
        assert worker.is_alive(), box
    cancel.cancel()
    worker.join(120)
    result = box["r"]
    assert (result.status, result.nodes["out"].status) == ("cancelled", "cancelled")
    assert "mysql-csv" not in [t.name for t in threading.enumerate()]
    assert sql(mysql_url, "SHOW TABLES") == []  # neither the target nor staging


def test_a_query_failing_in_the_child_reports_the_servers_error(mysql_url: str, tmp_path: Path) -> None:
    sql(mysql_url, "CREATE TABLE two (id INT)", "INSERT INTO two VALUES (1), (2)")
    # the probe (LIMIT 0) never runs the subquery; the read does, in connectorx's child process
    failing = "SELECT id, (SELECT id FROM two) AS sub FROM two"
    _, run = extract("mysql", tmp_path, connection=CONN, expect_ok=False, query=failing)
    assert run.status == "failed" and run.error is not None
    assert "MySQL rejected the query: Subquery returns more than 1 row" in run.error.reason
    # the same failure in this process (a keyset page, connectorx's `arrow` mode)
    _, run = extract("mysql", tmp_path, connection=CONN, expect_ok=False, query=failing,
                     incremental={"cursor_column": "id", "key_column": "id"})
    assert run.status == "failed" and run.error is not None
    assert "MySQL rejected the query: Subquery returns more than 1 row" in run.error.reason


def test_a_time_column_copies_to_another_table(mysql_url: str, tmp_path: Path) -> None:
    """TIME (negative, past 24 h) is read as a duration; on the DuckDB engine it became an
    interval that the loader could not take."""
    from tests.helpers import chain, node, run_doc

    sql(mysql_url, "CREATE TABLE tm (id INT PRIMARY KEY, t TIME(6))",
        "INSERT INTO tm VALUES (1, '838:59:59.5'), (2, '-01:00:00'), (3, NULL)")
    doc = chain(node("src", "extractor", "mysql", connection=CONN, table="tm"),
                node("out", "loader", "mysql", connection=CONN, table="tm_copy"))
    result = run_doc(doc)
    assert result.status == "succeeded", result.error
    assert sql(mysql_url, "SELECT id, CAST(t AS CHAR) FROM tm_copy ORDER BY id") == [
        (1, "838:59:59.500000"), (2, "-01:00:00.000000"), (3, None)]


def test_a_decimal_38_10_holding_38_digits_reads_exactly(mysql_url: str, tmp_path: Path) -> None:
    """connectorx decodes DECIMALs into 28 digits at scale 10: DECIMAL(38,10) values with more
    than 18 integer digits failed ('decimal scale is not equal to expected scale')."""
    sql(mysql_url, "CREATE TABLE d38 (id INT PRIMARY KEY, v DECIMAL(38, 10), w DECIMAL(28, 0))",
        "INSERT INTO d38 VALUES (1, 1234567890123456789012345678.1234567890, "
        "9999999999999999999999999999), (2, -9999999999999999999999999999.9999999999, -1), "
        "(3, NULL, NULL)")
    expected = [(1, decimal.Decimal("1234567890123456789012345678.1234567890"),
                 decimal.Decimal("9999999999999999999999999999")),
                (2, decimal.Decimal("-9999999999999999999999999999.9999999999"), decimal.Decimal(-1)),
                (3, None, None)]
    for config in ({"table": "d38"}, {"query": "SELECT * FROM d38"}):
        back, run = extract("mysql", tmp_path, connection=CONN, **config)
        assert run.nodes["src"].extra["reader"].startswith("connectorx")
        assert back.schema.field("v").type == pa.decimal128(38, 10)
        assert [tuple(r.values()) for r in back.sort_by("id").to_pylist()] == expected


@pytest.mark.parametrize("spatial", [False, True])  # connectorx, then PyMySQL
def test_a_decimal_wider_than_38_digits_reads_as_exact_text(
        spatial: bool, mysql_url: str, tmp_path: Path) -> None:
    """DECIMAL(65,30) was read as decimal256, which DuckDB cannot take ('Unsupported Internal
    Arrow Type for Decimal'): it is read as its exact text, with a warning naming the column,
    and reaches a file, a new table and a DECIMAL(65,30) column of an existing table."""
    from ecluse.engine.run import RunOptions, run_pipeline
    from tests.helpers import chain, compile_doc, node

    big = "12345678901234567890123456789012345.123456789012345678901234567890"
    spot = ", p POINT" if spatial else ""
    sql(mysql_url, f"CREATE TABLE wide (id INT PRIMARY KEY, v DECIMAL(65, 30){spot})",
        f"INSERT INTO wide (id, v) VALUES (1, {big}), (2, -0.5), (3, NULL)",
        "CREATE TABLE wide_copy (id INT PRIMARY KEY, v DECIMAL(65, 30))")
    source = node("src", "extractor", "mysql", connection=CONN, table="wide")
    expected = [big, "-0.500000000000000000000000000000", None]
    for target in (node("out", "loader", "parquet", path=str(tmp_path / "w.parquet")),
                   node("out", "loader", "mysql", connection=CONN, table="wide_new"),
                   node("out", "loader", "mysql", connection=CONN, table="wide_copy", mode="append")):
        events: list[Any] = []
        result = run_pipeline(compile_doc(chain(source, target)), RunOptions(
            data_dir=tmp_path / "d", on_event=events.append, pushdown=False))
        assert result.status == "succeeded", result.error
        assert result.nodes["src"].extra["reader"] == ("pymysql" if spatial else "connectorx")
        warnings = [e for e in events if e.kind == "log" and e.node_id == "src"
                    and e.data.get("level") == "warning"]
        assert len(warnings) == 1 and "column 'v' is DECIMAL(65,30)" in warnings[0].data["message"]
    import pyarrow.parquet as pq

    back = pq.read_table(tmp_path / "w.parquet").sort_by("id")
    assert back.schema.field("v").type == pa.string() and back.column("v").to_pylist() == expected
    assert sql(mysql_url, "SELECT CAST(v AS CHAR) FROM wide_new ORDER BY id") == [(v,) for v in expected]
    assert sql(mysql_url, "SELECT v FROM wide_copy ORDER BY id") == [
        (None if v is None else decimal.Decimal(v),) for v in expected]


def test_a_mistyped_table_or_column_gets_a_suggestion(mysql_url: str, tmp_path: Path) -> None:
    """The server only said "Table 'db.ordrs' doesn't exist" (or "Unknown column"), on `table`
    whatever was mistyped; the names it has are looked up then, for a 'Did you mean'."""
    from ecluse.engine.design import node_schemas
    from tests.helpers import chain, compile_doc, node

    db = mysql_url.rsplit("/", 1)[1]
    sql(mysql_url, "CREATE TABLE orders (id INT, amount INT)")
    for config, field, message in (
            *mistyped_names(db, "Ordrs"),
            ({"table": "orders", "where": "o.amout > 1"}, "where",
             "MySQL rejected the condition: Unknown column 'o.amout' in 'WHERE'. Did you mean "
             "'amount'?")):
        _, run = extract("mysql", tmp_path, connection=CONN, expect_ok=False, **config)
        assert run.error is not None and (run.error.field, run.error.reason) == (field, message)
    doc = chain(node("src", "extractor", "mysql", connection=CONN, table="ordrs"),
                node("out", "loader", "mysql", connection=CONN, table="copy"))
    error = node_schemas(compile_doc(doc))["src"].error
    assert error is not None and error.field == "table" and "Did you mean 'orders'?" in error.reason


def test_a_zero_date_fails_naming_its_column_and_the_way_out(mysql_url: str, tmp_path: Path) -> None:
    """With a lax sql_mode MySQL stores '0000-00-00' (or '2024-02-00'), which is no date:
    connectorx failed with "Couldn't convert the value `Date(\"'0000-00-00'\")`", PyMySQL with
    "object of type <class 'str'> cannot be converted to int", neither naming the column."""
    sql(mysql_url, "SET SESSION sql_mode = ''",
        "CREATE TABLE zd (id INT PRIMARY KEY, d DATE, t DATETIME, p POINT NULL)",
        "INSERT INTO zd VALUES (1, '2024-01-05', '2024-01-05 10:00:00', NULL), "
        "(2, '0000-00-00', '0000-00-00 00:00:00', NULL)")
    for config, reader in (({"table": "zd", "columns": ["id", "d"]}, "connectorx"),
                           ({"table": "zd"}, "pymysql")):
        _, run = extract("mysql", tmp_path, connection=CONN, expect_ok=False, **config)
        assert run.nodes["src"].extra["reader"] == reader
        assert run.error is not None and run.error.field == "table"
        assert run.error.reason.startswith("column 'd' holds '0000-00-00', a MySQL zero date")
        assert "NULLIF(`d`, '0000-00-00')" in run.error.reason
    back, _ = extract("mysql", tmp_path, connection=CONN,
                      query="SELECT id, NULLIF(`d`, '0000-00-00') AS d FROM zd")
    assert back.sort_by("id").column("d").to_pylist() == [dt.date(2024, 1, 5), None]


def test_a_tinyint1_holding_other_numbers_than_0_and_1_fails_naming_it(mysql_url: str,
                                                                         tmp_path: Path) -> None:
    """TINYINT(1) is read as a boolean (MySQL's BOOLEAN is TINYINT(1)); a 5 in it was read as
    true, on every read path. Now the read fails naming the column and the cast that keeps the
    numbers."""
    sql(mysql_url, "CREATE TABLE tb (id INT PRIMARY KEY, flag TINYINT(1), spot POINT)",
        "INSERT INTO tb VALUES (1, 0, NULL), (2, 1, NULL), (3, NULL, NULL), (4, 5, POINT(1, 2))")
    readings: list[dict[str, Any]] = [
        {"table": "tb", "columns": ["id", "flag"]},  # connectorx in this process
        {"table": "tb", "columns": ["id", "flag"], "where": "id > 0"},  # in a child process
        {"table": "tb", "columns": ["id", "flag"],  # keyset pages, read whole
         "incremental": {"cursor_column": "id", "key_column": "id", "page_size": 10}},
        {"table": "tb"},  # PyMySQL (a POINT column)
    ]
    for config in readings:
        _, run = extract("mysql", tmp_path, connection=CONN, expect_ok=False, **config)
        assert run.error is not None and run.error.field == "query", config
        assert run.error.reason.startswith("column 'flag' is TINYINT(1), which MySQL uses for "
                                           "booleans and the extractor reads as one, but it "
                                           "holds 5, which is not 0 or 1"), run.error.reason
    back, _ = extract("mysql", tmp_path, connection=CONN,
                      query="SELECT id, CAST(flag AS SIGNED) AS flag FROM tb")
    assert back.sort_by("id").column("flag").to_pylist() == [0, 1, None, 5]
    sql(mysql_url, "UPDATE tb SET flag = 1 WHERE id = 4")
    back, _ = extract("mysql", tmp_path, connection=CONN, table="tb", columns=["id", "flag"])
    assert back.sort_by("id").column("flag").to_pylist() == [False, True, None, True]


def test_booleans_and_numbers_do_not_mix_in_one_column(mysql_url: str, tmp_path: Path) -> None:
    """As PostgreSQL, SQLite, DuckDB and ClickHouse refuse them: MySQL stored true as 1 in an
    INT column, and a 5 in a BOOLEAN one (which then read back as true)."""
    sql(mysql_url, "CREATE TABLE bn (id INT PRIMARY KEY, qty INT, ok BOOLEAN)",
        "INSERT INTO bn VALUES (1, 7, TRUE)")
    for data, message in (
            (pa.table({"id": [2], "qty": [True], "ok": [False]}),
             "column 'qty' of table 'bn' is of type INT(11), but the incoming 'qty' is boolean"),
            (pa.table({"id": [2], "qty": [3], "ok": [5]}),
             "column 'ok' of table 'bn' is of type TINYINT(1) (BOOLEAN), but the incoming 'ok' "
             "is int64")):
        for mode in ("append", "upsert"):
            result = load("mysql", data, tmp_path, connection=CONN, table="bn", mode=mode,
                          keys=["id"])
            assert result.status == "failed" and result.error is not None
            assert result.error.reason.startswith(message), result.error.reason
    assert sql(mysql_url, "SELECT id, qty, ok FROM bn") == [(1, 7, 1)]
    good = pa.table({"id": [2], "qty": [3], "ok": [False]})
    assert load("mysql", good, tmp_path, connection=CONN, table="bn", mode="append").status \
        == "succeeded"
    assert sql(mysql_url, "SELECT id, qty, ok FROM bn ORDER BY id") == [(1, 7, 1), (2, 3, 0)]


@pytest.mark.parametrize("method", ["load_data", "insert"])
def test_a_view_is_refused_in_every_mode(method: str, mysql_url: str, tmp_path: Path) -> None:
    """An append went through the view into its table; replace failed with MySQL's words
    ("'db.v' is not of type 'BASE TABLE'"), upsert asked for a unique index."""
    sql(mysql_url, "CREATE TABLE base (id INT PRIMARY KEY, name VARCHAR(20))",
        "INSERT INTO base VALUES (1, 'a')", "CREATE VIEW v AS SELECT id, name FROM base")
    for mode in ("append", "replace", "upsert"):
        result = load("mysql", pa.table({"id": [2], "name": ["b"]}), tmp_path, connection=CONN,
                      table="v", mode=mode, keys=["id"], bulk_method=method)
        assert result.status == "failed" and result.error is not None
        assert result.error.field == "table"
        assert result.error.reason == (
            f"table 'v' of connection {CONN!r} is a view, and a view cannot be loaded: it holds "
            "no rows of its own, only a query; nothing was changed: set `table` to the table it "
            "reads ('base') to load that, or to another name (a missing table is created)"), mode
    assert sql(mysql_url, "SELECT * FROM v") == [(1, "a")]


@pytest.mark.parametrize("method", ["load_data", "insert"])
@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_a_text_longer_than_its_column_is_refused_naming_it(method: str, mode: str,
                                                            mysql_url: str, tmp_path: Path) -> None:
    """MySQL named the column, but not its type nor the value, counting rows from the start of
    each bulk statement, and LOAD DATA said the values were 'truncated'; outside strict mode an
    INSERT cuts the text with a warning only. Trailing spaces beyond the length MySQL drops
    (a note), as PostgreSQL does."""
    sql(mysql_url, "CREATE TABLE w (id INT PRIMARY KEY, code VARCHAR(5), flag CHAR(3))",
        "INSERT INTO w VALUES (0, 'keep', 'k')")
    before = sql(mysql_url, "SELECT * FROM w")

    def attempt(column: str, values: list[Any]) -> Any:
        data = pa.table({"id": list(range(1, len(values) + 1)), column: values})
        return load("mysql", data, tmp_path, connection=CONN, table="w", mode=mode, keys=["id"],
                    bulk_method=method)

    for column, values, expected in (
            ("code", ["a", None, "abcde   ", "ünïcø", "x" * 30],
             "column 'code' of table 'w' is of type VARCHAR(5), but the incoming 'code' (string) "
             f"holds {'x' * 30!r} (30 characters, row 5): MySQL cannot store more than 5 "
             "characters there; nothing was changed: shorten it before this node (e.g. a "
             "derive's left(code, 5)) or filter it out, or widen the column (VARCHAR(30) or "
             "TEXT)"),
            ("flag", ["abcd"],
             "column 'flag' of table 'w' is of type CHAR(3), but the incoming 'flag' (string) "
             "holds 'abcd' (4 characters, row 1): MySQL cannot store more than 3 characters "
             "there")):
        result = attempt(column, values)
        assert result.status == "failed" and result.error is not None
        assert result.error.field == "table"
        assert result.error.reason.startswith(expected), result.error.reason
        assert sql(mysql_url, "SELECT * FROM w") == before
    if method == "insert":  # numbers are written as text by MySQL: its own error, explained
        result = attempt("code", [12, 1234567])
        assert result.status == "failed" and result.error is not None
        assert result.error.reason.startswith(
            "column 'code' of table 'w' is of type VARCHAR(5), and an incoming value is longer "
            "than it holds (MySQL: Data too long for column 'code' at row 2); nothing was "
            "changed"), result.error.reason
        assert sql(mysql_url, "SELECT * FROM w") == before
    result = attempt("code", ["a", None, "abcde   ", "ünïcø"])
    assert result.status == "succeeded", result.error
    assert sorted(sql(mysql_url, "SELECT id, code FROM w"), key=repr) == sorted(
        ([(0, "keep")] if mode != "replace" else []) +
        [(1, "a"), (2, None), (3, "abcde"), (4, "ünïcø")], key=repr)
