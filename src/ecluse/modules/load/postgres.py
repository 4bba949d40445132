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
    adbc_ingest_type,
    base_type,
    first_line,
    json_text_columns,
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
from ecluse.sdk.arrow_pg_fit import ArrowCheck, misfits, refuse_in_sql
from ecluse.sdk.arrow_pg_session import PgSession, PgTable, PgWarehouse, open_warehouse, read_catalog
from ecluse.sdk.errors import boolean_misfit, view_target
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
        c = self.config
        session = PgSession.open(postgres_uri(ctx.connection(c.connection)), name=c.connection)
        try:
            return self._write(session, None, table, ctx, sql=None)
        finally:
            session.close()

    # -- ELT pushdown: the chain compiled to PostgreSQL's SQL, run by the server itself ------
    def warehouse_key(self, ctx: NodeContext) -> str | None:
        return warehouse_key(ctx.connection(self.config.connection))

    def open_warehouse(self, ctx: NodeContext) -> Warehouse:
        c = self.config
        warehouse = open_warehouse(postgres_uri(ctx.connection(c.connection)), name=c.connection)
        warehouse.prefetch(*split_table_name(c.table))  # read with the sources' columns
        return warehouse

    def write_in_warehouse(self, table: ir.Table, con: Warehouse, ctx: NodeContext) -> LoadResult:
        """On the pushdown's own session: no second connection, the target's columns already
        read with the sources'."""
        assert isinstance(con, PgWarehouse)
        existing = con.columns(*split_table_name(self.config.table), keep=False)
        return self._write(con.session, existing, table, ctx, sql=con.compile(table))

    def _write(self, session: PgSession, existing: PgTable | None, table: ir.Table,
               ctx: NodeContext, *, sql: str | None) -> LoadResult:
        c = self.config
        self.check(table, ctx)
        schema_name, table_name = split_table_name(c.table)
        target = qualified(schema_name, table_name)
        if existing is None and sql is None:
            existing = read_catalog(session, [target])[target]
        if existing is not None and existing.kind in _VIEWS:
            raise view_target(c.table, f"connection {c.connection!r}", _view_bases(session, target),
                              kind=_VIEWS[existing.kind])
        unhook = ctx.cancel.on_cancel(session.cancel)
        try:
            session.begin()
            result = self._load(session, ctx, table, existing, schema_name, table_name, target, sql)
            session.commit()
            return result
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the connection may already be gone
                session.rollback()
            if isinstance(exc, ConfigError | KeyboardInterrupt):
                raise
            raise ConfigError(f"loading {c.table!r} failed, nothing was changed: {first_line(exc)}",
                              field="table") from exc
        finally:
            unhook()

    # -- steps, all inside one transaction ---------------------------------------------------
    def _load(self, session: PgSession, ctx: NodeContext, table: ir.Table, found: PgTable | None,
              schema_name: str | None, table_name: str, target: str, sql: str | None) -> LoadResult:
        c = self.config
        ibis_schema = table.schema()
        wanted = {name: pg_type_of(dtype) for name, dtype in ibis_schema.items()}
        created = found is None
        if found is None:
            cols = [f"{quote_ident(n)} {safe_type(t)}" for n, t in wanted.items()]
            if c.keys:
                cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in c.keys)})")
            if schema_name:
                session.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema_name)}")
            session.execute(f"CREATE TABLE {target} ({', '.join(cols)})")
            existing = dict(wanted)
        else:
            existing = found.types()
            _check_booleans(wanted, existing, c.table)
            missing = [n for n in wanted if n not in existing]
            if missing and c.schema_evolution == "fail":
                raise ConfigError(f"table {c.table!r} has no column(s) {', '.join(map(repr, missing))} "
                                  "(schema_evolution is 'fail')", field="schema_evolution")
            for name in missing:
                session.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} "
                                f"{safe_type(wanted[name])}")
                existing[name] = wanted[name]
            if c.keys:
                absent = [k for k in c.keys if k not in existing]
                if absent:
                    raise ConfigError(f"key column(s) {absent} are not in table {c.table!r}",
                                      field="keys")

        # values the table's columns would round or refuse, looked for before it is touched
        lossy = misfits(ibis_schema, wanted, existing)
        in_sql, arrow_check = lossy, None
        if sql is not None:  # pushed down: the rows never leave the server
            columns = list(ibis_schema.names)
            direct, stream = False, None
        else:
            reader = ctx.backend.to_batches(table)
            json_cols = json_text_columns(reader.schema)
            send_schema = sendable_schema(reader.schema, json_cols)
            columns = list(send_schema.names)
            arrow_check = ArrowCheck([m for m in lossy if m.in_arrow], send_schema, c.table)
            in_sql = [m for m in lossy if not m.in_arrow]
            direct = c.mode in ("append", "replace") and not json_cols and not in_sql and all(
                base_type(existing[f.name]) == base_type(adbc_ingest_type(f.type) or "?")
                for f in send_schema)
            stream = _stream(reader, json_cols, send_schema, ctx, arrow_check)
        col_list = ", ".join(quote_ident(n) for n in columns)
        casts = ", ".join(f"{quote_ident(n)}::{safe_type(existing[n])}" for n in columns)
        deleted = 0
        if c.mode == "replace" and found is not None:
            # TRUNCATE is transactional in PostgreSQL, but refused on a table other tables
            # reference: DELETE then, with deferrable foreign keys checked at commit
            if found.referenced:
                session.execute("SET CONSTRAINTS ALL DEFERRED")
                deleted = session.execute(f"DELETE FROM {target}")
            else:
                deleted = _scalar(session, f"SELECT count(*) FROM {target}")
                session.execute(f"TRUNCATE {target}")
        if direct:  # types already match: binary COPY straight into the table
            written = _ingest(session, arrow_check, table_name, stream, mode="append",
                              db_schema=schema_name)
            return LoadResult(rows_written=written, rows_inserted=written,
                              rows_updated=0, rows_deleted=deleted, location=c.table)
        stage_name = f"_ecluse_stage_{uuid.uuid4().hex[:12]}"
        stage = quote_ident(stage_name)
        if sql is not None:
            # CREATE TABLE AS, not INSERT … SELECT into the target: PostgreSQL plans only the
            # former in parallel (5M rows: 9 s against 13 s). The command tag counts the rows.
            written = session.execute(f"CREATE TEMPORARY TABLE {stage} AS {sql}")
        else:
            written = _ingest(session, arrow_check, stage_name, stream, mode="create",
                              temporary=True)
        if in_sql:
            refuse_in_sql(session, stage, in_sql, c.table)
        if c.mode in ("append", "replace"):
            session.execute(f"INSERT INTO {target} ({col_list}) SELECT {casts} FROM {stage}")
            inserted, updated = written, 0
        else:
            keys = ", ".join(quote_ident(k) for k in c.keys)
            if not created:
                _require_unique(session, schema_name, table_name, c.keys, c.table)
            others = [n for n in columns if n not in c.keys]
            sets = ", ".join(f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in others)
            action = f"DO UPDATE SET {sets}" if others else "DO NOTHING"
            deduped = (f"(SELECT DISTINCT ON ({keys}) * FROM (SELECT {casts}, ctid AS _ecluse_row "
                       f"FROM {stage}) AS d ORDER BY {keys}, _ecluse_row DESC) AS s")
            upsert = (f"WITH w AS (INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {deduped} "
                      f"ON CONFLICT ({keys}) {action} RETURNING (xmax = 0) AS inserted) SELECT "
                      "count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM w")
            ((inserted, updated),) = session.rows(upsert)
            if c.mode == "merge_delete":
                match = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}::"
                                     f"{safe_type(existing[k])}" for k in c.keys)
                # rows this transaction wrote are the data: a row with a NULL key was inserted
                # (it matches no row, as the unique index says) and must not be deleted again
                deleted = session.execute(
                    f"DELETE FROM {target} AS t WHERE t.xmin <> "
                    "((txid_current() % 4294967296)::text)::xid AND NOT EXISTS (SELECT 1 FROM "
                    f"{stage} AS s WHERE {match})")
        session.execute(f"DROP TABLE {stage}")
        return LoadResult(rows_written=written, rows_inserted=int(inserted), rows_updated=int(updated),
                          rows_deleted=deleted, location=c.table)


