"""Database files (DuckDB, SQLite) opened through an in-process DuckDB: streamed reads, and
atomic loads in every mode (append, replace, upsert) inside one transaction of the target.

DuckDB attaches SQLite files natively (its ``sqlite`` extension, shipped as a PyPI wheel), so
one implementation serves both formats with the same types, transactions and speed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ecluse.sdk.config import ModuleConfig, columns_field, path_field, sql_field
from ecluse.sdk.context import NodeContext
from ecluse.sdk.duckdb_ext import duckdb_config
from ecluse.sdk.errors import ConfigError, boolean_misfit, cut, disk_full, view_target
from ecluse.sdk.files import make_folder
from ecluse.sdk.ibis_sql import executable_sql
from ecluse.sdk.module import Extractor, Loader, LoadResult
from ecluse.sdk.relational import require_columns
from ecluse.sdk.sqltext import (
    bind_parameters,
    interval_microseconds,
    query_parameters,
    quote_identifier,
    quote_table,
    split_db_table,
    tables_read,
)
from ecluse.sdk.types import duration_text, is_arrow_number, type_name

if TYPE_CHECKING:
    import duckdb
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend

    from ecluse.sdk.warehouse import Warehouse

FileKind = Literal["duckdb", "sqlite"]
LoadMode = Literal["append", "replace", "upsert"]
ALIAS = "target_db"
SQLITE_WAIT_S = 30.0
"""How long a SQLite load waits for another program's write to end before giving up."""


