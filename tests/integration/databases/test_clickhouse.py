"""clickhouse extractor and loader against a real ClickHouse server (Debian's 18.16, native
protocol): types, every load mode, atomicity under a failure mid-load, awkward identifiers,
bound parameters, incremental state."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from clickhouse_driver import Client

from ecluse.engine.state import FileStateStore, MemoryStateStore
from tests.helpers import state_set
from tests.integration.databases.harness import (
    check_marks_set_by_hand,
    extract,
    load,
    mistyped_names,
)

TABLE = 'odd `name` "select"'
CONN = "test-clickhouse"


def sql(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    client = Client.from_url(url + "?allow_experimental_low_cardinality_type=1")
    try:
        result = client.execute(statement, params)
        return list(result) if isinstance(result, list) else []
    finally:
        client.disconnect()


def snapshot(url: str) -> list[tuple[Any, ...]]:
    return sorted(sql(url, "SELECT id, `text` FROM `odd \\`name\\` \"select\"`"))


def test_types_are_mapped(clickhouse_url: str, tmp_path: Path) -> None:
    sql(clickhouse_url, """CREATE TABLE t (id UInt32, big UInt64, small Int8, price Decimal(12, 3),
        at DateTime('UTC'), day Date, label LowCardinality(String), maybe Nullable(Float64),
        tags Array(String), kind Enum8('a' = 1, 'b' = 2)) ENGINE = MergeTree ORDER BY id""")
    sql(clickhouse_url, "INSERT INTO t SELECT 1, 18446744073709551615, -128, 123456789.125, "
        "toDateTime('2024-03-31 01:59:59', 'UTC'), toDate('2024-03-31'), 'héllo 🚀', NULL, "
        "['x', 'y'], 'b'")
    back, _ = extract("clickhouse", tmp_path, connection=CONN, table="t")
    types = {f.name: str(f.type) for f in back.schema}
    assert types == {"id": "uint32", "big": "uint64", "small": "int8",
                     "price": "decimal128(12, 3)", "at": "timestamp[us, tz=UTC]",
                     "day": "date32[day]", "label": "string", "maybe": "double",
                     "tags": "list<element: string>", "kind": "string"}
    row = back.to_pylist()[0]
    assert row["big"] == 2**64 - 1 and row["price"] == decimal.Decimal("123456789.125")
    assert row["at"] == dt.datetime(2024, 3, 31, 1, 59, 59, tzinfo=dt.UTC)
    assert row["label"] == "héllo 🚀" and row["maybe"] is None and row["tags"] == ["x", "y"]
    assert row["kind"] == "b"


def test_modes_and_schema_evolution(clickhouse_url: str, tmp_path: Path) -> None:
    first = pa.table({"id": [1, 2], "text": ["a", "b"]})
    run = lambda data, **kw: load("clickhouse", data, tmp_path, connection=CONN, table=TABLE, **kw)  # noqa: E731
    result = run(first, keys=["id"])
    assert result.status == "succeeded", result.error
    assert "MergeTree" in sql(clickhouse_url, "SELECT engine FROM system.tables WHERE "
                              "database = currentDatabase()")[0][0]
    assert run(first, mode="append").status == "succeeded"
    assert snapshot(clickhouse_url) == [(1, "a"), (1, "a"), (2, "b"), (2, "b")]
    assert run(first, mode="replace", keys=["id"]).status == "succeeded"
    assert snapshot(clickhouse_url) == [(1, "a"), (2, "b")]
    result = run(pa.table({"id": [2, 3], "text": ["B", "c"]}), mode="upsert", keys=["id"])
    assert result.status == "succeeded", result.error
    extra = result.nodes["out"].extra
    assert (extra["rows_inserted"], extra["rows_updated"]) == (1, 1)
    assert snapshot(clickhouse_url) == [(1, "a"), (2, "B"), (3, "c")]
    wider = pa.table({"id": [4], "text": ["d"], "extra": [1.5]})
    failed = run(wider, schema_evolution="fail")
    assert failed.status == "failed" and failed.error is not None
    assert "extra" in failed.error.reason and "add_columns" in failed.error.reason
    assert run(wider).status == "succeeded"
    back, _ = extract("clickhouse", tmp_path, connection=CONN, table=TABLE)
    assert back.sort_by("id").column("extra").to_pylist() == [None, None, None, 1.5]
    upsert_wider = run(pa.table({"id": [1], "text": ["A"], "more": ["m"]}), mode="upsert",
                       keys=["id"])
    assert upsert_wider.status == "succeeded", upsert_wider.error
    back, _ = extract("clickhouse", tmp_path, connection=CONN, table=TABLE)
    assert back.sort_by("id").column("more").to_pylist() == ["m", None, None, None]


def test_low_cardinality_and_replacing_engine(clickhouse_url: str, tmp_path: Path) -> None:
    result = load("clickhouse", pa.table({"id": [1], "text": ["a"]}), tmp_path, connection=CONN,
                  table="lc", keys=["id"], engine="ReplacingMergeTree", low_cardinality=["text"])
    assert result.status == "succeeded", result.error
    assert sql(clickhouse_url, "SELECT engine FROM system.tables WHERE name = 'lc' AND "
               "database = currentDatabase()") == [("ReplacingMergeTree",)]
    assert sql(clickhouse_url, "SELECT type FROM system.columns WHERE table = 'lc' AND "
               "name = 'text' AND database = currentDatabase()") == [
                   ("LowCardinality(Nullable(String))",)]


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_failure_mid_load_leaves_the_table_unchanged(mode: str, clickhouse_url: str,
                                                     tmp_path: Path) -> None:
    setup = load("clickhouse", pa.table({"id": [1, 2], "text": ["a", "b"]}), tmp_path,
                 connection=CONN, table=TABLE, keys=["id"])
    assert setup.status == "succeeded", setup.error
    before = snapshot(clickhouse_url)
    big = pa.table({"id": list(range(10, 20)), "text": ["n"] * 10, "new col": [1] * 10})
    keys = {"keys": ["id"]} if mode == "upsert" else {}
    result = load("clickhouse", big, tmp_path, fail=True, connection=CONN, table=TABLE, mode=mode,
                  batch_rows=100, **keys)
    assert result.status == "failed"
    assert result.error is not None and "source connection lost" in result.error.reason
    assert snapshot(clickhouse_url) == before
    assert sorted(sql(clickhouse_url, "SELECT name FROM system.tables WHERE "
                      "database = currentDatabase()")) == [(TABLE,)]
    assert [r[0] for r in sql(clickhouse_url, "SELECT name FROM system.columns WHERE "
                              "database = currentDatabase()")] == ["id", "text"]


def test_query_parameters_are_bound(clickhouse_url: str, tmp_path: Path) -> None:
    sql(clickhouse_url, "CREATE TABLE p (id Int32, name String) ENGINE = MergeTree ORDER BY id")
    sql(clickhouse_url, "INSERT INTO p VALUES", [(1, "a%"), (2, "b"), (3, "c'; DROP TABLE p; --")])
    back, _ = extract("clickhouse", tmp_path, connection=CONN, parameters={"min_id": 2},
                      query="SELECT * FROM p WHERE id >= :min_id AND name NOT LIKE 'zz%' ORDER BY id")
    assert back.column("id").to_pylist() == [2, 3]


def test_incremental_keyset_and_state(clickhouse_url: str, tmp_path: Path) -> None:
    sql(clickhouse_url, "CREATE TABLE ev (id Int32, at DateTime('UTC'), v String) "
        "ENGINE = MergeTree ORDER BY id")
    sql(clickhouse_url, "INSERT INTO ev VALUES", [
        (i, dt.datetime(2024, 1, 1 + i // 4, tzinfo=dt.UTC), f"v{i}") for i in range(10)])
    state = MemoryStateStore()
    inc = {"cursor_column": "at", "key_column": "id", "page_size": 3}
    back, _ = extract("clickhouse", tmp_path, state=state, connection=CONN, table="ev",
                      incremental=inc)
    assert sorted(back.column("id").to_pylist()) == list(range(10))
    saved = state.get("p-read", "src")
    assert saved is not None and saved["last_key"] == 9
    back, _ = extract("clickhouse", tmp_path, state=state, connection=CONN, table="ev",
                      incremental=inc)
    assert back.num_rows == 0
    sql(clickhouse_url, "INSERT INTO ev VALUES", [
        (10, dt.datetime(2024, 1, 3, tzinfo=dt.UTC), "same ts"),
        (11, dt.datetime(2024, 2, 1, tzinfo=dt.UTC), "later")])
    back, _ = extract("clickhouse", tmp_path, state=state, connection=CONN, table="ev",
                      incremental=inc)
    assert sorted(back.column("id").to_pylist()) == [10, 11]


def test_incremental_cursors_of_text_and_dates(clickhouse_url: str, tmp_path: Path) -> None:
    """A String cursor holding times with fractions was bound as a DateTime, which the driver
    writes without them: every run read the rows again (a page of them, forever). A date
    `initial_value` on a DateTime cursor failed ("Cannot parse datetime 2024-01-01")."""
    sql(clickhouse_url, "CREATE TABLE st (id Int32, ts String, at DateTime('UTC')) "
        "ENGINE = MergeTree ORDER BY id")
    sql(clickhouse_url, "INSERT INTO st VALUES", [
        (i, f"2024-01-01 00:00:05.00000{i}", dt.datetime(2023, 12, 31 + i // 5, tzinfo=dt.UTC)
         if i < 5 else dt.datetime(2024, 1, 2, tzinfo=dt.UTC)) for i in range(1, 8)])
    state = MemoryStateStore()
    inc = {"cursor_column": "ts", "key_column": "id", "page_size": 3}
    for expected in (list(range(1, 8)), []):
        back, _ = extract("clickhouse", tmp_path, state=state, connection=CONN, table="st",
                          incremental=inc)
        assert sorted(back.column("id").to_pylist()) == expected
    back, _ = extract("clickhouse", tmp_path, connection=CONN, table="st",
                      incremental={"cursor_column": "at", "initial_value": "2024-01-01"})
    assert sorted(back.column("id").to_pylist()) == [5, 6, 7]


def test_incremental_marks_set_by_hand(clickhouse_url: str, tmp_path: Path) -> None:
    """`ecluse state set P NODE --last-value X` was ignored on a node without state (the mark
    names no `cursor_column`), over a run's state the rows at X itself were skipped
    (`cursor > X`), and a number (`--last-value 5`) was bound as text, which ClickHouse does
    not compare with an Int32: a mark set by hand reads from X on, its own rows included."""
    sql(clickhouse_url, "CREATE TABLE ev (id Int32, at DateTime('UTC')) "
        "ENGINE = MergeTree ORDER BY id")
    sql(clickhouse_url, "INSERT INTO ev VALUES", [
        (i, dt.datetime(2024, 1, 1 + i // 4, tzinfo=dt.UTC)) for i in range(10)])
    check_marks_set_by_hand("clickhouse", tmp_path, CONN, plain={"cursor_column": "id"},
                            plain_mark="7", plain_after=[7, 8, 9])
    data = tmp_path / "data"
    assert state_set(data, "p-read", "src", "--last-value", "seven").exit_code == 0
    _, result = extract("clickhouse", tmp_path, state=FileStateStore(data / "state"),
                        connection=CONN, table="ev", incremental={"cursor_column": "id"},
                        expect_ok=False)
    assert result.error is not None and result.error.field == "incremental"
    assert "'seven' is not a number" in result.error.reason


def test_arrow_inserts_write_what_the_driver_writes(clickhouse_url: str) -> None:
    """``insert_arrow`` builds the Native layout from Arrow's buffers itself; the same Arrow table
    sent through the driver's own column writers must read back identically, for every type it
    covers (nulls, extremes, sliced arrays, long and non-ASCII text) and one it leaves to the
    driver (LowCardinality)."""
    from ecluse.sdk.clickhouse_arrow import insert_arrow, py_values

    columns = ("i8 Nullable(Int8), u64 UInt64, f Nullable(Float64), ok Nullable(UInt8), "
               "day Nullable(Date), at Nullable(DateTime('UTC')), paris DateTime('Europe/Paris'), "
               "price Nullable(Decimal(18, 4)), wide Decimal(38, 10), s Nullable(String), "
               "label LowCardinality(String)")
    utc = dt.UTC
    data = pa.table({
        "i8": pa.array([-128, None, 127, 0], pa.int8()),
        "u64": pa.array([0, 2**64 - 1, 1, 42], pa.uint64()),
        "f": pa.array([1.5, None, float("-inf"), -0.0]),
        "ok": pa.array([True, False, None, True]),
        "day": pa.array([dt.date(1970, 1, 1), dt.date(2149, 6, 6), None, dt.date(2024, 3, 31)]),
        "at": pa.array([dt.datetime(2024, 3, 31, 1, 59, 59, 999_999, tzinfo=utc), None,
                        dt.datetime(1970, 1, 1, tzinfo=utc), dt.datetime(2106, 2, 7, tzinfo=utc)],
                       pa.timestamp("us", tz="UTC")),
        "paris": pa.array([dt.datetime(2024, 10, 27, 0, 30, tzinfo=utc)] * 4,
                          pa.timestamp("us", tz="UTC")),
        "price": pa.array([decimal.Decimal("-99999999999999.9999"), None, decimal.Decimal("0"),
                           decimal.Decimal("1.5")], pa.decimal128(18, 4)),
        "wide": pa.array([decimal.Decimal("1234567890123456789012345678.0123456789")] * 4,
                         pa.decimal128(38, 10)),
        "s": pa.array(["", None, "héllo 🚀 \x00", "x" * 20_000]),
        "label": pa.array(["a", "b", "a", "c"]),
    }).slice(0, 4)
    client = Client.from_url(clickhouse_url + "?allow_experimental_low_cardinality_type=1")
    try:
        for name in ("by_arrow", "by_driver"):
            client.execute(f"CREATE TABLE {name} (n UInt32, {columns}) ENGINE = MergeTree ORDER BY n")
        numbered = data.add_column(0, "n", pa.array(range(4), pa.uint32()))
        names = ", ".join(numbered.column_names)
        assert insert_arrow(client, f"INSERT INTO by_arrow ({names}) VALUES", numbered) == 4
        types = dict(client.execute("SELECT name, type FROM system.columns WHERE table = 'by_driver'"))
        client.execute(f"INSERT INTO by_driver ({names}) VALUES",
                       [py_values(numbered.column(n), numbered.schema.field(n).type, types[n])
                        for n in numbered.column_names], columnar=True)
        by_arrow = client.execute("SELECT * FROM by_arrow ORDER BY n")
        assert by_arrow == client.execute("SELECT * FROM by_driver ORDER BY n")
        assert by_arrow[1][1:4] == (None, 2**64 - 1, None) and by_arrow[2][10] == "héllo 🚀 \x00"
    finally:
        client.execute("DROP TABLE IF EXISTS by_arrow")
        client.execute("DROP TABLE IF EXISTS by_driver")
        client.disconnect()


def test_uuid_and_enum_columns_read_as_their_text(clickhouse_url: str, tmp_path: Path) -> None:
    """UUIDs and Enums are selected as ``toString`` so the fast Arrow stream reads them; the
    values are what the driver's own conversion gives (an Array of Enums keeps that path)."""
    sql(clickhouse_url, """CREATE TABLE ue (id UInt32, u UUID, maybe Nullable(UUID),
        kind Enum8('a' = 1, 'b b' = 2), tags Array(Enum8('x' = 1, 'y' = 2)))
        ENGINE = MergeTree ORDER BY id""")
    uuid = "61f0c404-5cb3-11e7-907b-a6006ad3dba0"
    sql(clickhouse_url, f"INSERT INTO ue SELECT 1, toUUID('{uuid}'), NULL, 'b b', ['x', 'y']")
    sql(clickhouse_url, "INSERT INTO ue SELECT 2, toUUID('00000000-0000-0000-0000-000000000000'), "
        f"toUUID('{uuid}'), 'a', []")
    fast, _ = extract("clickhouse", tmp_path, connection=CONN, table="ue",
                      columns=["id", "u", "maybe", "kind"])
    slow, _ = extract("clickhouse", tmp_path, connection=CONN, table="ue")
    assert fast.schema.field("u").type == pa.string()
    rows = fast.sort_by("id").to_pylist()
    assert rows == slow.select(["id", "u", "maybe", "kind"]).sort_by("id").to_pylist()
    assert rows == [
        {"id": 1, "u": "61f0c404-5cb3-11e7-907b-a6006ad3dba0", "maybe": None, "kind": "b b"},
        {"id": 2, "u": "00000000-0000-0000-0000-000000000000",
         "maybe": "61f0c404-5cb3-11e7-907b-a6006ad3dba0", "kind": "a"}]
    assert slow.sort_by("id").column("tags").to_pylist() == [["x", "y"], []]


