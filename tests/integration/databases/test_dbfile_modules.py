"""duckdb and sqlite extractors and loaders: every load mode, schema evolution, atomicity,
awkward identifiers and values, bound parameters."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import ibis.expr.types as ir
import pyarrow as pa
import pytest

from ecluse.engine.plan import compile_pipeline
from ecluse.engine.run import RunOptions, RunResult, run_pipeline
from ecluse.sdk import Extractor, Loader, LoadResult, ModuleConfig, NodeContext
from ecluse.sdk.registry import Registry, default_registry
from ecluse.sdk.sqltext import quote_identifier

KINDS = ["duckdb", "sqlite"]
TABLE = 'odd "name" select'  # quotes, spaces and a reserved word

AWKWARD = pa.table({
    "id": pa.array([1, 2, 3, 4], pa.int64()),
    "text": ["plain", "ünïcødé ✓", "emoji 🚀🔥", "x" * 100_000],
    "amount": [0.0, -1.5e300, None, 3.25],
    "big": pa.array([2**62, -(2**62), None, 0], pa.int64()),
    "flag": [True, False, None, True],
    "ts": [dt.datetime(2024, 3, 31, 1, 59, 59), dt.datetime(2024, 3, 31, 3, 0, 0), None,
           dt.datetime(1970, 1, 1)],
})


class _Source(Extractor):
    """An in-memory source for these tests; can fail after its first batch."""

    name = "test_table"
    title = description = "test"
    data: ClassVar[dict[str, pa.Table]] = {}

    class Config(ModuleConfig):
        key: str
        fail_after_first_batch: bool = False

    def read(self, ctx: NodeContext) -> ir.Table:
        table = _Source.data[self.config.key]  # type: ignore[attr-defined]
        fail = self.config.fail_after_first_batch  # type: ignore[attr-defined]

        def batches() -> Any:
            for i, batch in enumerate(table.to_batches(max_chunksize=2)):
                if fail and i == 1:
                    raise RuntimeError("source connection lost")
                yield batch

        return ctx.backend.from_arrow(pa.RecordBatchReader.from_batches(table.schema, batches()),
                                      name="src")


REGISTRY = Registry([*default_registry().all(), _Source])


def load(kind: str, path: Path, data: pa.Table, **config: Any) -> Any:
    _Source.data["t"] = data
    fail = config.pop("fail", False)
    data_dir = config.pop("data_dir", path.parent / "d")
    doc = {"name": "load", "nodes": [
        {"id": "src", "type": "extractor", "module": "test_table",
         "config": {"key": "t", "fail_after_first_batch": fail}},
        {"id": "out", "type": "loader", "module": kind,
         "config": {"path": str(path), "table": TABLE, **config}}],
        "edges": [{"source": "src", "target": "out"}]}
    return run_pipeline(compile_pipeline(doc, REGISTRY), RunOptions(data_dir=data_dir))


def run_read(kind: str, path: Path, **config: Any) -> RunResult:
    """Read ``path`` with the ``kind`` extractor into ``back.parquet`` beside it."""
    doc = {"name": "read", "parameters": {"min_id": {"type": "integer", "default": 0}},
           "nodes": [{"id": "src", "type": "extractor", "module": kind,
                      "config": {"path": str(path), **({"table": TABLE} | config)}},
                     {"id": "out", "type": "loader", "module": "parquet",
                      "config": {"path": str(path.parent / "back.parquet")}}],
           "edges": [{"source": "src", "target": "out"}]}
    return run_pipeline(compile_pipeline(doc, REGISTRY), RunOptions(data_dir=path.parent / "d"))


def read_back(kind: str, path: Path, **config: Any) -> pa.Table:
    result = run_read(kind, path, **config)
    assert result.status == "succeeded", result.error
    import pyarrow.parquet as pq

    return pq.read_table(path.parent / "back.parquet").sort_by("id")


def refused_on_path(result: RunResult, *phrases: str, node: str | None = None) -> None:
    """The run failed on the `path` of ``node`` (any node when None), saying ``phrases``."""
    assert result.status == "failed" and result.error is not None
    assert result.error.field == "path" and node in (None, result.error.node_id)
    for phrase in phrases:
        assert phrase in result.error.reason, result.error.reason


def snapshot(kind: str, path: Path) -> list[tuple[Any, ...]]:
    sql = f'SELECT id, "text" FROM {quote_identifier(TABLE)}'
    if kind == "sqlite":
        with sqlite3.connect(path) as con:
            return sorted(con.execute(sql))
    with duckdb.connect(str(path), read_only=True) as con:
        return sorted(con.execute(sql).fetchall())


@pytest.mark.parametrize("kind", KINDS)
def test_awkward_values_round_trip(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"db.{kind}"
    result = load(kind, path, AWKWARD)
    assert result.status == "succeeded", result.error
    assert result.nodes["out"].extra["rows_inserted"] == 4
    back = read_back(kind, path)
    for name in AWKWARD.column_names:
        expected = AWKWARD.column(name).to_pylist()
        got = back.column(name).to_pylist()
        if name == "flag" and kind == "sqlite":  # SQLite has no boolean: 1/0
            got = [None if v is None else bool(v) for v in got]
        assert got == expected, name


@pytest.mark.parametrize("kind", KINDS)
def test_modes_and_schema_evolution(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"db.{kind}"
    first = pa.table({"id": [1, 2], "text": ["a", "b"]})
    assert load(kind, path, first).status == "succeeded"
    assert load(kind, path, first, mode="append").status == "succeeded"
    assert snapshot(kind, path) == [(1, "a"), (1, "a"), (2, "b"), (2, "b")]
    assert load(kind, path, first, mode="replace").status == "succeeded"
    assert snapshot(kind, path) == [(1, "a"), (2, "b")]
    upsert = pa.table({"id": [2, 3], "text": ["B", "c"]})
    result = load(kind, path, upsert, mode="upsert", keys=["id"])
    assert result.status == "succeeded", result.error
    extra = result.nodes["out"].extra
    assert (extra["rows_inserted"], extra["rows_updated"]) == (1, 1)
    assert snapshot(kind, path) == [(1, "a"), (2, "B"), (3, "c")]
    wider = pa.table({"id": [4], "text": ["d"], "extra": [1.5]})
    failed = load(kind, path, wider, schema_evolution="fail")
    assert failed.status == "failed" and failed.error is not None
    assert "extra" in failed.error.reason and "add_columns" in failed.error.reason
    assert load(kind, path, wider).status == "succeeded"
    assert read_back(kind, path).column("extra").to_pylist() == [None, None, None, 1.5]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_failure_mid_load_leaves_the_table_unchanged(kind: str, mode: str, tmp_path: Path) -> None:
    path = tmp_path / f"db.{kind}"
    assert load(kind, path, pa.table({"id": [1, 2], "text": ["a", "b"]})).status == "succeeded"
    before = snapshot(kind, path)
    big = pa.table({"id": list(range(10, 20)), "text": ["n"] * 10})
    keys = {"keys": ["id"]} if mode == "upsert" else {}
    result = load(kind, path, big, mode=mode, fail=True, **keys)
    assert result.status == "failed"
    assert result.error is not None and "source connection lost" in result.error.reason
    assert snapshot(kind, path) == before


@pytest.mark.parametrize("kind", KINDS)
def test_query_with_bound_parameter_and_injection_is_harmless(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"db.{kind}"
    assert load(kind, path, AWKWARD).status == "succeeded"
    quoted = '"' + TABLE.replace('"', '""') + '"'
    back = read_back(kind, path, table=None, query=f"SELECT id FROM {quoted} WHERE id > :min_id")
    assert back.column("id").to_pylist() == [1, 2, 3, 4]
    _Source.data["t"] = AWKWARD
    result = load(kind, path, pa.table({"id": [9], "text": ["'); DROP TABLE x; --"]}), mode="append")
    assert result.status == "succeeded"
    assert (9, "'); DROP TABLE x; --") in snapshot(kind, path)


def test_missing_file_and_bad_config_are_clear(tmp_path: Path) -> None:
    doc = {"name": "x", "nodes": [
        {"id": "src", "type": "extractor", "module": "sqlite",
         "config": {"path": str(tmp_path / "nope.sqlite"), "table": "t"}},
        {"id": "out", "type": "loader", "module": "sqlite",
         "config": {"path": str(tmp_path / "o.sqlite"), "table": "t", "mode": "upsert"}}],
        "edges": [{"source": "src", "target": "out"}]}
    from ecluse.spec.validate import validate_document

    problems = [p for p in validate_document(doc, REGISTRY) if p.severity == "error"]
    assert [p.pointer for p in problems] == ["/nodes/1/config"]
    assert "needs 'keys'" in problems[0].message
    doc["nodes"][1]["config"]["mode"] = "append"
    result = run_pipeline(compile_pipeline(doc, REGISTRY), RunOptions(data_dir=tmp_path / "d"))
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "src" and "does not exist" in result.error.reason


def test_a_mistyped_table_keeps_duckdbs_suggestion_on_the_table_setting(tmp_path: Path) -> None:
    import duckdb

    duckdb.connect(str(tmp_path / "shop.duckdb")).execute("CREATE TABLE sales (id INT)").close()
    doc = {"name": "x", "nodes": [
        {"id": "src", "type": "extractor", "module": "duckdb",
         "config": {"path": str(tmp_path / "shop.duckdb"), "table": "sale"}},
        {"id": "out", "type": "loader", "module": "parquet",
         "config": {"path": str(tmp_path / "o.parquet")}}],
        "edges": [{"source": "src", "target": "out"}]}
    from ecluse.engine.design import node_schemas

    error = node_schemas(compile_pipeline(doc, REGISTRY))["src"].error
    assert error is not None and error.field == "table"
    assert 'Did you mean "sales"?' in error.reason


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_intervals_reach_a_database_loader_and_months_are_refused(kind: str, tmp_path: Path) -> None:
    """DuckDB hands intervals to Arrow as month-day-nano values, which no database loader could
    take ("Unsupported cast from month_day_nano_interval to duration")."""
    src = tmp_path / "src.duckdb"
    con = duckdb.connect(str(src))
    con.execute("CREATE TABLE t AS SELECT 1 AS id, INTERVAL '1 day 2 hours 0.5 seconds' AS iv "
                "UNION ALL SELECT 2, -INTERVAL '838 hours'")
    con.close()

    def copy() -> RunResult:
        doc = {"name": "x", "nodes": [
            {"id": "src", "type": "extractor", "module": "duckdb",
             "config": {"path": str(src), "table": "t"}},
            {"id": "out", "type": "loader", "module": kind,
             "config": {"path": str(tmp_path / f"out.{kind}"), "table": "t", "mode": "replace"}}],
            "edges": [{"source": "src", "target": "out"}]}
        return run_pipeline(compile_pipeline(doc, REGISTRY), RunOptions(data_dir=tmp_path / "d"))

    result = copy()
    assert result.status == "succeeded", result.error
    if kind == "sqlite":
        rows = sqlite3.connect(tmp_path / "out.sqlite").execute("SELECT iv FROM t ORDER BY id")
        assert [r[0] for r in rows] == ["26:00:00.500000", "-838:00:00.000000"]
    else:
        back = duckdb.connect(str(tmp_path / "out.duckdb")).execute(
            "SELECT iv FROM t ORDER BY id").fetchall()
        assert back == [(dt.timedelta(days=1, hours=2, milliseconds=500),),
                        (-dt.timedelta(hours=838),)]
    con = duckdb.connect(str(src))
    con.execute("INSERT INTO t VALUES (3, INTERVAL '1 month')")
    con.close()
    result = copy()
    assert result.status == "failed" and result.error is not None
    assert "column 'iv' holds an interval counting months" in result.error.reason


@pytest.mark.parametrize("kind", KINDS)
def test_an_append_whose_column_changed_type_is_refused_naming_the_column(
        kind: str, tmp_path: Path) -> None:
    """SQLite's type affinity stored 'abc' and 1.5 in an INTEGER column (after which every
    read of the table failed); DuckDB rounded 1.5 to 2 and named no setting for 'abc'."""
    path = tmp_path / f"db.{kind}"
    assert load(kind, path, pa.table({"id": [1, 2], "text": ["a", "b"], "qty": [10, 20]})).status \
        == "succeeded"
    before = snapshot(kind, path)
    table_type, text_type, float_type = (("INTEGER", "string", "float64") if kind == "sqlite"
                                         else ("BIGINT", "VARCHAR", "DOUBLE"))
    for qty, input_type, shown in ((pa.array(["7", "abc"]), text_type, "'abc'"),
                                   (pa.array([2.0, 1.5]), float_type, "1.5")):
        result = load(kind, path, pa.table({"id": [3, 4], "text": ["c", "d"], "qty": qty}),
                      mode="append")
        assert result.status == "failed" and result.error is not None
        assert result.error.field == "table"
        assert (f"column 'qty' of table {TABLE!r} is of type {table_type}, but the incoming 'qty' "
                f"is {input_type} and holds {shown}") in result.error.reason
        assert snapshot(kind, path) == before
    # values the column holds exactly are converted, and the table still reads back
    fits = pa.table({"id": [3, 4], "text": ["c", "d"], "qty": ["7", " 8"]})
    assert load(kind, path, fits, mode="append").status == "succeeded"
    result = load(kind, path, pa.table({"id": [5], "text": ["e"], "qty": [2.0]}), mode="upsert",
                  keys=["id"])
    assert result.status == "succeeded", result.error
    assert read_back(kind, path).column("qty").to_pylist() == [10, 20, 7, 8, 2]


@pytest.mark.parametrize("kind", KINDS)
def test_a_boolean_appended_into_a_number_column_or_back_is_refused(kind: str,
                                                                    tmp_path: Path) -> None:
    """Both stored true as 1 in an INTEGER column (PostgreSQL refuses it); DuckDB stored 5 as
    true in a BOOLEAN column, SQLite stored 5 there."""
    path = tmp_path / f"db.{kind}"
    assert load(kind, path, pa.table({"id": [1], "text": ["a"], "qty": [10], "ok": [True]})).status \
        == "succeeded"
    before = snapshot(kind, path)
    int_type, bool_type, int_input, bool_input = (
        ("INTEGER", "BOOLEAN", "int64", "boolean") if kind == "sqlite"
        else ("BIGINT", "BOOLEAN", "BIGINT", "BOOLEAN"))
    for data, mode, message in (
            ({"qty": [True], "ok": [False]}, "append",
             f"column 'qty' of table {TABLE!r} is of type {int_type}, but the incoming 'qty' is "
             f"{bool_input}: a boolean and a number do not mix in one column; nothing was changed: "
             "cast the column before this node (e.g. a cleaner's cast to int64)"),
            ({"qty": [2], "ok": [5]}, "upsert",
             f"column 'ok' of table {TABLE!r} is of type {bool_type}, but the incoming 'ok' is "
             f"{int_input}: a boolean and a number do not mix in one column; nothing was changed: "
             "cast the column before this node (e.g. a cleaner's cast to boolean)")):
        result = load(kind, path, pa.table({"id": [2], "text": ["b"], **data}), mode=mode,
                      keys=["id"])
        assert result.status == "failed" and result.error is not None
        assert result.error.field == "table"
        assert message in result.error.reason
        assert snapshot(kind, path) == before
    result = load(kind, path, pa.table({"id": [2], "text": ["b"], "qty": [1], "ok": [False]}),
                  mode="append")
    assert result.status == "succeeded", result.error
    assert read_back(kind, path).column("qty").to_pylist() == [10, 1]


@pytest.mark.parametrize("kind", KINDS)
def test_upsert_keeps_the_last_row_of_a_key_given_twice(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"db.{kind}"
    for _ in range(2):  # into a new table, then into an existing one
        result = load(kind, path, pa.table({"id": [1, 2, 1], "text": ["a", "b", "c"]}),
                      mode="upsert", keys=["id"])
        assert result.status == "succeeded", result.error
        assert snapshot(kind, path) == [(1, "c"), (2, "b")]


@pytest.mark.parametrize("kind", KINDS)
def test_table_names_holding_a_dot_or_a_schema(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"db.{kind}"
    data = pa.table({"id": [1], "text": ["a"]})
    for mode in ("append", "append", "upsert"):  # finds the table it created, each time
        result = load(kind, path, data, table='"my.table"', mode=mode, keys=["id"])
        assert result.status == "succeeded", result.error
    assert result.nodes["out"].extra["rows_updated"] == 2
    assert read_back(kind, path, table='"my.table"').num_rows == 1
    result = load(kind, path, data, table="sales.orders")
    if kind == "duckdb":  # a schema is created when missing, as in PostgreSQL
        assert result.status == "succeeded", result.error
        assert read_back(kind, path, table="sales.orders").num_rows == 1
    else:
        assert result.status == "failed" and result.error is not None
        assert result.error.field == "table"
        assert "not 'sales'" in result.error.reason and '"sales.orders"' in result.error.reason


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_file_in_the_way_of_the_folder_is_named(tmp_path: Path, kind: str) -> None:
    """The message was "[Errno 17] File exists", naming neither the path nor the fix."""
    (tmp_path / "afile").write_text("x")
    result = load(kind, tmp_path / "afile" / "sub" / "db.file", pa.table({"id": [1]}),
                  data_dir=tmp_path / "d")
    refused_on_path(result, f"cannot create the folder {tmp_path / 'afile' / 'sub'}: "
                            f"{tmp_path / 'afile'} is a file, not a folder")


def test_a_sqlite_file_another_program_is_writing(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The failed BEGIN was followed by a ROLLBACK whose own error hid the cause ("cannot
    rollback - no transaction is active")."""
    from ecluse.sdk import dbfile

    path = tmp_path / "db.sqlite"
    assert load("sqlite", path, pa.table({"id": [1], "text": ["a"]})).status == "succeeded"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode=wal")
    other.execute("BEGIN IMMEDIATE")
    other.execute(f"INSERT INTO {quote_identifier(TABLE)} (id, text) VALUES (9, 'other')")
    monkeypatch.setattr(dbfile, "SQLITE_WAIT_S", 0.2)
    try:
        result = load("sqlite", path, pa.table({"id": [2], "text": ["b"]}), mode="append")
        refused_on_path(result, "is being written by another program")
        assert read_back("sqlite", path).column("id").to_pylist() == [1]  # readers do not wait
    finally:
        other.execute("COMMIT")
        other.close()
    assert load("sqlite", path, pa.table({"id": [2], "text": ["b"]}), mode="append").status \
        == "succeeded"
    assert snapshot("sqlite", path) == [(1, "a"), (2, "b"), (9, "other")]