def connect(path: Path, kind: FileKind, *, write: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB instance with the file attached as the default database, read-write if
    ``write`` else READ_ONLY: DuckDB locks a file attached read-write against every other
    program, one attached read-only only against writers. (A SQLite file is attached as it
    comes: SQLite locks per transaction, so readers never block each other, and a read-only
    attach would leave a WAL database's -wal and -shm files behind.)"""
    import duckdb

    con = duckdb.connect(config=duckdb_config())
    # the TYPE is explicit: DuckDB attaches an existing CSV, Parquet or JSON file as an
    # in-memory database with a view over it, where a load would vanish
    mode = ", READ_ONLY" if kind == "duckdb" and not write else ""
    created = write and not path.exists()
    if write:
        make_folder(path.parent)
    try:
        con.execute(f"ATTACH '{_escape(str(path))}' AS {ALIAS} (TYPE {kind}{mode})")
    except duckdb.Error as exc:
        con.close()
        # a full disk left an empty file: the destination stays as it was (unless another
        # program, whose lock is in the way, created it meanwhile)
        if created and "lock" not in str(exc).lower():
            remove_new_file(path, kind)
        raise _attach_failure(path, write, exc) from exc
    con.execute(f"USE {ALIAS}")
    return con


_COMPANIONS = {"duckdb": (".wal",), "sqlite": ("-journal", "-wal", "-shm")}
"""The files a database file's writes leave beside it."""


def remove_new_file(path: Path, kind: FileKind) -> None:
    """Remove a database file this run created (and the files its writes left beside it)."""
    for file in (path, *(path.with_name(path.name + end) for end in _COMPANIONS[kind])):
        with contextlib.suppress(OSError):
            file.unlink()


class OpenFile:
    """The run's one DuckDB instance for a database file (kept in ``ctx.shared``, closed when
    the run ends). A file the run created is removed then unless a load committed into it: a
    load that failed (a full disk, a lost source) or a run that failed before its load leaves
    no empty file behind."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, kind: FileKind, *,
                 created: bool) -> None:
        self.con = con
        self.path = path
        self.kind = kind
        self.created = created
        self.committed = False

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            if self.created and not self.committed:
                remove_new_file(self.path, self.kind)


def _attach_failure(path: Path, write: bool, exc: Exception) -> ConfigError:
    text = str(exc)
    full = disk_full(text, path, what=f"cannot write the database file {path}") if write else None
    if full is not None:
        return full
    held = (re.search(r"Conflicting lock is held in (.*?\(PID \d+\))", text)
            or re.search(r"Conflicting lock is held in (.*?)(?:\. See also|\. However|$)", text))
    if held and write:
        return ConfigError(f"cannot write the database file {path}: it is open in another "
                           f"program, {held.group(1)}; DuckDB writes a file only while no other "
                           "program has it open, even to read it: close it there, or retry when it "
                           "is done; nothing was written", field="path")
    if held:
        return ConfigError(f"the database file {path} is open for writing in another program, "
                           f"{held.group(1)}; DuckDB lets other programs read a file only while none "
                           "has it open for writing: retry when it is done", field="path")
    if "Unique file handle conflict" in text:
        return ConfigError(f"the database file {path} is in use by another run of this process, "
                           "and DuckDB lets one run at a time use a file that one of them writes: "
                           "retry when it is done", field="path")
    purpose = " for writing" if write else ""
    return ConfigError(f"cannot open the database file {path}{purpose}: {text.splitlines()[0]}",
                       field="path")


def database(ctx: NodeContext, path: Path, kind: FileKind, *, must_exist: bool,
             write: bool) -> duckdb.DuckDBPyConnection:
    """A cursor on the run's one database instance for ``path`` (DuckDB refuses to attach the
    same file twice in a process, and extractor, loader and pushdown may all need it). It is
    read-write when this node, or any loader of the run (``ctx.written``), writes the file."""
    key = _shared_key(kind, path)
    opened: OpenFile | None = ctx.shared.get(key)
    for_loader = not write and warehouse_key(kind, path) in ctx.written
    if opened is None:
        exists = path.exists()
        if must_exist and not exists:
            raise ConfigError(f"database file {path} does not exist", field="path")
        try:
            con = connect(path, kind, write=write or for_loader)
        except ConfigError as exc:
            if not for_loader:
                raise
            raise ConfigError(f"{exc} (this node only reads the file, but a loader of this run "
                              "writes it, and the run opens it once, for writing)",
                              field=exc.field) from exc
        opened = ctx.shared[key] = OpenFile(con, path, kind, created=not exists)
    elif write and kind == "duckdb" and _read_only(opened.con):
        raise ConfigError(f"cannot write the database file {path}: this run opened it read-only "
                          "to read it, not knowing a loader would write it", field="path")
    cursor = opened.con.cursor()
    cursor.execute(f"USE {ALIAS}")
    ctx.cancel.on_cancel(cursor.interrupt)  # a cancelled run stops this cursor's query too
    return cursor


def _shared_key(kind: FileKind, path: Path) -> str:
    return f"dbfile:{kind}:{path.resolve()}"


def committed(ctx: NodeContext, path: Path, kind: FileKind) -> None:
    """Note that a load into ``path`` committed: the file stays even if the run fails."""
    opened: OpenFile | None = ctx.shared.get(_shared_key(kind, path))
    if opened is not None:
        opened.committed = True


def _read_only(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT readonly FROM duckdb_databases() WHERE database_name = ?",
                      [ALIAS]).fetchone()
    return bool(row and row[0])


def _escape(text: str) -> str:
    return text.replace("'", "''")


def source_query(*, table: str | None, query: str | None, columns: Sequence[str] | None,
                 where: str | None) -> str:
    if query:
        return query
    assert table is not None
    cols = ", ".join(quote_identifier(c) for c in columns) if columns else "*"
    sql = f"SELECT {cols} FROM {quote_table(table)}"
    return f"{sql} WHERE {where}" if where else sql


def stream(con: duckdb.DuckDBPyConnection, sql: str, parameters: Mapping[str, Any], *,
           limit: int | None = None, batch_size: int = 100_000,
           field: str = "query") -> pa.RecordBatchReader:
    """The rows of ``sql`` as Arrow batches; ``:name`` parameters are bound, not pasted."""
    import pyarrow as pa

    text, values = bind_parameters(sql, parameters, style="dollar")
    if limit is not None:
        text = f"SELECT * FROM ({text}) LIMIT {int(limit)}"
    try:
        reader = con.execute(text, values).fetch_record_batch(batch_size)
        intervals = [f.name for f in reader.schema if pa.types.is_interval(f.type)]
        if not intervals:
            return reader
        # DuckDB hands intervals over as month-day-nano values, which engines (Polars) and
        # loaders cannot take: as durations, their exact length
        reader.close()
        lengths = ", ".join(map(interval_microseconds, intervals))
        reader = con.execute(f"SELECT * REPLACE ({lengths}) FROM ({text})", values) \
            .fetch_record_batch(batch_size)
        schema = pa.schema([f.with_type(pa.duration("us")) if f.name in intervals else f
                            for f in reader.schema])
        return pa.RecordBatchReader.from_batches(schema, (
            pa.RecordBatch.from_arrays([c.cast(t) for c, t in zip(b.columns, schema.types,
                                                                  strict=True)], schema=schema)
            for b in reader))
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        hints = [line for line in lines[1:] if line.startswith(("Did you mean", "Candidate"))]
        raise ConfigError(" ".join(["the query failed:", *lines[:1], *hints]),
                          field=field) from exc


@dataclass
class LoadCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


def load(con: duckdb.DuckDBPyConnection, data: pa.RecordBatchReader | str, table: str, *,
         mode: LoadMode, keys: Sequence[str], add_columns: bool, path: Path) -> LoadCounts:
    """Load ``data`` (Arrow batches, or a SELECT over this same database) into ``table`` of
    the file ``path`` in one transaction: on any error the table is exactly as it was (the
    transaction rolls back, DDL included), and a full disk is said so."""
    import duckdb

    if isinstance(data, str):
        con.execute(f"CREATE OR REPLACE TEMP VIEW ecluse_source AS {data}")
    else:
        con.register("ecluse_source", data)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            counts = _load(con, table, mode, keys, add_columns, path)
            con.execute("COMMIT")
        except BaseException:
            # a COMMIT that failed (a full disk) has ended the transaction already, and a
            # database a failed write invalidated refuses everything: the first error is the one
            # to report
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        finally:
            with contextlib.suppress(duckdb.Error):
                if isinstance(data, str):
                    con.execute("DROP VIEW IF EXISTS temp.ecluse_source")
                else:
                    con.unregister("ecluse_source")
    except duckdb.Error as exc:
        full = disk_full(str(exc), path, what=f"loading table {table!r} into {path} failed")
        if full is not None:
            raise full from exc
        raise
    return counts


def load_sqlite(path: Path, data: pa.RecordBatchReader, table: str, *, mode: LoadMode,
                keys: Sequence[str], add_columns: bool) -> LoadCounts:
    """SQLite loads go through Python's sqlite3, which keeps the declared column types
    (TIMESTAMP, DATE, BOOLEAN, DECIMAL...) that readers rely on; one IMMEDIATE transaction
    covers DDL and rows, so a failure rolls everything back."""
    import sqlite3

    incoming = data.schema.names
    missing_keys = [k for k in keys if k not in incoming]
    if missing_keys:
        raise ConfigError(f"key column(s) {missing_keys} are not in the incoming data", field="keys")
    database_name, name = split_db_table(table)
    if database_name not in (None, "main"):
        raise ConfigError(f"a SQLite file has one database, 'main', not {database_name!r}; a table "
                          f"whose name holds a dot is written in double quotes: \"{table}\"",
                          field="table")
    created = not path.exists()
    make_folder(path.parent)
    try:
        con = sqlite3.connect(path, timeout=SQLITE_WAIT_S, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                counts = _sqlite_load(con, data, name, mode, keys, add_columns, path)
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:  # its own failure must not hide the first one
                    with contextlib.suppress(sqlite3.Error):
                        con.execute("ROLLBACK")
                raise
        finally:
            con.close()
    except BaseException as exc:
        # a file this load created goes again (a full disk, a lost source left it empty);
        # not when another program holds it: it created it meanwhile
        if created and not _busy(exc):
            remove_new_file(path, "sqlite")
        if isinstance(exc, sqlite3.Error):
            raise _sqlite_failure(path, table, exc) from exc
        raise
    return counts


def _busy(exc: BaseException) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _sqlite_failure(path: Path, table: str, exc: Exception) -> ConfigError:
    text = str(exc)
    full = disk_full(text, path, what=f"loading table {table!r} into {path} failed")
    if full is not None:
        return full
    if _busy(exc):
        return ConfigError(f"the SQLite file {path} is being written by another program (it stayed "
                           f"locked for {SQLITE_WAIT_S:g} s); nothing was changed: retry when it is "
                           "done", field="path")
    if "readonly" in text or "unable to open" in text or "not a database" in text:
        return ConfigError(f"cannot write the SQLite file {path} ({text}); nothing was changed: "
                           "check that it is a SQLite file and that it and its folder can be "
                           "written", field="path")
    return ConfigError(f"loading table {table!r} of {path} failed, nothing was changed: {text}",
                       field="table")


def _sqlite_type(dtype: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(dtype):
        return "BOOLEAN"
    if pa.types.is_integer(dtype):
        return "INTEGER"
    if pa.types.is_floating(dtype):
        return "REAL"
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP"
    if pa.types.is_date(dtype):
        return "DATE"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "BLOB"
    return "TEXT"


def _sqlite_value(value: Any) -> Any:
    import datetime as dt
    import decimal
    import json

    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):  # a time of day is TEXT: DuckDB reads TIME as TIMESTAMP
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):  # no SQLite type: text that casts back (26:00:00)
        return duration_text(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return value


def _sqlite_column(array: pa.Array) -> list[Any]:
    """A column as the values sqlite3 binds; only types sqlite3 cannot bind as they come are
    converted value by value (column by column: no row dicts, no type test per integer)."""
    import pyarrow as pa

    values: list[Any] = array.to_pylist()
    t = array.type
    if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_null(t)):
        return values
    return [_sqlite_value(v) for v in values]


def _sqlite_load(con: Any, data: pa.RecordBatchReader, name: str, mode: LoadMode,
                 keys: Sequence[str], add_columns: bool, path: Path) -> LoadCounts:
    import pyarrow as pa

    view = con.execute("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ? "
                       "COLLATE NOCASE", (name,)).fetchone()
    if view is not None:
        raise view_target(name, f"the SQLite file {path}", tables_read(view[0] or "", "sqlite"))
    schema = data.schema
    target = quote_identifier(name)
    cols = ", ".join(quote_identifier(n) for n in schema.names)
    declared = {r[0].lower(): r[1]  # SQLite's names are case-insensitive: 'qty' is 'Qty'
                for r in con.execute("SELECT name, type FROM pragma_table_info(?)", (name,))}
    deleted = 0
    if declared and mode == "replace":
        deleted = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        con.execute(f"DROP TABLE {target}")
        declared = {}
    if not declared:
        ddl = ", ".join(f"{quote_identifier(f.name)} {_sqlite_type(f.type)}" for f in schema)
        con.execute(f"CREATE TABLE {target} ({ddl})")
    else:
        new = [f for f in schema if f.name.lower() not in declared]
        if new and not add_columns:
            raise ConfigError(f"the incoming data has column(s) {[f.name for f in new]} that the "
                              "table lacks; set schema_evolution to 'add_columns' to add them",
                              field="schema_evolution")
        for f in new:
            con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_identifier(f.name)} "
                        f"{_sqlite_type(f.type)}")
    for f in schema:
        column_type = declared.get(f.name.lower())
        if column_type is None:
            continue
        boolean_column = "bool" in column_type.lower()
        number_column = _read_as(column_type) in ("integer", "real")
        if ((pa.types.is_boolean(f.type) and number_column and not boolean_column)
                or (boolean_column and is_arrow_number(f.type))):
            import ibis

            raise boolean_misfit(name, f.name, column_type, type_name(ibis.dtype(f.type)),
                                  "boolean" if boolean_column else
                                  "int64" if _read_as(column_type) == "integer" else "float64")
    # columns whose incoming type the table's declares differently: their values go through a
    # staging table typed like the target (same affinity) and are checked before the target
    checked = [f for f in schema if f.name.lower() in declared
               and _read_as(declared[f.name.lower()]) in _SQLITE_FITS
               and _read_as(declared[f.name.lower()]) != _read_as(_sqlite_type(f.type))]
    into = target
    if checked or mode == "upsert":
        into = quote_identifier("_ecluse_staging")
        ddl = ", ".join(f"{quote_identifier(f.name)} "
                        f"{declared.get(f.name.lower()) or _sqlite_type(f.type)}" for f in schema)
        con.execute(f"CREATE TEMP TABLE {into} ({ddl})")
    marks = ", ".join("?" * len(schema.names))
    total = 0
    for batch in data:
        columns = [_sqlite_column(c) for c in batch.columns]
        con.executemany(f"INSERT INTO {into} ({cols}) VALUES ({marks})", zip(*columns, strict=True))
        total += batch.num_rows
    if into == target:
        return LoadCounts(inserted=total, deleted=deleted)
    for f in checked:
        column_type = declared[f.name.lower()]
        c = quote_identifier(f.name)
        fits = _SQLITE_FITS[_read_as(column_type)].format(c=c)
        row = con.execute(f"SELECT {c} FROM {into} WHERE {c} IS NOT NULL AND NOT ({fits}) "
                          "LIMIT 1").fetchone()
        if row is not None:
            import ibis

            raise _misfit(name, f.name, column_type, type_name(ibis.dtype(f.type)), repr(row[0]))
    if mode != "upsert":
        con.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {into}")
        return LoadCounts(inserted=total)
    match = " AND ".join(f"{target}.{quote_identifier(k)} IS s.{quote_identifier(k)}" for k in keys)
    updated = con.execute(f"DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {into} s "
                          f"WHERE {match})").rowcount
    by_key = ", ".join(quote_identifier(k) for k in keys)
    inserted = con.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {into} WHERE rowid IN "
                           f"(SELECT max(rowid) FROM {into} GROUP BY {by_key})").rowcount
    con.execute(f"DROP TABLE {into}")
    return LoadCounts(inserted=inserted - updated, updated=updated)


def _read_as(declared: str) -> str:
    """What DuckDB's sqlite extension, which the ``sqlite`` extractor reads through, makes of a
    column's declared type (its rules, after SQLite's affinity rules)."""
    t = declared.strip().lower()
    if "int" in t or "bool" in t:
        return "integer"
    if "char" in t or "clob" in t or "text" in t:
        return "text"
    if "blob" in t or not t:
        return "blob"
    if "real" in t or "floa" in t or "doub" in t or "dec" in t or "num" in t:
        return "real"
    if t == "date":
        return "date"
    return "timestamp" if "time" in t else "text"


_SQLITE_FITS = {
    "integer": "typeof({c}) = 'integer'",
    "real": "typeof({c}) IN ('integer', 'real')",
    "text": "typeof({c}) = 'text'",
    "date": "typeof({c}) = 'text' AND julianday({c}) IS NOT NULL",
    "timestamp": "typeof({c}) = 'text' AND julianday({c}) IS NOT NULL",
}
"""The values a column of each kind can hold once SQLite stored them (after its affinity turned
'7' into 7 or 2.0 into 2); any other value would fail every later read of the table."""


def _misfit(table: str, column: str, column_type: str, input_type: str, value: str) -> ConfigError:
    return ConfigError(f"column {column!r} of table {table!r} is of type {column_type}, but the "
                       f"incoming {column!r} is {input_type} and holds {cut(value, 60)}, which that type "
                       "cannot hold; nothing was changed: convert the column before this node (e.g. "
                       "a cleaner's cast) or load with mode 'replace' to recreate the table",
                       field="table")


def _count(con: duckdb.DuckDBPyConnection, target: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {target}").fetchone()
    return int(row[0]) if row else 0


def _existing_columns(con: duckdb.DuckDBPyConnection, schema: str | None,
                      name: str) -> dict[str, str] | None:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? "
        "AND lower(table_name) = lower(?) "
        "AND lower(table_schema) = lower(coalesce(?, current_schema())) "
        "ORDER BY ordinal_position", [ALIAS, name, schema]).fetchall()
    return {r[0].lower(): r[1] for r in rows} or None  # DuckDB's names are case-insensitive


_INTEGERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                       "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"})
_MISFIT = "ecluse-misfit:"


def _is_number_type(duckdb_type: str) -> bool:
    return duckdb_type in _INTEGERS or duckdb_type in ("FLOAT", "DOUBLE") \
        or duckdb_type.startswith("DECIMAL")


def _cast_to(column_type: str) -> str:
    """The cleaner's cast (a type users write) that makes a column fit ``column_type``."""
    if column_type == "BOOLEAN":
        return "boolean"
    if column_type in _INTEGERS:
        return "int64"
    return column_type.lower() if column_type.startswith("DECIMAL") else "float64"