def test_values_a_column_would_change_are_refused(clickhouse_url: str, tmp_path: Path) -> None:
    """The driver wrote dates before 1970 as 1970-01-01 and cut decimals to the column's scale,
    and the run succeeded."""
    run = lambda data, **kw: load("clickhouse", data, tmp_path, connection=CONN, table="fit", **kw)  # noqa: E731
    early = pa.table({"id": [1, 2], "day": [dt.date(2024, 1, 1), dt.date(1969, 7, 20)]})
    result = run(early, keys=["id"])
    assert result.status == "failed" and result.error is not None
    assert "column 'day' holds 1969-07-20, which a ClickHouse Date cannot hold" in result.error.reason
    at = pa.table({"id": [1], "at": pa.array([dt.datetime(1969, 12, 31, 23, 59, 59)],
                                            pa.timestamp("us"))})
    result = run(at, keys=["id"], mode="replace")
    assert result.error is not None and "ClickHouse DateTime" in result.error.reason
    sql(clickhouse_url, "CREATE TABLE fit (id Int64, amount Decimal(4, 2)) ENGINE = Memory")
    wide = pa.table({"id": [1], "amount": pa.array([decimal.Decimal("12.678")], pa.decimal128(6, 3))})
    result = run(wide, mode="append")
    assert result.error is not None and "does not fit the table's Decimal(4, 2)" in result.error.reason
    assert sql(clickhouse_url, "SELECT count() FROM fit") == [(0,)]


