"""Loader ``postgres``: binary COPY (ADBC) into a staging table, then append, replace, upsert
or merge in the same transaction, so a failure at any row leaves the table as it was."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import ibis.expr.types as ir
from pydantic import Field, model_validator

from ecluse.sdk import (
    ConfigError,
    Loader,
    LoadResult,
    ModuleConfig,
    NodeContext,
    columns_field,
    connection_field,
)
from ecluse.sdk.arrow_pg import (
    adbc_connect,
    adbc_ingest_type,
    base_type,
    first_line,
    json_text_columns,
    open_warehouse,
    pg_type_of,
    postgres_uri,
    qualified,
    quote_ident,
    safe_type,
    sendable_schema,
    split_table_name,
    to_json_text,
    warehouse_key,
)
from ecluse.sdk.relational import require_columns
from ecluse.sdk.warehouse import Warehouse


class PostgresLoadConfig(ModuleConfig):
    connection: str = connection_field("PostgreSQL connection to write to.", kinds=("postgres",))
    table: str = Field(description="Target table, `orders` or `analytics.orders` (created from the "
                       "data's columns when missing).", examples=["analytics.orders"])
    mode: Literal["append", "replace", "upsert", "merge_delete"] = Field(
        "append", description="append: add the rows; replace: the table holds exactly the new "
        "rows; upsert: insert new keys, update existing ones; merge_delete: upsert, then delete "
        "rows whose key is absent from the data.")
    keys: list[str] = columns_field("Key columns identifying a row (upsert and merge_delete).",
                                    default_factory=list)
    schema_evolution: Literal["add_columns", "fail"] = Field(
        "add_columns", description="When the data has columns the table lacks: add them, or fail.")

    @model_validator(mode="after")
    def _keys_for_merge(self) -> PostgresLoadConfig:
        if self.mode in ("upsert", "merge_delete") and not self.keys:
            raise ValueError(f"mode {self.mode!r} needs `keys`")
        try:
            split_table_name(self.table)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


class PostgresLoader(Loader):
    name = "postgres"
    title = "PostgreSQL"
    description = "Write into a PostgreSQL table (append, replace, upsert, merge) in one transaction."
    category = "Databases"
    icon = "storage"
    Config = PostgresLoadConfig
    config: PostgresLoadConfig
    examples: ClassVar = ({"connection": "warehouse", "table": "analytics.orders", "mode": "upsert",
                           "keys": ["order_id"]},)

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        require_columns(table, self.config.keys, field="keys")
        for name, dtype in table.schema().items():
            try:
                pg_type_of(dtype)
            except ConfigError as exc:
                raise ConfigError(f"column {name!r}: {exc}", field="table") from None

    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        return self._write(table, ctx, sql=None)

    # -- ELT pushdown: the chain compiled to PostgreSQL's SQL, run by the server itself ------
    def warehouse_key(self, ctx: NodeContext) -> str | None:
        return warehouse_key(ctx.connection(self.config.connection))

    def open_warehouse(self, ctx: NodeContext) -> Warehouse:
        return open_warehouse(ctx.connection(self.config.connection))

    def write_in_warehouse(self, table: ir.Table, con: Warehouse, ctx: NodeContext) -> LoadResult:
        return self._write(table, ctx, sql=str(con.compile(table)))

    def _write(self, table: ir.Table, ctx: NodeContext, *, sql: str | None) -> LoadResult:
        c = self.config
        self.check(table, ctx)
        uri = postgres_uri(ctx.connection(c.connection))
        schema_name, table_name = split_table_name(c.table)
        target = qualified(schema_name, table_name)
        try:
            conn = adbc_connect(uri)
        except Exception as exc:
            raise ConfigError(f"cannot connect to {c.connection!r}: {first_line(exc)}",
                              field="connection") from exc
        cur = conn.cursor()
        unhook = ctx.cancel.on_cancel(lambda: _cancel(cur))
        try:
            result = self._load(cur, ctx, table, schema_name, table_name, target, sql)
            conn.commit()
            return result
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the connection may already be gone
                conn.rollback()
            if isinstance(exc, ConfigError | KeyboardInterrupt):
                raise
            raise ConfigError(f"loading {c.table!r} failed, nothing was changed: {first_line(exc)}",
                              field="table") from exc
        finally:
            unhook()
            cur.close()
            conn.close()

    # -- steps, all inside one transaction ---------------------------------------------------
    def _load(self, cur: Any, ctx: NodeContext, table: ir.Table, schema_name: str | None,
              table_name: str, target: str, sql: str | None) -> LoadResult:
        c = self.config
        ibis_schema = table.schema()
        wanted = {name: pg_type_of(dtype) for name, dtype in ibis_schema.items()}
        existing = _columns(cur, schema_name, table_name)
        created = False
        if existing is None:
            cols = [f"{quote_ident(n)} {safe_type(t)}" for n, t in wanted.items()]
            if c.keys:
                cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in c.keys)})")
            if schema_name:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema_name)}")
            cur.execute(f"CREATE TABLE {target} ({', '.join(cols)})")
            existing, created = dict(wanted), True
        else:
            missing = [n for n in wanted if n not in existing]
            if missing and c.schema_evolution == "fail":
                raise ConfigError(f"table {c.table!r} has no column(s) {', '.join(map(repr, missing))} "
                                  "(schema_evolution is 'fail')", field="schema_evolution")
            for name in missing:
                cur.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} "
                            f"{safe_type(wanted[name])}")
                existing[name] = wanted[name]
            if c.keys:
                absent = [k for k in c.keys if k not in existing]
                if absent:
                    raise ConfigError(f"key column(s) {absent} are not in table {c.table!r}",
                                      field="keys")

        if sql is not None:  # pushed down: the rows never leave the server
            columns = list(ibis_schema.names)
            direct, stream = False, None
        else:
            reader = ctx.backend.to_batches(table)
            json_cols = json_text_columns(reader.schema)
            send_schema = sendable_schema(reader.schema, json_cols)
            columns = list(send_schema.names)
            direct = c.mode in ("append", "replace") and not json_cols and all(
                base_type(existing[f.name]) == base_type(adbc_ingest_type(f.type) or "?")
                for f in send_schema)
            stream = _stream(reader, json_cols, send_schema, ctx)
        col_list = ", ".join(quote_ident(n) for n in columns)
        rows_before = None
        if c.mode == "replace" and not created:
            rows_before = _scalar(cur, f"SELECT count(*) FROM {target}")
            referenced = _scalar(cur, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                                 f"AND confrelid = {_regclass(schema_name, table_name)}")
            # TRUNCATE is transactional in PostgreSQL, but refused on a table other tables
            # reference: DELETE then, with deferrable foreign keys checked at commit
            if referenced:
                cur.execute("SET CONSTRAINTS ALL DEFERRED")
            cur.execute(f"DELETE FROM {target}" if referenced else f"TRUNCATE {target}")
        if direct:  # types already match: binary COPY straight into the table
            written = cur.adbc_ingest(table_name, stream, mode="append", db_schema_name=schema_name)
            return LoadResult(rows_written=written, rows_inserted=written,
                              rows_updated=0, rows_deleted=rows_before or 0, location=c.table)
        stage = f"_ecluse_stage_{uuid.uuid4().hex[:12]}"
        if sql is not None:
            cur.execute(f"CREATE TEMPORARY TABLE {quote_ident(stage)} AS {sql}")
            written = _scalar(cur, f"SELECT count(*) FROM {quote_ident(stage)}")
        else:
            written = cur.adbc_ingest(stage, stream, mode="create", temporary=True)
        casts = ", ".join(f"{quote_ident(n)}::{safe_type(existing[n])}" for n in columns)
        source = f"(SELECT {casts} FROM {quote_ident(stage)}) AS s"
        if c.mode in ("append", "replace"):
            cur.execute(f"INSERT INTO {target} ({col_list}) SELECT * FROM {source}")
            inserted, updated, deleted = written, 0, rows_before or 0
        else:
            keys = ", ".join(quote_ident(k) for k in c.keys)
            if not created:
                _require_unique(cur, schema_name, table_name, c.keys, c.table)
            others = [n for n in columns if n not in c.keys]
            sets = ", ".join(f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in others)
            action = f"DO UPDATE SET {sets}" if others else "DO NOTHING"
            deduped = (f"(SELECT DISTINCT ON ({keys}) * FROM (SELECT {casts}, ctid AS _ecluse_row "
                       f"FROM {quote_ident(stage)}) AS d ORDER BY {keys}, _ecluse_row DESC) AS s")
            sql = (f"WITH w AS (INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {deduped} "
                   f"ON CONFLICT ({keys}) {action} RETURNING (xmax = 0) AS inserted) "
                   "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM w")
            cur.execute(sql)
            inserted, updated = (int(v) for v in cur.fetchone())
            deleted = 0
            if c.mode == "merge_delete":
                match = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}::{safe_type(existing[k])}"
                                     for k in c.keys)
                cur.execute(f"WITH d AS (DELETE FROM {target} AS t WHERE NOT EXISTS (SELECT 1 FROM "
                            f"{quote_ident(stage)} AS s WHERE {match}) RETURNING 1) SELECT count(*) FROM d")
                deleted = int(cur.fetchone()[0])
        cur.execute(f"DROP TABLE {quote_ident(stage)}")
        return LoadResult(rows_written=written, rows_inserted=inserted, rows_updated=updated,
                          rows_deleted=deleted, location=c.table)


def _stream(reader: Any, json_cols: list[int], schema: Any, ctx: NodeContext) -> Any:
    import pyarrow as pa

    def batches() -> Iterator[Any]:
        rows = 0
        for batch in reader:
            ctx.cancel.raise_if_cancelled()
            arrays = [to_json_text(a) if i in json_cols else a for i, a in enumerate(batch.columns)]
            rows += batch.num_rows
            ctx.progress(rows)
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    return pa.RecordBatchReader.from_batches(schema, batches())


def _columns(cur: Any, schema_name: str | None, table_name: str) -> dict[str, str] | None:
    """Column name -> type of the target table, or None when it does not exist."""
    rel = qualified(schema_name, table_name)
    cur.execute("SELECT to_regclass($1)::oid", parameters=(rel,))
    row = cur.fetchone()
    if row is None or row[0] is None:
        return None
    cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                parameters=(str(row[0]),))
    return {str(n): str(t) for n, t in cur.fetchall()}


def _require_unique(cur: Any, schema_name: str | None, table_name: str, keys: list[str],
                    label: str) -> None:
    rel = qualified(schema_name, table_name)
    cur.execute("SELECT count(*) FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique "
                "AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a "
                "WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = "
                "(SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) AS k)",
                parameters=(rel, "{" + ",".join('"' + k.replace('\\', '\\\\').replace('"', '\\"') + '"'
                                                for k in keys) + "}"))
    row = cur.fetchone()
    if not row or not row[0]:
        raise ConfigError(f"table {label!r} needs a primary key or unique index on "
                          f"({', '.join(keys)}) for mode upsert/merge_delete", field="keys")


def _regclass(schema_name: str | None, table_name: str) -> str:
    """``'"schema"."table"'::regclass`` as a SQL literal (the identifier quoted, then escaped)."""
    return "'" + qualified(schema_name, table_name).replace("'", "''") + "'::regclass"


def _scalar(cur: Any, sql: str) -> int:
    cur.execute(sql)
    row = cur.fetchone()
    return int(row[0]) if row else 0


def _cancel(cur: Any) -> None:
    with contextlib.suppress(Exception):  # cancelling is best effort
        cur.adbc_cancel()
