"""Loader ``mysql`` (MySQL and MariaDB): rows are bulk-loaded into a private staging table
(``LOAD DATA LOCAL INFILE`` when the server allows it, large multi-row INSERTs otherwise), then
applied to the target in one step: ``RENAME TABLE`` swap of a copy of the table's definition
(replace), or one transaction
(append, upsert with ``INSERT … SELECT … ON DUPLICATE KEY UPDATE``). A failure while reading or
loading leaves the target exactly as it was."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import time
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ecluse.sdk import ConfigError, Loader, LoadResult, ModuleConfig, NodeContext, columns_field
from ecluse.sdk.config import connection_field
from ecluse.sdk.errors import boolean_misfit, too_long, view_target
from ecluse.sdk.mysql_arrow import (
    code_point_collation,
    connect,
    ddl_type,
    first_line,
    open_warehouse,
    qualified,
    quote,
    warehouse_key,
)
from ecluse.sdk.relational import require_columns
from ecluse.sdk.sqltext import split_db_table as split_table
from ecluse.sdk.sqltext import tables_read
from ecluse.sdk.types import is_arrow_number

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from ecluse.sdk.warehouse import Warehouse


class MysqlLoadConfig(ModuleConfig):
    connection: str = connection_field("MySQL or MariaDB connection to write to.", kinds=("mysql",))
    table: str = Field(min_length=1, description="Target table, `orders` or `shop.orders` (created "
                       "from the data's columns when missing).", examples=["shop.orders"])
    mode: Literal["append", "replace", "upsert"] = Field(
        "append", description="append: add the rows; replace: the table holds exactly the new "
        "rows, its definition kept (swapped in with RENAME TABLE); upsert: insert new keys, "
        "update existing ones (needs a primary key or unique index on `keys`; created so when "
        "the table is new).")
    keys: list[str] = columns_field("Key columns identifying a row (upsert).", default_factory=list)
    schema_evolution: Literal["add_columns", "fail"] = Field(
        "add_columns", description="When the data has columns the table lacks: add them, or fail.")
    bulk_method: Literal["auto", "load_data", "insert"] = Field(
        "auto", description="How rows reach the server: `load_data` (LOAD DATA LOCAL INFILE, "
        "fastest), `insert` (large multi-row INSERTs), or `auto` (LOAD DATA when the server "
        "allows local_infile, INSERTs otherwise).")
    batch_rows: int = Field(100_000, ge=100, le=5_000_000,
                            description="Rows sent to the server per bulk statement.")

    @model_validator(mode="after")
    def _check(self) -> MysqlLoadConfig:
        if self.mode == "upsert" and not self.keys:
            raise ValueError("mode 'upsert' needs `keys`")
        try:
            split_table(self.table)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


class MysqlLoader(Loader):
    name = "mysql"
    title = "MySQL / MariaDB"
    description = "Write into a MySQL or MariaDB table (append, replace, upsert), atomically."
    category = "Databases"
    icon = "storage"
    Config = MysqlLoadConfig
    config: MysqlLoadConfig
    examples: ClassVar = (
        {"connection": "shop-db", "table": "shop.orders", "mode": "upsert", "keys": ["id"]},
    )

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        require_columns(table, self.config.keys, field="keys")

    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        reader = ctx.backend.to_batches(table)
        return self._write(ctx, reader.schema, reader=reader)

    # -- ELT pushdown: the chain runs inside the server, straight into the staging table -----
    def warehouse_key(self, ctx: NodeContext) -> str | None:
        return warehouse_key(ctx.connection(self.config.connection))

    def open_warehouse(self, ctx: NodeContext) -> Warehouse:
        return open_warehouse(ctx.connection(self.config.connection))

    def write_in_warehouse(self, table: ir.Table, con: Warehouse, ctx: NodeContext) -> LoadResult:
        self.check(table, ctx)
        return self._write(ctx, table.schema().to_pyarrow(), sql=str(con.compile(table)))

    def _write(self, ctx: NodeContext, schema: pa.Schema, *, reader: pa.RecordBatchReader | None = None,
               sql: str | None = None) -> LoadResult:
        """Rows come from ``reader`` (bulk-loaded) or from ``sql`` run by the server."""
        c = self.config
        db, name = split_table(c.table)
        target = qualified(db, name)
        missing = [k for k in c.keys if k not in schema.names]
        if missing:
            raise ConfigError(f"key column(s) {missing} are not in the incoming data", field="keys")
        conn = connect(ctx.connection(c.connection))
        staging = qualified(db, f"_ecluse_stage_{uuid.uuid4().hex[:12]}")
        copy: str | None = None
        existing: dict[str, str] | None = None
        try:
            cur = conn.cursor()
            existing = _columns(cur, db, name)
            if existing is not None:
                _refuse_a_view(cur, db, name, c.table, c.connection)
            fresh = existing is None
            if not fresh and c.mode == "replace":
                # replace keeps the table's definition (types, keys, indexes, options): the rows
                # go into a copy of it (CREATE TABLE … LIKE), which RENAME TABLE swaps in
                copy = qualified(db, f"_ecluse_new_{uuid.uuid4().hex[:12]}")
            new_cols = [] if fresh else [f for f in schema if f.name not in (existing or {})]
            if new_cols and c.schema_evolution == "fail":
                raise ConfigError(f"the incoming data has column(s) {[f.name for f in new_cols]} "
                                  f"that table {c.table} lacks; set schema_evolution to "
                                  "'add_columns' to add them", field="schema_evolution")
            # staging is keyed like the target: the primary key when the target's key columns
            # are NOT NULL (a clustered key: the load and the apply read in key order), else a
            # unique key (NULL keys stay distinct, as in the target)
            clustered = fresh or (c.mode == "upsert" and _require_unique(cur, db, name, c.keys))
            if not fresh:
                _check_booleans(schema, existing or {}, c.table)
            # 1. the staging table: typed like the target where the target has the column,
            # except where the target would round the values (they are checked in staging)
            defs = []
            rounding: dict[str, int] = {}
            for f in schema:
                known = None if fresh else (existing or {}).get(f.name)
                scale = None if known is None else _rounding_scale(f.type, known)
                if scale is not None:
                    rounding[f.name] = scale
                    known = None
                col_type = known or ddl_type(f.type, key=f.name in c.keys)
                null = " NOT NULL" if clustered and f.name in c.keys and c.mode == "upsert" else ""
                defs.append(f"{quote(f.name)} {col_type}{null}")
            key_list = ", ".join(quote(k) for k in c.keys)
            if clustered and c.keys:
                defs.append(f"PRIMARY KEY ({key_list})")
            elif c.mode == "upsert":
                defs.append(f"UNIQUE KEY ({key_list})")
            # an upsert keeps the last row of a key the input repeats, as every loader does
            last_wins = c.mode == "upsert"
            # text compares by code point, trailing spaces included: 'a', 'a ' and 'A' are
            # three keys, as on the engine (utf8mb4_bin would make 'a' and 'a ' one)
            create = (f"CREATE TABLE {staging} ({', '.join(defs)}) ENGINE=InnoDB "
                      f"DEFAULT CHARSET=utf8mb4 COLLATE={code_point_collation(cur)}")
            cols = ", ".join(quote(f.name) for f in schema)
            if copy is not None:
                cur.execute(f"CREATE TABLE {copy} LIKE {target}")
                for f in new_cols:
                    _add_column(cur, copy, f)
                if c.keys:  # keyed as asked, as a table the loader creates is
                    _add_key(cur, db, name, copy, c.keys)
            # values to check for rounding go through staging; the others straight to the copy
            into = copy if copy is not None and not rounding else staging
            if sql is not None:  # 2. pushed down: the server fills staging itself
                if into == staging:
                    cur.execute(f"{create} {'REPLACE ' if last_wins else ''}AS {sql}")
                else:
                    cur.execute(f"INSERT INTO {into} ({cols}) {sql}")
                total = _scalar(cur, f"SELECT COUNT(*) FROM {into}")
            else:  # 2. the rows, in bulk
                assert reader is not None
                limits = {} if fresh else _text_limits(schema, existing or {})
                if limits:
                    reader = _refuse_long_text(reader, limits, c.table)
                if into == staging:
                    cur.execute(create)
                method = c.bulk_method
                if method == "auto":
                    cur.execute("SELECT @@GLOBAL.local_infile")
                    row = cur.fetchone()
                    method = "load_data" if row and int(row[0]) else "insert"
                total = _bulk_load(conn, cur, reader, into, schema, method, c.batch_rows, ctx,
                                   replace=last_wins)
                if last_wins:
                    total = _scalar(cur, f"SELECT COUNT(*) FROM {staging}")
                ctx.metrics["bulk_method"] = method
            for column, scale in rounding.items():
                _refuse_rounding(cur, staging, column, scale, (existing or {})[column], c.table)
            if copy is not None and into == staging:
                cur.execute(f"INSERT INTO {copy} ({cols}) SELECT {cols} FROM {staging}")
            conn.commit()
            # 3. apply
            if fresh:
                cur.execute(f"RENAME TABLE {staging} TO {target}")
                return self._result(total, 0, 0, c.table)
            if copy is not None:
                deleted = _scalar(cur, f"SELECT COUNT(*) FROM {target}")
                old = qualified(db, f"_ecluse_old_{uuid.uuid4().hex[:12]}")
                cur.execute(f"RENAME TABLE {target} TO {old}, {copy} TO {target}")
                cur.execute(f"DROP TABLE {old}")
                return self._result(total, 0, deleted, c.table)
            added: list[str] = []
            try:
                for f in new_cols:
                    _add_column(cur, target, f)
                    added.append(f.name)
                cur.execute("START TRANSACTION")
                updated = 0
                if c.mode == "upsert":
                    # `=`: a NULL key matches no row, as in the target's unique index
                    match = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in c.keys)
                    updated = _scalar(cur, f"SELECT COUNT(*) FROM {staging} s JOIN {target} t ON {match}")
                    sets = ", ".join(f"{quote(f.name)} = s.{quote(f.name)}" for f in schema
                                     if f.name not in c.keys) or \
                        f"{quote(c.keys[0])} = s.{quote(c.keys[0])}"
                    cur.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging} s "
                                f"ON DUPLICATE KEY UPDATE {sets}")
                else:
                    cur.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging}")
                conn.commit()
            except BaseException:
                conn.rollback()
                for col in added:  # DDL commits by itself in MySQL: undo it by hand
                    with contextlib.suppress(Exception):
                        cur.execute(f"ALTER TABLE {target} DROP COLUMN {quote(col)}")
                raise
            return self._result(total - updated, updated, 0, c.table)
        except ConfigError:
            raise
        except Exception as exc:
            import pymysql

            if isinstance(exc, pymysql.MySQLError):
                raise _refusal(exc, c.table, existing) from exc
            raise
        finally:
            with contextlib.suppress(Exception):
                conn.rollback()
                conn.cursor().execute(f"DROP TABLE IF EXISTS {staging}")
                if copy is not None:
                    conn.cursor().execute(f"DROP TABLE IF EXISTS {copy}")
            with contextlib.suppress(Exception):
                conn.close()

    @staticmethod
    def _result(inserted: int, updated: int, deleted: int, table: str) -> LoadResult:
        return LoadResult(rows_written=inserted + updated, rows_inserted=inserted,
                          rows_updated=updated, rows_deleted=deleted, location=table)


def _columns(cur: Any, db: str | None, name: str) -> dict[str, str] | None:
    """Each column's type as staging declares it: with its character set and collation, so that
    staging's key compares text as the target's does ('x' and 'X' are one key under a _ci
    collation, and the last row of the two is the one written)."""
    cur.execute("SELECT COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME FROM "
                "information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) "
                "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (db, name))
    rows = cur.fetchall()
    return {r[0]: r[1] + (f" CHARACTER SET {r[2]} COLLATE {r[3]}" if r[2] and r[3] else "")
            for r in rows} or None


def _refuse_a_view(cur: Any, db: str | None, name: str, table: str, connection: str) -> None:
    """A view is refused before anything changes (replace would fail half-way, at CREATE TABLE
    … LIKE; the others with MySQL's words)."""
    cur.execute("SELECT t.TABLE_SCHEMA, v.VIEW_DEFINITION FROM information_schema.TABLES t "
                "LEFT JOIN information_schema.VIEWS v ON v.TABLE_SCHEMA = t.TABLE_SCHEMA "
                "AND v.TABLE_NAME = t.TABLE_NAME WHERE t.TABLE_SCHEMA = COALESCE(%s, DATABASE()) "
                "AND t.TABLE_NAME = %s AND t.TABLE_TYPE = 'VIEW'", (db, name))
    row = cur.fetchone()
    if row is not None:
        bases = tables_read(str(row[1] or ""), "mysql", home=str(row[0]))
        raise view_target(table, f"connection {connection!r}", bases)


def _unique_index(cur: Any, db: str | None, name: str, keys: list[str]) -> str | None:
    """The name of the table's primary key or unique index on exactly `keys`, if any."""
    cur.execute("SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME SEPARATOR '\\0') FROM "
                "information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) "
                "AND TABLE_NAME = %s AND NON_UNIQUE = 0 GROUP BY INDEX_NAME", (db, name))
    return next((str(r[0]) for r in cur.fetchall() if set(str(r[1]).split("\0")) == set(keys)),
                None)


def _add_column(cur: Any, table: str, field: pa.Field) -> None:
    cur.execute(f"ALTER TABLE {table} ADD COLUMN {quote(field.name)} {ddl_type(field.type)}")


def _add_key(cur: Any, db: str | None, name: str, table: str, keys: list[str]) -> None:
    """A primary key on `keys` in ``table``, a copy of table ``name`` (whose indexes it has);
    a unique key when the table has another primary key."""
    if _unique_index(cur, db, name, keys) is not None:
        return
    cur.execute("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
                "COALESCE(%s, DATABASE()) AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY'", (db, name))
    row = cur.fetchone()
    kind = "UNIQUE KEY" if row and int(row[0]) else "PRIMARY KEY"
    cur.execute(f"ALTER TABLE {table} ADD {kind} ({', '.join(quote(k) for k in keys)})")


def _require_unique(cur: Any, db: str | None, name: str, keys: list[str]) -> bool:
    """Refuse an upsert into a table without a unique index on `keys`; whether every key column
    is NOT NULL."""
    if _unique_index(cur, db, name, keys) is None:
        raise ConfigError(f"upsert into {name} needs a primary key or unique index on exactly "
                          f"{keys}; create one (ALTER TABLE … ADD UNIQUE (…)) or use another mode",
                          field="keys")
    cur.execute("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                "COALESCE(%s, DATABASE()) AND TABLE_NAME = %s AND IS_NULLABLE = 'NO' AND "
                f"COLUMN_NAME IN ({', '.join(['%s'] * len(keys))})", (db, name, *keys))
    row = cur.fetchone()
    return bool(row) and int(row[0]) == len(set(keys))


def _check_booleans(schema: pa.Schema, existing: dict[str, str], table: str) -> None:
    """Booleans go into BOOLEAN (TINYINT(1)) columns only, and numbers into other columns:
    true would be stored as 1, and a 5 in a TINYINT(1) column cannot be read back as a boolean."""
    import pyarrow as pa

    t = pa.types
    for f in schema:
        column_type = existing.get(f.name, "").lower()
        boolean_column = column_type.startswith("tinyint(1)")
        number_column = _base_type(column_type) in _NUMBER_TYPES
        if t.is_boolean(f.type) and number_column and not boolean_column:
            cast_to = "int64" if "int" in column_type else "float64"
            raise boolean_misfit(table, f.name, column_type.upper(), "boolean", cast_to)
        if boolean_column and is_arrow_number(f.type):
            raise boolean_misfit(table, f.name, "TINYINT(1) (BOOLEAN)", str(f.type), "boolean")


def _base_type(column_type: str) -> str:
    """``int`` of ``INT(11) UNSIGNED``."""
    return column_type.lower().split("(")[0].split(" ")[0]


_INTEGER_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint"})
_NUMBER_TYPES = _INTEGER_TYPES | {"decimal", "numeric", "float", "double", "real"}


def _rounding_scale(dtype: pa.DataType, column_type: str) -> int | None:
    """The decimal places a column of ``column_type`` keeps when it would round values of
    ``dtype`` to them (MySQL rounds 1.234 into DECIMAL(5,2), and 1.5 into INT, without a
    warning); None when the values fit as they are. Floats into DECIMAL round as a cast
    does: a float has no exact decimal digits to lose."""
    import pyarrow as pa

    fraction = pa.types.is_floating(dtype) or (pa.types.is_decimal(dtype) and dtype.scale > 0)
    boolean = column_type.lower().startswith("tinyint(1)")
    if fraction and _base_type(column_type) in _INTEGER_TYPES and not boolean:
        return 0
    scale = re.match(r"(?:decimal|numeric)\(\d+,(\d+)\)", column_type.lower())
    if scale and pa.types.is_decimal(dtype) and dtype.scale > int(scale.group(1)):
        return int(scale.group(1))
    return None


def _refuse_rounding(cur: Any, staging: str, column: str, scale: int, column_type: str,
                     table: str) -> None:
    col = quote(column)
    cur.execute(f"SELECT {col} FROM {staging} WHERE {col} <> ROUND({col}, {scale}) LIMIT 1")
    row = cur.fetchone()
    if row:
        raise ConfigError(f"column {column!r} holds {row[0]}, which the {column_type.upper()} "
                          f"column of {table} would round to {scale} decimal place(s); round it "
                          "first (a cleaner `cast`, or a derive), or widen the column", field="table")


_TEXT = re.compile(r"(?:var)?char\((\d+)\)")


def _text_limits(schema: pa.Schema, existing: dict[str, str]) -> dict[str, tuple[int, str]]:
    """The incoming text columns loaded into CHAR(n)/VARCHAR(n) columns: (n, the column's
    type). MySQL refuses a longer text naming the column but not the row (or, outside strict
    mode, cuts it with a warning only); its trailing spaces beyond n it drops with a note."""
    import pyarrow as pa

    limits = {}
    for f in schema:
        column_type = existing.get(f.name, "").split(" CHARACTER SET ")[0]
        typmod = _TEXT.fullmatch(column_type.lower())
        if typmod and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)):
            limits[f.name] = int(typmod[1]), column_type.upper()
    return limits