def _stream(reader: Any, json_cols: list[int], schema: Any, ctx: NodeContext,
            check: ArrowCheck) -> Any:
    import pyarrow as pa

    def batches() -> Iterator[Any]:
        rows = 0
        for batch in reader:
            ctx.cancel.raise_if_cancelled()
            arrays = [to_json_text(a) if i in json_cols else a for i, a in enumerate(batch.columns)]
            out = pa.RecordBatch.from_arrays(arrays, schema=schema)
            check(out, rows)
            rows += batch.num_rows
            ctx.progress(rows)
            yield out
    return pa.RecordBatchReader.from_batches(schema, batches())


def _ingest(session: PgSession, check: ArrowCheck | None, table: str, stream: Any,
            **options: Any) -> int:
    try:
        return session.ingest(table, stream, **options)
    except Exception:
        if check is not None and check.failure is not None:
            raise check.failure from None
        raise


def _check_booleans(wanted: dict[str, str], existing: dict[str, str], table: str) -> None:
    """PostgreSQL refuses these casts too, but without naming the column: the same message as
    every database loader's."""
    for name, incoming in wanted.items():
        have = base_type(existing.get(name, ""))
        if base_type(incoming) == "bool" and have in _PG_NUMBERS:
            raise boolean_misfit(table, name, existing[name], "boolean",
                                 "int64" if have.startswith("int") else "float64")
        if have == "bool" and base_type(incoming) in _PG_NUMBERS:
            raise boolean_misfit(table, name, existing[name], incoming, "boolean")