def test_a_mistyped_table_or_column_gets_a_suggestion(clickhouse_url: str, tmp_path: Path) -> None:
    """The server only said "Table db.ordrs doesn't exist" (or "Unknown identifier"), on
    `table` whatever was mistyped; the names it has are looked up then, for a 'Did you mean'."""
    db = clickhouse_url.rsplit("/", 1)[1]
    sql(clickhouse_url, "CREATE TABLE orders (id UInt32, amount Int32) ENGINE = MergeTree ORDER BY id")
    for config, field, message in mistyped_names(db, "Orders"):
        _, run = extract("clickhouse", tmp_path, connection=CONN, expect_ok=False, **config)
        assert run.error is not None and (run.error.field, run.error.reason) == (field, message)


def test_binary_data_round_trips_and_foreign_bytes_are_named(clickhouse_url: str,
                                                             tmp_path: Path) -> None:
    """ClickHouse keeps text and bytes in one String type. The extractor failed with "Invalid
    UTF8 payload" on a value that is not UTF-8; columns the loader creates from binary data are
    marked (a column comment, set on added columns too) and read back as bytes, and other
    tables' binary columns are read as bytes when listed in `binary_columns`."""
    blobs = [b"\x00\xff\xfe", None, b"\x80 plain"]
    first = pa.table({"id": [1, 2, 3], "blob": pa.array(blobs, pa.binary())})
    assert load("clickhouse", first, tmp_path, connection=CONN, table="b1", keys=["id"]).status \
        == "succeeded"
    more = first.append_column("more", pa.array([b"\xc3", b"", None], pa.binary()))
    run = load("clickhouse", more, tmp_path, connection=CONN, table="b1", mode="append")
    assert run.status == "succeeded", run.error
    back, _ = extract("clickhouse", tmp_path, connection=CONN, table="b1")
    assert back.schema.field("blob").type == back.schema.field("more").type == pa.binary()
    assert sorted(map(repr, back.column("more").to_pylist())) == \
        ["None"] * 4 + ["b''", "b'\\xc3'"]

    # a table made elsewhere, read by both of the extractor's paths (the Arrow stream, and the
    # driver's values for a Tuple column)
    sql(clickhouse_url, "CREATE TABLE b2 (id UInt32, label String, pair Tuple(UInt8, String)) "
        "ENGINE = MergeTree ORDER BY id")
    sql(clickhouse_url, "INSERT INTO b2 SELECT 1, 'fine', (1, 'a')")
    sql(clickhouse_url, "INSERT INTO b2 SELECT 2, unhex('C328'), (2, 'b')")
    for columns in (["id", "label"], []):
        _, run = extract("clickhouse", tmp_path, connection=CONN, table="b2", columns=columns,
                         expect_ok=False)
        assert run.error is not None and run.error.field == "binary_columns"
        assert run.error.reason.startswith("column 'label' holds bytes that are not UTF-8 text "
                                           "(b'\\xc3(', row ")
        assert "add 'label' to `binary_columns`" in run.error.reason
        back, _ = extract("clickhouse", tmp_path, connection=CONN, table="b2", columns=columns,
                          binary_columns=["label"])
        assert back.sort_by("id").column("label").to_pylist() == [b"fine", b"\xc3("]
    _, run = extract("clickhouse", tmp_path, connection=CONN, query="SELECT * FROM b2",
                     binary_columns=["id", "lable"], expect_ok=False)
    assert run.error is not None and run.error.reason.startswith(
        "`binary_columns` names 'id', 'lable', which the result has no String or FixedString "
        "column of; its text columns are: label")