def _refuse_long_text(reader: pa.RecordBatchReader, limits: dict[str, tuple[int, str]],
                      table: str) -> pa.RecordBatchReader:
    """``reader``, checked batch by batch for texts longer than their column holds."""
    import ibis
    import pyarrow as pa
    import pyarrow.compute as pc

    from ecluse.sdk.types import type_name

    schema = reader.schema

    def batches() -> Any:
        rows = 0
        for batch in reader:
            for column, (limit, column_type) in limits.items():
                array = batch.column(schema.get_field_index(column))
                lengths = pc.utf8_length(pc.utf8_rtrim(array, characters=" "))
                at = pc.index(pc.greater(lengths, limit), True).as_py()
                if at >= 0:
                    incoming = type_name(ibis.dtype(schema.field(column).type))
                    raise too_long(table, column, column_type, incoming, str(array[at].as_py()),
                                   rows + at + 1, limit, database="MySQL",
                                   widen=functools.partial(_wider, column_type))
            rows += batch.num_rows
            yield batch
    return pa.RecordBatchReader.from_batches(schema, batches())


def _wider(column_type: str, length: int) -> str:
    return f"{column_type.split('(')[0]}({length}) or TEXT"


def _refusal(exc: Exception, table: str, existing: dict[str, str] | None) -> ConfigError:
    """MySQL's error, naming the column's type and the fix for a value too long for it."""
    text = first_line(exc)
    long = re.match(r"Data too long for column '(.*)' at row \d+", text)
    if long is not None:
        column = long.group(1)
        column_type = (existing or {}).get(column, "").split(" CHARACTER SET ")[0].upper()
        what = (f"is of type {column_type}, and an incoming value is longer than it holds"
                if column_type else "is shorter than an incoming value")
        return ConfigError(f"column {column!r} of table {table!r} {what} (MySQL: {text}); "
                           "nothing was changed: shorten the values before this node (e.g. a "
                           "derive's left()) or filter them out, or widen the column",
                           field="table")
    return ConfigError(f"MySQL refused the load into {table}: {text}", field="table")