def _fitted(index: int, column: str, incoming: str, column_type: str) -> str:
    """``column`` cast to the table's type, failing (with the value) on a value that does not
    cast, or that has a fraction an integer column would round away."""
    c = quote_identifier(column)
    bad = f"TRY_CAST({c} AS {column_type}) IS NULL"
    if column_type in _INTEGERS and incoming not in _INTEGERS | {"BOOLEAN"}:
        bad += f" OR TRY_CAST({c} AS DOUBLE) <> TRY_CAST({c} AS {column_type})"
    return (f"CASE WHEN {c} IS NOT NULL AND ({bad}) THEN "
            f"error('{_MISFIT}{index}:' || CAST({c} AS VARCHAR)) "
            f"ELSE CAST({c} AS {column_type}) END AS {c}")


def _load(con: duckdb.DuckDBPyConnection, table: str, mode: LoadMode, keys: Sequence[str],
          add_columns: bool, path: Path) -> LoadCounts:
    import duckdb

    schema, name = split_db_table(table)
    view = con.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = ? AND lower(view_name) = lower(?) "
        "AND lower(schema_name) = lower(coalesce(?, current_schema()))",
        [ALIAS, name, schema]).fetchone()
    if view is not None:
        raise view_target(table, f"the DuckDB file {path}", tables_read(view[0] or "", "duckdb"))
    target = ".".join(quote_identifier(p) for p in (schema, name) if p is not None)
    types = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM ecluse_source").fetchall()}
    missing_keys = [k for k in keys if k not in types]
    if missing_keys:
        raise ConfigError(f"key column(s) {missing_keys} are not in the incoming data", field="keys")
    existing = _existing_columns(con, schema, name)
    deleted = 0
    if existing is not None and mode == "replace":
        deleted = _count(con, target)
        con.execute(f"DROP TABLE {target}")
        existing = None
    if existing is None:
        if schema is not None:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
        if mode != "upsert":
            con.execute(f"CREATE TABLE {target} AS SELECT * FROM ecluse_source")
            return LoadCounts(inserted=_count(con, target), deleted=deleted)
        ddl = ", ".join(f"{quote_identifier(c)} {t}" for c, t in types.items())
        con.execute(f"CREATE TABLE {target} ({ddl})")
        existing = {c.lower(): t for c, t in types.items()}
    new = [c for c in types if c.lower() not in existing]
    if new and not add_columns:
        raise ConfigError(f"the incoming data has column(s) {new} that table {table} lacks; set "
                          "schema_evolution to 'add_columns' to add them", field="schema_evolution")
    for col in new:
        con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_identifier(col)} {types[col]}")
    cols = ", ".join(quote_identifier(c) for c in types)
    changed = [(c, types[c], existing[c.lower()]) for c in types
               if c.lower() in existing and types[c] != existing[c.lower()]]
    for c, incoming, column_type in changed:
        if ((incoming == "BOOLEAN" and _is_number_type(column_type))
                or (column_type == "BOOLEAN" and _is_number_type(incoming))):
            raise boolean_misfit(table, c, column_type, incoming, _cast_to(column_type))
    fitted = {c: _fitted(i, c, incoming, column_type)
              for i, (c, incoming, column_type) in enumerate(changed)}
    select = ", ".join(fitted.get(c, quote_identifier(c)) for c in types)
    staging = quote_identifier(f"_ecluse_staging_{name}")
    try:
        if mode == "append":
            row = con.execute(f"INSERT INTO {target} ({cols}) SELECT {select} "
                              "FROM ecluse_source").fetchone()
            return LoadCounts(inserted=int(row[0]) if row else 0)
        con.execute(f"CREATE TABLE {staging} AS SELECT {select} FROM ecluse_source")
    except duckdb.InvalidInputException as exc:
        _, marker, rest = str(exc).partition(_MISFIT)
        if not marker:
            raise
        index, _, value = rest.partition(":")
        column, incoming, column_type = changed[int(index)]
        raise _misfit(table, column, column_type, incoming,
                      repr(value) if incoming == "VARCHAR" else value) from exc
    match = " AND ".join(f"{target}.{quote_identifier(k)} IS NOT DISTINCT FROM s.{quote_identifier(k)}"
                         for k in keys)
    row = con.execute(f"DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {staging} s "
                      f"WHERE {match})").fetchone()
    updated = int(row[0]) if row else 0
    by_key = ", ".join(quote_identifier(k) for k in keys)
    row = con.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging} "
                      f"QUALIFY row_number() OVER (PARTITION BY {by_key} ORDER BY rowid DESC) = 1"
                      ).fetchone()
    total = int(row[0]) if row else 0
    con.execute(f"DROP TABLE {staging}")
    return LoadCounts(inserted=total - updated, updated=updated)


