"""Loader ``clickhouse``: Arrow batches inserted column by column (native protocol) into a
private staging table, then applied in one step. New tables use a MergeTree engine with
``ORDER BY`` the `keys`. ClickHouse has no transactions, so nothing touches the target until
every row has landed in staging:

- replace: staging is a copy of the target's definition (``CREATE TABLE staging AS a``: engine,
  partitioning, ORDER BY, types, defaults, codecs, TTL), with the data's new columns added, and
  is renamed over it (``RENAME TABLE a TO old, staging TO a``); a new table is just renamed;
- append: one ``INSERT … SELECT`` from staging;
- upsert: a new table = target rows whose keys are not in the data + the data, swapped in with
  ``RENAME`` (exact results at once, no FINAL needed; works on every MergeTree engine).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ecluse.sdk import ConfigError, Loader, LoadResult, ModuleConfig, NodeContext, columns_field
from ecluse.sdk.clickhouse_arrow import (
    BINARY_COMMENT,
    check_booleans,
    check_fits,
    connect,
    ddl_type,
    first_line,
    insert_arrow,
    is_binary,
    open_warehouse,
    qualified,
    quote,
    version,
    warehouse_key,
)
from ecluse.sdk.config import connection_field
from ecluse.sdk.relational import require_columns
from ecluse.sdk.sqltext import split_db_table as split_table

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from ecluse.sdk.warehouse import Warehouse


class ClickhouseLoadConfig(ModuleConfig):
    connection: str = connection_field("ClickHouse connection to write to (native protocol).",
                                       kinds=("clickhouse",))
    table: str = Field(min_length=1, description="Target table, `events` or `analytics.events` "
                       "(created from the data's columns when missing).", examples=["analytics.events"])
    mode: Literal["append", "replace", "upsert"] = Field(
        "append", description="append: add the rows; replace: the table holds exactly the new "
        "rows, its definition (engine, partitioning, ORDER BY, types, defaults) kept; upsert: "
        "rows whose `keys` match are replaced, the others inserted.")
    keys: list[str] = columns_field("Key columns: the table's ORDER BY when it is created, and "
                                    "the columns matching rows for upsert.", default_factory=list)
    engine: Literal["MergeTree", "ReplacingMergeTree"] = Field(
        "MergeTree", description="Engine of tables the loader creates (ReplacingMergeTree also "
        "collapses duplicate keys in the background).")
    low_cardinality: list[str] = columns_field(
        "Text columns stored as LowCardinality(String) in tables the loader creates.",
        default_factory=list)
    schema_evolution: Literal["add_columns", "fail"] = Field(
        "add_columns", description="When the data has columns the table lacks: add them, or fail.")
    batch_rows: int = Field(100_000, ge=100, le=5_000_000,
                            description="Rows per INSERT block sent to the server.")

    @model_validator(mode="after")
    def _check(self) -> ClickhouseLoadConfig:
        if self.mode == "upsert" and not self.keys:
            raise ValueError("mode 'upsert' needs `keys`")
        try:
            split_table(self.table)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


class ClickhouseLoader(Loader):
    name = "clickhouse"
    title = "ClickHouse"
    description = "Write into a ClickHouse table (append, replace, upsert); nothing changes on failure."
    category = "Databases"
    icon = "storage"
    Config = ClickhouseLoadConfig
    config: ClickhouseLoadConfig
    examples: ClassVar = (
        {"connection": "warehouse", "table": "analytics.events", "mode": "upsert",
         "keys": ["event_id"]},
    )

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        require_columns(table, [*self.config.keys, *self.config.low_cardinality], field="keys")

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
        """Rows come from ``reader`` (Arrow inserts) or from ``sql`` run by the server."""
        c = self.config
        db, name = split_table(c.table)
        missing = [k for k in c.keys if k not in schema.names]
        if missing:
            raise ConfigError(f"key column(s) {missing} are not in the incoming data", field="keys")
        client = connect(ctx.connection(c.connection))
        db = db or str(client.execute("SELECT currentDatabase()")[0][0])
        target = qualified(db, name)
        tag = uuid.uuid4().hex[:12]
        staging = qualified(db, f"_ecluse_stage_{tag}")
        swap = qualified(db, f"_ecluse_new_{tag}")
        old = qualified(db, f"_ecluse_old_{tag}")
        server = version(client)
        try:
            existing = _columns(client, db, name)
            fresh = existing is None
            new_cols = [] if fresh else [f for f in schema if f.name not in (existing or {})]
            if new_cols and c.schema_evolution == "fail":
                raise ConfigError(f"the incoming data has column(s) {[f.name for f in new_cols]} "
                                  f"that table {c.table} lacks; set schema_evolution to "
                                  "'add_columns' to add them", field="schema_evolution")
            types = {f.name: self._type(f, server) for f in schema}
            if existing:
                types.update({k: v for k, v in existing.items() if k in types})
                check_booleans(schema, types, c.table)
                if c.mode != "append":  # both build the new table as a copy of the target
                    _check_copyable(client, db, name, c.table, c.mode)
            binary = {f.name for f in schema if is_binary(f.type)}
            defs = ", ".join(f"{quote(n)} {t}" + (_BINARY if n in binary else "")
                             for n, t in types.items())
            order = ", ".join(quote(k) for k in c.keys) if c.keys else ""
            engine = f"{c.engine if fresh else 'MergeTree'} ORDER BY ({order})" if order \
                else "MergeTree ORDER BY tuple()"
            lc = {"allow_experimental_low_cardinality_type": 1} if server < (19, 9) and \
                "LowCardinality" in defs + " ".join((existing or {}).values()) else None
            # an upsert keeps the last row of a key the input repeats, as every loader does:
            # staging numbers the rows, which ClickHouse would not keep in order
            last_wins = c.mode == "upsert"
            numbered = f", {_ROW} UInt64" if last_wins else ""
            if existing and c.mode == "replace":  # the table's own definition, new columns added
                client.execute(f"CREATE TABLE {staging} AS {target}", settings=lc)
                for f in new_cols:
                    _add_column(client, staging, f, types[f.name])
            else:
                client.execute(f"CREATE TABLE {staging} ({defs}{numbered}) ENGINE = {engine}",
                               settings=lc)
            cols = ", ".join(quote(f.name) for f in schema)
            if sql is not None:  # pushed down: the server fills staging itself
                client.execute(f"INSERT INTO {staging} ({cols}{numbered and ', ' + _ROW}) "
                               f"SELECT *{numbered and ', rowNumberInAllBlocks()'} FROM ({sql})")
                total = _count(client, staging)
            else:
                assert reader is not None
                total = self._insert(client, ctx, reader, staging, schema, types, last_wins)
            keys = ", ".join(quote(k) for k in c.keys)
            rows = f"SELECT {cols} FROM {staging}"
            repeats = False
            if last_wins:  # the rows written: one per key
                staged, total = total, int(client.execute(f"SELECT uniqExact({keys}) "
                                                          f"FROM {staging}")[0][0])
                repeats = total < staged
                if repeats:
                    rows += f" ORDER BY {_ROW} DESC LIMIT 1 BY {keys}"
            if fresh:
                fill = staging
                if repeats:  # a new table of one row per key
                    client.execute(f"CREATE TABLE {swap} ({defs}) ENGINE = {engine}", settings=lc)
                    client.execute(f"INSERT INTO {swap} ({cols}) {rows}")
                    fill = swap
                elif last_wins:
                    client.execute(f"ALTER TABLE {staging} DROP COLUMN {_ROW}")
                client.execute(f"RENAME TABLE {fill} TO {target}")
                return _result(total, 0, 0, c.table)
            if c.mode == "replace":
                deleted = _count(client, target)
                client.execute(f"RENAME TABLE {target} TO {old}, {staging} TO {target}")
                client.execute(f"DROP TABLE {old}")
                return _result(total, 0, deleted, c.table)
            if c.mode == "append":
                added: list[str] = []
                try:
                    for f in new_cols:
                        _add_column(client, target, f, types[f.name])
                        added.append(f.name)
                    client.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging}")
                except BaseException:
                    for col in added:
                        with contextlib.suppress(Exception):
                            client.execute(f"ALTER TABLE {target} DROP COLUMN {quote(col)}")
                    raise
                return _result(total, 0, 0, c.table)
            # upsert: build the new table aside, then swap it in
            client.execute(f"CREATE TABLE {swap} AS {target}", settings=lc)
            for f in new_cols:
                _add_column(client, swap, f, types[f.name])
            kept = ", ".join(quote(n) for n in (existing or {}))
            updated = _count(client, target, f"({keys}) IN (SELECT {keys} FROM {staging})")
            client.execute(f"INSERT INTO {swap} ({kept}) SELECT {kept} FROM {target} "
                           f"WHERE ({keys}) NOT IN (SELECT {keys} FROM {staging})")
            client.execute(f"INSERT INTO {swap} ({cols}) {rows}")
            client.execute(f"RENAME TABLE {target} TO {old}, {swap} TO {target}")
            client.execute(f"DROP TABLE {old}")
            return _result(total - updated, updated, 0, c.table)
        except ConfigError:
            raise
        except Exception as exc:
            from clickhouse_driver.errors import Error

            if isinstance(exc, Error):
                raise ConfigError(f"ClickHouse refused the load into {c.table}: {first_line(exc)}",
                                  field="table") from exc
            raise
        finally:
            for t in (staging, swap):
                with contextlib.suppress(Exception):
                    client.execute(f"DROP TABLE IF EXISTS {t}")
            with contextlib.suppress(Exception):
                client.disconnect()

    def _type(self, f: pa.Field, server: tuple[int, int]) -> str:
        key = f.name in self.config.keys
        if f.name in self.config.low_cardinality:
            return "LowCardinality(String)" if key else "LowCardinality(Nullable(String))"
        return ddl_type(f.type, server, nullable=not key)

    def _insert(self, client: Any, ctx: NodeContext, reader: pa.RecordBatchReader, staging: str,
                schema: pa.Schema, types: dict[str, str], numbered: bool) -> int:
        """The rows into ``staging``; ``numbered``: with their place in the input (``_ROW``)."""
        import numpy as np
        import pyarrow as pa

        cols = ", ".join(quote(f.name) for f in schema) + (f", {_ROW}" if numbered else "")
        total = 0
        pending: list[pa.RecordBatch] = []
        count = 0

        def flush() -> None:
            data = pa.Table.from_batches(pending, schema=schema)
            check_fits(data, types)
            if numbered:
                data = data.append_column(_ROW, pa.array(np.arange(total, total + count,
                                                                   dtype=np.uint64)))
            insert_arrow(client, f"INSERT INTO {staging} ({cols}) VALUES", data)

        for batch in reader:
            ctx.cancel.raise_if_cancelled()
            pending.append(batch)
            count += batch.num_rows
            if count >= self.config.batch_rows:
                flush()
                total += count
                pending, count = [], 0
                ctx.progress(total)
        if count:
            flush()
            total += count
            ctx.progress(total)
        return total


_ROW = "_ecluse_row"
_BINARY = f" COMMENT '{BINARY_COMMENT}'"


def _add_column(client: Any, table: str, field: pa.Field, ch_type: str) -> None:
    """A new column; one of binary data gets the comment the extractor reads it as bytes by
    (set apart: servers before 19.x ignore a COMMENT in ADD COLUMN)."""
    client.execute(f"ALTER TABLE {table} ADD COLUMN {quote(field.name)} {ch_type}")
    if is_binary(field.type):
        client.execute(f"ALTER TABLE {table} COMMENT COLUMN {quote(field.name)} '{BINARY_COMMENT}'")


def _check_copyable(client: Any, db: str, name: str, table: str, mode: str) -> None:
    """Refuse a table whose engine arguments a copy (``CREATE TABLE … AS``) would share."""
    engine = str(client.execute("SELECT engine FROM system.tables WHERE database = %(db)s AND "
                                "name = %(t)s", {"db": db, "t": name})[0][0])
    if engine in _COPYABLE or (engine.endswith("MergeTree") and not engine.startswith(_REPLICATED)):
        return
    if engine.startswith(_REPLICATED):
        reason = "a copy would be one more replica of the same replicated table"
    elif engine == "Distributed":
        reason = "a copy would write into the very tables it distributes to, before the swap"
    else:
        reason = "a copy would read or write the data the table stands for"
    raise ConfigError(f"mode {mode!r} builds the new {table} from a copy of its definition "
                      f"(CREATE TABLE … AS) and swaps it in; {table} has the {engine} engine, and "
                      f"{reason}: nothing was changed. Load into the table that holds the data (of "
                      "a MergeTree, Log or Memory engine) or use mode 'append'", field="mode")


_COPYABLE = frozenset({"Memory", "Log", "TinyLog", "StripeLog"})
"""Engines besides the MergeTree family that hold their own data."""
_REPLICATED = ("Replicated", "Shared")


def _result(inserted: int, updated: int, deleted: int, table: str) -> LoadResult:
    return LoadResult(rows_written=inserted + updated, rows_inserted=inserted,
                      rows_updated=updated, rows_deleted=deleted, location=table)


def _columns(client: Any, db: str, name: str) -> dict[str, str] | None:
    """The columns an INSERT writes: MATERIALIZED and ALIAS columns are computed by the server
    (an upsert copying them failed: "Cannot insert column …, because it is MATERIALIZED")."""
    rows = client.execute("SELECT name, type FROM system.columns WHERE database = %(db)s AND "
                          "table = %(t)s AND default_kind NOT IN ('MATERIALIZED', 'ALIAS')",
                          {"db": db, "t": name})
    return {r[0]: r[1] for r in rows} or None


def _count(client: Any, target: str, where: str | None = None) -> int:
    sql = f"SELECT count() FROM {target}" + (f" WHERE {where}" if where else "")
    return int(client.execute(sql)[0][0])