def _scalar(cur: Any, sql: str) -> int:
    cur.execute(sql)
    row = cur.fetchone()
    return int(row[0]) if row else 0


def _bulk_load(conn: Any, cur: Any, reader: pa.RecordBatchReader, staging: str, schema: pa.Schema,
               method: str, batch_rows: int, ctx: NodeContext, *, replace: bool) -> int:
    """Rows into ``staging``; with ``replace``, a row whose key is already there replaces it."""
    total = 0
    if method == "load_data":
        load_sql = (f"LOAD DATA LOCAL INFILE %s {'REPLACE ' if replace else ''}INTO TABLE {staging} "
                    "CHARACTER SET utf8mb4 "
                    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                    "LINES TERMINATED BY '\\n' ({})")
        exprs, targets, sets = _csv_plan(schema)
        load_sql = load_sql.format(", ".join(targets)) + (f" SET {', '.join(sets)}" if sets else "")
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        for path, rows in _csv_files(reader, exprs, batch_rows, ctx):
            cur.execute(load_sql, (path,))
            _no_warnings(cur)
            total += rows
            ctx.progress(total)
        return total
    cols = ", ".join(quote(f.name) for f in schema)
    marks = ", ".join(["%s"] * len(schema))
    sql = f"{'REPLACE' if replace else 'INSERT'} INTO {staging} ({cols}) VALUES ({marks})"
    for batch in _rebatch(reader, batch_rows):
        ctx.cancel.raise_if_cancelled()
        columns = [_py_values(batch.column(i), f.type) for i, f in enumerate(schema)]
        cur.executemany(sql, list(zip(*columns, strict=True)))
        total += batch.num_rows
        ctx.progress(total)
    return total