# --- what the duckdb and sqlite modules share ------------------------------------------


class DbFileReadConfig(ModuleConfig):
    path: str = path_field("The database file.")
    table: str | None = Field(None, description="Table to read (`schema.table` allowed).")
    columns: list[str] | None = Field(None, description="Columns to read; all when empty.")
    where: str | None = Field(None, description="SQL condition on the table's rows.")
    query: str | None = sql_field("A SQL query instead of a table; `:name` parameters are bound.",
                                  default=None)

    @model_validator(mode="after")
    def _table_or_query(self) -> DbFileReadConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give either 'table' or 'query'")
        if self.query is not None and (self.columns or self.where):
            raise ValueError("'columns' and 'where' apply to a 'table', not to a 'query'")
        return self


class DbFileExtractor(Extractor):
    file_kind: ClassVar[FileKind]
    category = "Databases"
    icon = "storage"
    config: DbFileReadConfig

    def read(self, ctx: NodeContext) -> ir.Table:
        c = self.config
        con = database(ctx, ctx.resolve_path(c.path), self.file_kind, must_exist=True, write=False)
        ctx.scratch["connection"] = con
        sql = self.source_sql(con, ctx)
        limit = 0 if ctx.mode == "schema" else ctx.sample_rows
        return ctx.backend.from_arrow(stream(con, sql, ctx.parameters, limit=limit,
                                             field="query" if c.query else "table"),
                                      name=self.name)

    def source_sql(self, con: duckdb.DuckDBPyConnection, ctx: NodeContext) -> str:
        """The query the rows are read with (DuckDB's SQL, over the attached file)."""
        c = self.config
        return source_query(table=c.table, query=c.query, columns=c.columns, where=c.where)

    def finish(self, ctx: NodeContext, *, succeeded: bool) -> None:
        con = ctx.scratch.pop("connection", None)
        if con is not None:
            con.close()

    def warehouse_key(self, ctx: NodeContext) -> str | None:
        return warehouse_key(self.file_kind, ctx.resolve_path(self.config.path))

    def open_warehouse(self, ctx: NodeContext) -> BaseBackend:
        return open_warehouse(ctx, ctx.resolve_path(self.config.path), write=False)

    def warehouse_relation(self, con: Warehouse, ctx: NodeContext) -> ir.Table | None:
        c = self.config
        sql = source_query(table=c.table, query=c.query, columns=c.columns, where=c.where)
        if query_parameters(sql):
            return None  # a view cannot carry bound parameters: stream it instead
        return con.sql(sql)  # type: ignore[attr-defined,no-any-return]