HOLD = """
import sys
from pathlib import Path

from ecluse.engine.plan import compile_pipeline
from ecluse.engine.run import RunOptions, run_pipeline
from ecluse.sdk import LoadResult, Loader, ModuleConfig
from ecluse.sdk.registry import Registry, default_registry


class Hold(Loader):
    name = "hold"
    title = description = "reads its first batch, then waits for stdin to close"

    class Config(ModuleConfig):
        pass

    def write(self, table, ctx):
        ctx.backend.to_batches(table).read_next_batch()
        print("open", flush=True)
        sys.stdin.read()
        return LoadResult()


kind, path, data_dir = sys.argv[1:]
doc = {"name": "hold", "nodes": [
    {"id": "src", "type": "extractor", "module": kind, "config": {"path": path, "table": "t"}},
    {"id": "out", "type": "loader", "module": "hold", "config": {}}],
    "edges": [{"source": "src", "target": "out"}]}
registry = Registry([*default_registry().all(), Hold])
result = run_pipeline(compile_pipeline(doc, registry), RunOptions(data_dir=Path(data_dir)))
print(result.status, result.error, flush=True)
"""


class _Hold(Loader):
    """The in-process twin of HOLD: a run that stays open while it reads."""

    name = "hold"
    title = description = "test"
    opened = threading.Event()
    release = threading.Event()

    class Config(ModuleConfig):
        pass

    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        ctx.backend.to_batches(table).read_next_batch()
        _Hold.opened.set()
        _Hold.release.wait(120)
        return LoadResult()