def _csv_files(reader: pa.RecordBatchReader, exprs: list[str], batch_rows: int,
               ctx: NodeContext) -> Any:
    """CSV files of ~``batch_rows`` rows, written by DuckDB in a thread while the previous file
    is being loaded by the server (two files at most on disk, memory bounded)."""
    import queue
    import threading

    import duckdb

    out: queue.Queue[tuple[str, int] | BaseException | None] = queue.Queue(maxsize=1)
    paths = [str(ctx.work_dir / f"mysql-load-{uuid.uuid4().hex[:8]}-{i}.csv") for i in range(3)]
    stop = threading.Event()

    def produce() -> None:
        duck = duckdb.connect()
        try:
            for i, batch in enumerate(_rebatch(reader, batch_rows)):
                if stop.is_set() or ctx.cancel.cancelled:
                    return
                path = paths[i % len(paths)]
                duck.register("b", batch)
                duck.execute(f"COPY (SELECT {', '.join(exprs)} FROM b) TO '{path}' (HEADER false, "
                             "NULLSTR 'NULL', FORCE_QUOTE *, QUOTE '\"', ESCAPE '\"')")
                duck.unregister("b")
                out.put((path, batch.num_rows))
            out.put(None)
        except BaseException as exc:  # handed to the loading thread
            out.put(exc)
        finally:
            duck.close()

    worker = threading.Thread(target=produce, name="mysql-csv", daemon=True)
    worker.start()
    try:
        while True:
            item = out.get()
            ctx.cancel.raise_if_cancelled()  # the worker's error may be the cancel's doing
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        # the worker may be blocked handing over a file or its error: take them until it ends
        deadline = time.monotonic() + 60
        while worker.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.1)
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _no_warnings(cur: Any) -> None:
    """LOAD DATA turns bad values into warnings (truncation, conversions): make them errors."""
    cur.execute("SHOW WARNINGS LIMIT 3")
    warnings = [f"{r[2]}" for r in cur.fetchall() if r[0] in ("Warning", "Error")]
    if warnings:
        raise ConfigError("MySQL changed values while loading: " + "; ".join(warnings), field="table")