class DbFileLoadConfig(ModuleConfig):
    path: str = path_field("The database file (created when missing).")
    table: str = Field(min_length=1, description="Target table (`schema.table` allowed).")
    mode: LoadMode = Field("append", description="Add rows, replace the table, or update rows "
                           "matching `keys` and insert the others.")
    keys: list[str] = columns_field("Columns identifying a row (for `upsert`).", default_factory=list)
    schema_evolution: Literal["add_columns", "fail"] = Field(
        "add_columns", description="New incoming columns are added to the table, or stop the run.")

    @model_validator(mode="after")
    def _keys_for_upsert(self) -> DbFileLoadConfig:
        if self.mode == "upsert" and not self.keys:
            raise ValueError("mode 'upsert' needs 'keys'")
        return self


class DbFileLoader(Loader):
    file_kind: ClassVar[FileKind]
    category = "Databases"
    icon = "storage"
    config: DbFileLoadConfig

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        require_columns(table, self.config.keys, field="keys")

    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        c = self.config
        path = ctx.resolve_path(c.path)
        batches = ctx.backend.to_batches(table)
        evolve = c.schema_evolution == "add_columns"
        if self.file_kind == "sqlite":
            counts = load_sqlite(path, batches, c.table, mode=c.mode, keys=c.keys, add_columns=evolve)
        else:
            con = database(ctx, path, self.file_kind, must_exist=False, write=True)
            try:
                counts = load(con, batches, c.table, mode=c.mode, keys=c.keys, add_columns=evolve,
                              path=path)
            finally:
                con.close()
            committed(ctx, path, self.file_kind)
        return self._result(counts, path)

    def _result(self, counts: LoadCounts, path: Path) -> LoadResult:
        return LoadResult(rows_written=counts.inserted + counts.updated,
                          rows_inserted=counts.inserted, rows_updated=counts.updated,
                          rows_deleted=counts.deleted, location=f"{path}:{self.config.table}")

    def warehouse_key(self, ctx: NodeContext) -> str | None:
        return warehouse_key(self.file_kind, ctx.resolve_path(self.config.path))

    def open_warehouse(self, ctx: NodeContext) -> BaseBackend:
        return open_warehouse(ctx, ctx.resolve_path(self.config.path), write=True)

    def write_in_warehouse(self, table: ir.Table, con: Warehouse, ctx: NodeContext) -> LoadResult:
        c = self.config
        path = ctx.resolve_path(c.path)
        counts = load(con.con, executable_sql(con, table), c.table, mode=c.mode,  # type: ignore[attr-defined]
                      keys=c.keys, add_columns=c.schema_evolution == "add_columns", path=path)
        committed(ctx, path, self.file_kind)
        return self._result(counts, path)


def warehouse_key(kind: FileKind, path: Path) -> str | None:
    """DuckDB files can run pushed-down chains (SQLite loads keep declared types through
    Python's sqlite3, so they stream instead)."""
    return f"duckdb:{path.resolve()}" if kind == "duckdb" else None


def open_warehouse(ctx: NodeContext, path: Path, *, write: bool) -> BaseBackend:
    import ibis

    return ibis.duckdb.from_connection(database(ctx, path, "duckdb", must_exist=not write,
                                                write=write))