def test_a_boolean_appended_into_a_number_column_is_refused(clickhouse_url: str,
                                                            tmp_path: Path) -> None:
    """As PostgreSQL, SQLite and DuckDB do; ClickHouse stored true as 1. A UInt8 column takes
    booleans: servers before 21.12 store them so."""
    sql(clickhouse_url, "CREATE TABLE nb (id UInt32, qty Int64, flag UInt8) "
        "ENGINE = MergeTree ORDER BY id")
    sql(clickhouse_url, "INSERT INTO nb SELECT 1, 7, 0")
    data = pa.table({"id": pa.array([2], pa.uint32()), "qty": [True], "flag": [True]})
    for mode in ("append", "upsert"):
        result = load("clickhouse", data, tmp_path, connection=CONN, table="nb", mode=mode,
                      keys=["id"])
        assert result.status == "failed" and result.error is not None
        assert result.error.reason.startswith(
            "column 'qty' of table 'nb' is of type Int64, but the incoming 'qty' is boolean: a "
            "boolean and a number do not mix in one column; nothing was changed")
    assert sql(clickhouse_url, "SELECT id, qty, flag FROM nb") == [(1, 7, 0)]
    fixed = data.set_column(1, "qty", pa.array([3], pa.int64()))
    assert load("clickhouse", fixed, tmp_path, connection=CONN, table="nb").status == "succeeded"
    assert sorted(sql(clickhouse_url, "SELECT id, qty, flag FROM nb")) == [(1, 7, 0), (2, 3, 1)]