def _csv_plan(schema: pa.Schema) -> tuple[list[str], list[str], list[str]]:
    """DuckDB expressions writing each column as MySQL reads it back, the LOAD DATA targets, and
    SET clauses for columns converted on the server (binary as hex)."""
    import pyarrow as pa

    exprs, targets, sets = [], [], []
    for i, f in enumerate(schema):
        col = '"' + f.name.replace('"', '""') + '"'
        t = f.type
        target = quote(f.name)
        if pa.types.is_boolean(t):
            col = f"CAST({col} AS INTEGER)"
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            col = f"hex({col})"
            target = f"@v{i}"
            sets.append(f"{quote(f.name)} = UNHEX(@v{i})")
        elif pa.types.is_timestamp(t):
            if t.tz is not None:
                col = f"timezone('UTC', {col})"
            col = f"strftime({col}, '%Y-%m-%d %H:%M:%S.%f')"
        elif pa.types.is_nested(t):
            col = f"to_json({col})"
        elif pa.types.is_duration(t):
            col = f"CAST({col} AS VARCHAR)"
        elif pa.types.is_float32(t):  # float32's shortest text of its maximum is above FLOAT's
            col = f"CAST({col} AS DOUBLE)"
        exprs.append(col)
        targets.append(target)
    return exprs, targets, sets


def _py_values(array: Any, dtype: Any) -> list[Any]:
    import datetime as dt

    import pyarrow as pa

    values: list[Any] = array.to_pylist()
    if pa.types.is_timestamp(dtype) and dtype.tz is not None:
        return [v if v is None else v.astimezone(dt.UTC).replace(tzinfo=None) for v in values]
    if pa.types.is_nested(dtype):
        return [v if v is None else json.dumps(v, default=str) for v in values]
    return values


def _rebatch(reader: pa.RecordBatchReader, rows: int) -> Any:
    """Batches of about ``rows`` rows (small engine batches are grouped; memory stays bounded)."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending, schema=reader.schema).combine_chunks().to_batches()[0]
            pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending, schema=reader.schema).combine_chunks().to_batches()[0]