def _two_tables(kind: str, path: Path) -> None:
    assert load(kind, path, pa.table({"id": [1], "text": ["a"]})).status == "succeeded"
    assert load(kind, path, pa.table({"id": [1, 2]}), table="t").status == "succeeded"


@pytest.mark.parametrize("kind", KINDS)
def test_two_programs_read_a_database_file_at_once(kind: str, tmp_path: Path) -> None:
    """A run attached a DuckDB file read-write even to only read it, which locked every other
    program out: a second run reading it failed with 'open in another program'. SQLite files
    could already be read by two programs at once (SQLite locks per transaction)."""
    import os
    import subprocess
    import sys

    path = tmp_path / f"db.{kind}"
    _two_tables(kind, path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, kind, str(path), str(tmp_path / "h")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        assert read_back(kind, path).column("id").to_pylist() == [1]
        if kind == "duckdb":  # a writer is refused, naming the program that reads the file
            result = load(kind, path, pa.table({"id": [2], "text": ["b"]}), mode="append")
            refused_on_path(result, f"cannot write the database file {path}: it is open in "
                            "another program, ", f"(PID {holder.pid}); DuckDB writes a file only "
                            "while", node="out")
    finally:
        out, _ = holder.communicate("")
    assert out == "succeeded None\n"
    assert load(kind, path, pa.table({"id": [2], "text": ["b"]}), mode="append").status \
        == "succeeded"


def test_two_runs_of_one_process_read_a_duckdb_file_at_once(tmp_path: Path) -> None:
    """Both attached it read-write, and DuckDB refuses a file attached twice in a process
    unless both attachments are read-only ('Unique file handle conflict', unexplained)."""
    path = tmp_path / "db.duckdb"
    _two_tables("duckdb", path)
    doc = {"name": "hold", "nodes": [
        {"id": "src", "type": "extractor", "module": "duckdb",
         "config": {"path": str(path), "table": "t"}},
        {"id": "out", "type": "loader", "module": "hold", "config": {}}],
        "edges": [{"source": "src", "target": "out"}]}
    registry = Registry([*REGISTRY.all(), _Hold])
    _Hold.opened.clear()
    _Hold.release.clear()
    results: list[RunResult] = []
    holder = threading.Thread(target=lambda: results.append(run_pipeline(
        compile_pipeline(doc, registry), RunOptions(data_dir=tmp_path / "h"))))
    holder.start()
    try:
        assert _Hold.opened.wait(60)
        assert read_back("duckdb", path).column("id").to_pylist() == [1]
        result = load("duckdb", path, pa.table({"id": [2], "text": ["b"]}), mode="append")
        refused_on_path(result, "is in use by another run of this process")
    finally:
        _Hold.release.set()
        holder.join()
    assert results[0].status == "succeeded", results[0].error


def test_a_duckdb_file_open_in_another_program(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "db.duckdb"
    _two_tables("duckdb", path)
    for read_only in (True, False):
        holder = subprocess.Popen(
            [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1], "
             f"read_only={read_only}); print('open', flush=True); sys.stdin.read()", str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "open\n"
            result = load("duckdb", path, pa.table({"id": [2], "text": ["b"]}), mode="append")
            refused_on_path(result, f"cannot write the database file {path}: it is open in "
                            "another program, ", f"(PID {holder.pid}); DuckDB writes a file only "
                            "while")
            # a run that reads the file and loads into it opens it once, for writing
            copy = {"name": "copy", "nodes": [
                {"id": "src", "type": "extractor", "module": "duckdb",
                 "config": {"path": str(path), "table": "t"}},
                {"id": "out", "type": "loader", "module": "duckdb",
                 "config": {"path": str(path), "table": "t2"}}],
                "edges": [{"source": "src", "target": "out"}]}
            result = run_pipeline(compile_pipeline(copy, REGISTRY),
                                  RunOptions(data_dir=tmp_path / "d"))
            refused_on_path(result, "cannot write the database file", "this node only reads "
                            "the file, but a loader of this run writes it", node="src")
            if read_only:  # it can still be read
                assert read_back("duckdb", path).column("id").to_pylist() == [1]
            else:
                refused_on_path(run_read("duckdb", path, table="t"),
                                f"the database file {path} is open for writing in another program",
                                f"(PID {holder.pid}); DuckDB lets other programs read", node="src")
        finally:
            holder.communicate("")
    result = run_pipeline(compile_pipeline(copy, REGISTRY), RunOptions(data_dir=tmp_path / "d"))
    assert result.status == "succeeded", result.error
    assert result.nodes["out"].extra["rows_inserted"] == 2


def test_a_time_of_day_is_stored_by_the_sqlite_loader_as_text(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    data = pa.table({"id": [1, 2], "at": pa.array([dt.time(9, 30), None], pa.time64("us"))})
    result = load("sqlite", path, data)
    assert result.status == "succeeded", result.error
    assert read_back("sqlite", path).column("at").to_pylist() == ["09:30:00", None]


@pytest.mark.parametrize("kind", KINDS)
def test_names_differing_only_in_case_are_the_same_table_and_column(kind: str,
                                                                   tmp_path: Path) -> None:
    """Both databases match names case-insensitively; the loaders looked them up exactly and
    then tried to create the table or column again."""
    path = tmp_path / f"db.{kind}"
    assert load(kind, path, pa.table({"id": [1], "Qty": [10]}), table="Orders").status == "succeeded"
    for table, mode in (("orders", "append"), ("ORDERS", "upsert")):
        result = load(kind, path, pa.table({"id": [2], "qty": [20]}), table=table, mode=mode,
                      keys=["id"])
        assert result.status == "succeeded", result.error
    back = read_back(kind, path, table="Orders")
    assert back.column_names == ["id", "Qty"]
    assert back.column("Qty").to_pylist() == [10, 20]


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_that_is_not_a_database_is_named_on_path(kind: str, tmp_path: Path) -> None:
    """DuckDB attached an existing CSV file as an in-memory database (a view over the file):
    the load reported success and its rows went nowhere."""
    path = tmp_path / "orders.csv"
    path.write_text("id,text\n1,a\n")
    result = load(kind, path, pa.table({"id": [2], "text": ["b"]}), mode="append")
    assert result.status == "failed" and result.error is not None
    assert result.error.field == "path" and str(path) in result.error.reason
    assert path.read_text() == "id,text\n1,a\n"


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_preview_of_an_interval_column(engine: str, tmp_path: Path) -> None:
    """`run` handed intervals over as durations, but `preview` (and the samples cleaners and
    validators show) failed: "Unsupported cast from month_day_nano_interval to duration"."""
    from tests.helpers import preview

    path = tmp_path / "iv.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE iv AS SELECT 1 AS id, INTERVAL '26 hours 30 minutes' AS took")
    doc = {"name": "p", "nodes": [
        {"id": "src", "type": "extractor", "module": "duckdb",
         "config": {"path": str(path), "table": "iv"}}], "edges": []}
    table = preview(doc, "src", engine=engine)
    assert table.column("took").to_pylist() == [dt.timedelta(hours=26, minutes=30)]


def test_sqlite_untyped_columns_and_offsets_keep_their_values(tmp_path: Path) -> None:
    """DuckDB's sqlite extension types columns by their declared type: a column without one
    came as bytes (5 as b'5', 0.30000000000000004 as b'0.3'), and a TIMESTAMP text's UTC offset
    was dropped ('10:00:00+02:00' came as 10:00). A text column keeps its text."""
    path = tmp_path / "db.sqlite"
    name = quote_identifier(TABLE)
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE TABLE {name} (id INTEGER, ts TIMESTAMP, note TEXT, ints, nums, mixed, "
                    "raw, empty)")
        con.executemany(f"INSERT INTO {name} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
            (6, "2024-03-10 10:00:00+02:00", "2024-03-10 10:00:00+02:00", 5, 0.1 + 0.2, 5,
             b"\x00\xff", None),
            (5, "2024-03-10 10:00:00.5-05:30", None, -7, 3, "a", "text", None),
            (4, "2024-03-10 10:00:00+02", None, None, None, 2.5, 7, None),  # PostgreSQL's form
            (3, "2024-03-10T10:00:00Z", None, 2**63 - 1, 1e301, None, None, None),
            (2, "2024-03-10 10:00:00", None, None, None, None, None, None),
            (1, 1710064800, None, None, None, None, None, None)])  # unix seconds, as before
    back = read_back("sqlite", path).sort_by([("id", "descending")])
    assert {f.name: str(f.type) for f in back.schema} == {
        "id": "int64", "ts": "timestamp[us]", "note": "string", "ints": "int64", "nums": "double",
        "mixed": "string", "raw": "binary", "empty": "binary"}
    at = dt.datetime(2024, 3, 10, 10)
    assert back.to_pydict() == {
        "id": [6, 5, 4, 3, 2, 1],
        "ts": [at - dt.timedelta(hours=2), at + dt.timedelta(hours=5, minutes=30, seconds=0.5),
               at - dt.timedelta(hours=2), at, at, at],
        "note": ["2024-03-10 10:00:00+02:00", None, None, None, None, None],
        "ints": [5, -7, None, 2**63 - 1, None, None],
        "nums": [0.30000000000000004, 3.0, None, 1e301, None, None],
        "mixed": ["5", "a", "2.5", None, None, None],
        "raw": [b"\x00\xff", b"text", b"7", None, None, None],
        "empty": [None] * 6}
    # a condition sees the values as read, and the rows keep the table's order
    doc = {"name": "read", "nodes": [
        {"id": "src", "type": "extractor", "module": "sqlite",
         "config": {"path": str(path), "table": TABLE, "columns": ["id", "ts", "ints"],
                    "where": "ints > 0 OR ts < TIMESTAMP '2024-03-10 09:00:00'"}},
        {"id": "out", "type": "loader", "module": "parquet",
         "config": {"path": str(tmp_path / "cond.parquet")}}],
        "edges": [{"source": "src", "target": "out"}]}
    result = run_pipeline(compile_pipeline(doc, REGISTRY), RunOptions(data_dir=tmp_path / "d"))
    assert result.status == "succeeded", result.error
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "cond.parquet").to_pylist() == [
        {"id": 6, "ts": at - dt.timedelta(hours=2), "ints": 5},
        {"id": 4, "ts": at - dt.timedelta(hours=2), "ints": None},
        {"id": 3, "ts": at, "ints": 2**63 - 1}]


@pytest.mark.parametrize("kind", KINDS)
def test_a_view_is_refused_in_every_mode_and_never_dropped(kind: str, tmp_path: Path) -> None:
    """The library's words were all there was ('v is not an table', 'Existing object v is of
    type View, trying to drop type Table', 'cannot modify v because it is a view')."""
    from tests.integration.databases import harness

    path = tmp_path / f"db.{kind}"
    ddl = ["CREATE TABLE base (id INTEGER PRIMARY KEY, name TEXT)",
           "INSERT INTO base VALUES (1, 'a')", "CREATE VIEW v AS SELECT id, name FROM base"]
    if kind == "sqlite":
        with sqlite3.connect(path) as con:
            for statement in ddl:
                con.execute(statement)
        con.close()
    else:
        with duckdb.connect(str(path)) as dcon:
            for statement in ddl:
                dcon.execute(statement)
    where = "SQLite" if kind == "sqlite" else "DuckDB"
    for mode in ("append", "replace", "upsert"):
        result = harness.load(kind, pa.table({"id": [2], "name": ["b"]}), tmp_path, path=str(path),
                              table="V", mode=mode, keys=["id"] if mode == "upsert" else [])
        assert result.status == "failed" and result.error is not None
        assert result.error.field == "table"
        assert result.error.reason == (
            f"table 'V' of the {where} file {path} is a view, and a "
            "view cannot be loaded: it holds no rows of its own, only a query; nothing was "
            "changed: set `table` to the table it reads ('base') to load that, or to another "
            "name (a missing table is created)"), mode
    assert read_back(kind, path, table="v").to_pylist() == [{"id": 1, "name": "a"}]