def test_times_of_day_and_durations_are_written_as_text(clickhouse_url: str,
                                                         tmp_path: Path) -> None:
    """ClickHouse has neither type: they go to String columns as text that casts back, as in
    SQLite. The load failed with "'datetime.time' object has no attribute 'encode'"."""
    data = pa.table({"id": [1, 2], "at": pa.array([dt.time(9, 30, 0, 250), None], pa.time64("us")),
                     "took": pa.array([dt.timedelta(hours=26, microseconds=5), None],
                                      pa.duration("us"))})
    result = load("clickhouse", data, tmp_path, connection=CONN, table="tm", keys=["id"])
    assert result.status == "succeeded", result.error
    assert sorted(sql(clickhouse_url, "SELECT id, at, took FROM tm")) == [
        (1, "09:30:00.000250", "26:00:00.000005"), (2, None, None)]


def test_replace_keeps_the_tables_definition(clickhouse_url: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`replace` built staging from the data's columns and renamed it over the target: a table
    the user made (its engine, partitioning, ORDER BY, non-Nullable types, defaults) became
    Ecluse's generic MergeTree. Staging is now a copy of the table's definition."""
    import ecluse.modules.load.clickhouse as module

    sql(clickhouse_url, "CREATE TABLE kept (ts DateTime('UTC'), id UInt64, name String, "
        "status String DEFAULT 'new', score Nullable(Float64)) ENGINE = ReplacingMergeTree "
        "PARTITION BY toYYYYMM(ts) ORDER BY (id) SETTINGS index_granularity = 1024")
    sql(clickhouse_url, "INSERT INTO kept (ts, id, name, status, score) SELECT "
        "toDateTime('2024-01-05 10:00:00', 'UTC'), 1, 'old', 'done', 1.5")
    definition = lambda: sql(clickhouse_url, "SHOW CREATE TABLE kept")  # noqa: E731
    rows = lambda: sorted(sql(clickhouse_url, "SELECT id, name, status, score FROM kept"))  # noqa: E731
    before = definition()
    at = [dt.datetime(2024, 2, 1, tzinfo=dt.UTC), dt.datetime(2024, 3, 1, tzinfo=dt.UTC)]
    new = pa.table({"id": [7, 8], "ts": at, "name": ["x", "y"], "score": [None, 2.5]})
    run = lambda data, **kw: load("clickhouse", data, tmp_path, connection=CONN, table="kept",  # noqa: E731
                                  mode="replace", **kw)
    result = run(new)
    assert result.status == "succeeded", result.error
    assert (result.nodes["out"].extra["rows_inserted"], result.nodes["out"].extra["rows_deleted"]) \
        == (2, 1)
    assert definition() == before
    assert rows() == [(7, "x", "new", None), (8, "y", "new", 2.5)]

    # a failure mid-load, or after every row is in staging: the table is as it was
    result = run(new.slice(0, 1), fail=True, batch_rows=100)
    assert result.status == "failed" and result.error is not None
    with monkeypatch.context() as patched:
        def lost(*_: Any) -> int:
            raise ConnectionError("server gone")
        patched.setattr(module, "_count", lost)
        result = run(pa.table({"id": [9], "ts": at[:1], "name": ["z"]}))
        assert result.status == "failed" and result.error is not None
        assert "server gone" in result.error.reason
    assert definition() == before and rows() == [(7, "x", "new", None), (8, "y", "new", 2.5)]
    assert sql(clickhouse_url, "SELECT name FROM system.tables WHERE "
               "database = currentDatabase()") == [("kept",)]

    # new columns are added as append adds them (or refused); the rest of the definition stays
    wider = new.append_column("extra", pa.array([1, None], pa.int64()))
    result = run(wider, schema_evolution="fail")
    assert result.status == "failed" and result.error is not None
    assert "add_columns" in result.error.reason and definition() == before
    assert run(wider).status == "succeeded"
    (text,), = definition()
    assert " ".join(text.split()) == " ".join(before[0][0].split()).replace(
        "score Nullable(Float64)", "score Nullable(Float64), extra Nullable(Int64)")
    assert sorted(sql(clickhouse_url, "SELECT id, extra FROM kept")) == [(7, 1), (8, None)]


def test_replace_and_upsert_refuse_a_table_a_copy_would_share(clickhouse_url: str,
                                                              tmp_path: Path) -> None:
    """A copy of a Distributed table (``CREATE TABLE … AS``) writes into the tables behind it,
    and that of a Replicated one joins its replication: replace and upsert say so and change
    nothing, where replace silently made the table a plain MergeTree."""
    db = clickhouse_url.rsplit("/", 1)[1]
    sql(clickhouse_url, "CREATE TABLE local (id UInt64, v String) ENGINE = MergeTree ORDER BY id")
    sql(clickhouse_url, "INSERT INTO local SELECT 1, 'a'")
    sql(clickhouse_url, f"CREATE TABLE spread AS local ENGINE = Distributed(test_shard_localhost, "
        f"{db}, local)")
    before = sql(clickhouse_url, "SHOW CREATE TABLE spread")
    for mode in ("replace", "upsert"):
        result = load("clickhouse", pa.table({"id": [2], "v": ["b"]}), tmp_path, connection=CONN,
                      table="spread", mode=mode, keys=["id"])
        assert result.status == "failed" and result.error is not None
        assert result.error.field == "mode"
        assert result.error.reason.startswith(
            f"mode {mode!r} builds the new spread from a copy of its definition (CREATE TABLE … "
            "AS) and swaps it in; spread has the Distributed engine, and a copy would write into "
            "the very tables it distributes to, before the swap: nothing was changed.")
    assert sql(clickhouse_url, "SHOW CREATE TABLE spread") == before
    assert sql(clickhouse_url, "SELECT * FROM local") == [(1, "a")]
    assert sorted(sql(clickhouse_url, "SELECT name FROM system.tables WHERE "
                      "database = currentDatabase()")) == [("local",), ("spread",)]


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_computed_columns_are_computed_by_the_server(mode: str, clickhouse_url: str,
                                                     tmp_path: Path) -> None:
    """MATERIALIZED and ALIAS columns: the upsert copied them with the kept rows, and ClickHouse
    refused ("Cannot insert column up, because it is MATERIALIZED column")."""
    sql(clickhouse_url, "CREATE TABLE m (id UInt64, name String, up String MATERIALIZED "
        "upper(name), twice UInt64 ALIAS id * 2) ENGINE = MergeTree ORDER BY id")
    sql(clickhouse_url, "INSERT INTO m (id, name) SELECT 1, 'a'")
    sql(clickhouse_url, "INSERT INTO m (id, name) SELECT 3, 'k'")
    result = load("clickhouse", pa.table({"id": [1, 2], "name": ["b", "c"]}), tmp_path,
                  connection=CONN, table="m", mode=mode, keys=["id"])
    assert result.status == "succeeded", result.error
    expected = {"append": [(1, "a", "A", 2), (1, "b", "B", 2), (2, "c", "C", 4), (3, "k", "K", 6)],
                "replace": [(1, "b", "B", 2), (2, "c", "C", 4)],
                "upsert": [(1, "b", "B", 2), (2, "c", "C", 4), (3, "k", "K", 6)]}[mode]
    assert sorted(sql(clickhouse_url, "SELECT id, name, up, twice FROM m")) == expected