_PG_NUMBERS = frozenset({"int2", "int4", "int8", "numeric", "decimal", "float4", "float8"})


_VIEWS = {"v": "a view", "m": "a materialized view"}


def _view_bases(session: PgSession, target: str) -> list[str]:
    """The tables a view reads (its rewrite rule depends on them), by name."""
    rows = session.rows("SELECT DISTINCT d.refobjid::regclass::text FROM pg_catalog.pg_rewrite w "
                        "JOIN pg_catalog.pg_depend d ON d.objid = w.oid "
                        "AND d.classid = 'pg_catalog.pg_rewrite'::regclass "
                        "AND d.refclassid = 'pg_catalog.pg_class'::regclass "
                        "WHERE w.ev_class = to_regclass($1) AND d.refobjid <> w.ev_class "
                        "ORDER BY 1", (target,))
    return [str(r[0]) for r in rows]


def _require_unique(session: PgSession, schema_name: str | None, table_name: str, keys: list[str],
                    label: str) -> None:
    rel = qualified(schema_name, table_name)
    key_array = "{" + ",".join('"' + k.replace('\\', '\\\\').replace('"', '\\"') + '"'
                               for k in keys) + "}"
    unique = _scalar(session, "SELECT count(*) FROM pg_index i WHERE i.indrelid = to_regclass($1) "
                     "AND i.indisunique AND (SELECT array_agg(a.attname::text ORDER BY a.attname) "
                     "FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) "
                     "= (SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) AS k)", (rel, key_array))
    if not unique:
        raise ConfigError(f"table {label!r} needs a primary key or unique index on "
                          f"({', '.join(keys)}) for mode upsert/merge_delete", field="keys")


def _scalar(session: PgSession, sql: str, params: tuple[str, ...] | None = None) -> int:
    rows = session.rows(sql, params)
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0
