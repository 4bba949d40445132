"""Extractor ``postgres``: a query or a table, streamed as Arrow batches (binary COPY via ADBC),
optionally incremental (cursor column + tie-break key, keyset paging, state on commit)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import ibis.expr.types as ir
from pydantic import Field, model_validator

from ecluse.sdk import (
    ConfigError,
    Extractor,
    ModuleConfig,
    NodeContext,
    columns_field,
    connection_field,
    sql_field,
)
from ecluse.sdk.arrow_pg import (
    PG_TYPE_KEY,
    BoundSql,
    NotANumber,
    conform_batch,
    first_line,
    postgres_uri,
    qualified,
    quote_ident,
    read_plan,
    split_table_name,
    uses_parameter,
    warehouse_key,
)
from ecluse.sdk.arrow_pg_session import PgDatabase, PgSession, PgWarehouse, open_warehouse
from ecluse.sdk.keyset import IncrementalConfig, start_position
from ecluse.sdk.sqltext import check_query_or_table
from ecluse.sdk.suggest import did_you_mean, missing_column, no_such
from ecluse.sdk.warehouse import Warehouse

_UNDEFINED_TABLE, _UNDEFINED_COLUMN = "42P01", "42703"  # SQLSTATEs


class PostgresExtractConfig(ModuleConfig):
    connection: str = connection_field("PostgreSQL connection to read from.", kinds=("postgres",))
    query: str | None = sql_field(
        "SELECT query; `:name` parameters are bound by the server, never pasted into the text.",
        dialect="postgres", default=None)
    table: str | None = Field(None, description="Table to read (`orders` or `sales.orders`), "
                              "instead of a query.")
    columns: list[str] = columns_field("Columns of `table` to read (all when empty).",
                                       default_factory=list)
    where: str | None = sql_field("Filter on `table` (SQL condition, `:name` parameters allowed).",
                                  dialect="postgres", default=None)
    incremental: IncrementalConfig | None = Field(
        None, description="Read only rows added or changed since the last successful run.")

    @model_validator(mode="after")
    def _query_or_table(self) -> PostgresExtractConfig:
        check_query_or_table(self.query, self.table,
                             table_options_used=bool(self.columns or self.where),
                             table_options="`columns` and `where`", split=split_table_name)
        return self


class PostgresExtractor(Extractor):
    name = "postgres"
    title = "PostgreSQL"
    description = "Read a PostgreSQL query or table, streamed as Arrow (optionally incremental)."
    category = "Databases"
    icon = "storage"
    Config = PostgresExtractConfig
    config: PostgresExtractConfig
    examples: ClassVar = (
        {"connection": "prod-db", "query": "SELECT * FROM customers WHERE created_at > :start_date"},
        {"connection": "prod-db", "table": "public.orders",
         "incremental": {"cursor_column": "updated_at", "key_column": "order_id"}},
    )

    # -- ELT pushdown ----------------------------------------------------------------------
    def warehouse_key(self, ctx: NodeContext) -> str | None:
        return warehouse_key(ctx.connection(self.config.connection))

    def open_warehouse(self, ctx: NodeContext) -> Warehouse:
        c = self.config
        return open_warehouse(postgres_uri(ctx.connection(c.connection)), name=c.connection)

    def warehouse_relation(self, con: Warehouse, ctx: NodeContext) -> ir.Table | None:
        """A table source, as a relation of the warehouse. Queries and SQL conditions are
        streamed instead (they would need a view, which carries no bound parameters), and so
        are incremental reads (their state advances with the rows the engine sees)."""
        c = self.config
        if c.table is None or c.where or c.incremental is not None:
            return None
        assert isinstance(con, PgWarehouse)
        schema, name = split_table_name(c.table)
        table = con.table(name, database=schema)
        return table.select(*c.columns) if c.columns else table

    # -- SQL -------------------------------------------------------------------------------
    def _base_sql(self, bound: BoundSql, ctx: NodeContext, last: tuple[str | None, str | None]) -> str:
        """The source query; ``:last_value`` is bound as ``last`` (text, type), or NULL when
        the type is not known yet (the schema probe)."""
        c = self.config
        typed = {"last_value": last}
        if c.query is not None:
            return bound.bind_named(c.query.strip().rstrip(";"), ctx.parameters, typed, field="query")
        schema, table = split_table_name(c.table or "")
        cols = ", ".join(quote_ident(col) for col in c.columns) or "*"
        sql = f"SELECT {cols} FROM {qualified(schema, table)}"
        if c.where:
            sql += f" WHERE ({bound.bind_named(c.where, ctx.parameters, typed, field='where')})"
        return sql

    def _start(self, ctx: NodeContext) -> tuple[str | None, str | None, bool]:
        """(last value, last key, whether rows at that value are past), as text: the same
        rules as the other incremental extractors (``keyset.start_position``); a mark set by
        hand (`ecluse state set --last-value`) may not name its column."""
        value, key, after = start_position(self.config.incremental, ctx.previous_state)
        return (None if value is None else str(value), None if key is None else str(key), after)

    def read(self, ctx: NodeContext) -> ir.Table:
        import pyarrow as pa

        c = self.config
        uri = postgres_uri(ctx.connection(c.connection))
        keep_ext = ctx.backend.name == "duckdb"
        inc = c.incremental
        start = self._start(ctx)
        last_value = start[0]
        if c.query is not None and uses_parameter(c.query, "last_value"):
            if inc is None:
                raise ConfigError("the query uses :last_value but `incremental` is not set",
                                  field="query")
            if last_value is None:
                raise ConfigError("the query uses :last_value: set `incremental.initial_value` "
                                  "for the first run", field="incremental")
        database = PgDatabase(uri, name=c.connection)  # the probe's and the stream's
        try:
            session = database.session()
            try:
                probe = BoundSql()
                base = self._base_sql(probe, ctx, (None, None))
                source_schema = self._probe(session, f"SELECT * FROM ({base}) AS q LIMIT 0",
                                            probe.values, "query" if c.query is not None else "table")
            finally:
                session.close()
        except BaseException:
            database.close()
            raise
        exprs, schema = read_plan(source_schema, keep_extensions=keep_ext)
        if inc is not None:
            for col, what in ((inc.cursor_column, "cursor_column"), (inc.key_column, "key_column")):
                if col is not None and col not in schema.names:
                    raise ConfigError(f"incremental {what} {col!r} is not a column of the result; "
                                      f"columns are: {', '.join(schema.names)}", field="incremental")
                if col is not None and pa.types.is_floating(schema.field(col).type) and \
                        source_schema.field(col).metadata.get(PG_TYPE_KEY) == b"numeric":
                    # read as float64, its position would be rounded: the rows between lost
                    raise ConfigError(
                        f"incremental {what} {col!r} is a numeric without precision, which is "
                        "read as a float: its position would be rounded and rows skipped. Read "
                        f"it with a precision, in a `query`: {quote_ident(col)}::numeric(38, 10)",
                        field="incremental")
        if ctx.mode == "schema":
            database.close()
            return ctx.backend.from_arrow(schema.empty_table(), name="postgres")
        pg_types = {f.name: (f.metadata or {}).get(PG_TYPE_KEY, b"text").decode() for f in source_schema}
        ctype = pg_types.get(inc.cursor_column, "text") if inc else "text"
        # the stream opens its own connection when the engine first pulls a batch, and
        # closes it when the last batch is read (or the engine drops the stream)
        batches = self._stream(database, ctx, exprs, schema, pg_types, (last_value, ctype), start)
        reader = pa.RecordBatchReader.from_batches(schema, batches)
        return ctx.backend.from_arrow(reader, name="postgres")

    def _probe(self, session: PgSession, sql: str, values: list[str | None], field: str) -> Any:
        try:
            return session.query(sql, values).schema
        except Exception as exc:
            raise (self._unknown_name(session, exc) or ConfigError(
                f"PostgreSQL rejected the query: {first_line(exc)}", field=field)) from exc

    def _unknown_name(self, session: PgSession, exc: Exception) -> ConfigError | None:
        """When the server says `table` (or a column of `columns`) does not exist: the names it
        has, for a 'Did you mean'. Looked up only then."""
        c, state = self.config, getattr(exc, "sqlstate", None)
        if c.table is None or state not in (_UNDEFINED_TABLE, _UNDEFINED_COLUMN):
            return None
        schema, table = split_table_name(c.table)
        with contextlib.suppress(Exception):
            if state == _UNDEFINED_COLUMN:
                names = session.query(f"SELECT * FROM {qualified(schema, table)} LIMIT 0").schema.names
                if error := missing_column(c.table, c.columns, names):
                    return error
                named = re.search(r'column "?(?:[^" ]*\.)?([^" ]*)"? does not exist', str(exc))
                hint = did_you_mean(named.group(1), names) if named else ""
                return ConfigError(f"PostgreSQL rejected the condition: {first_line(exc)}.{hint}",
                                   field="where") if c.where else None
            if schema is not None and not session.rows(
                    "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", [schema]):
                schemas = [str(n) for (n,) in session.rows(
                    "SELECT nspname::text FROM pg_catalog.pg_namespace")]
                return no_such("schema", schema, schemas)
            tables = [str(t) for (t,) in session.rows(
                "SELECT table_name::text FROM information_schema.tables WHERE "
                "table_schema = $1 OR ($1 IS NULL AND table_schema = ANY(current_schemas(false)))",
                [schema])]
            return no_such("table", table, tables, within=schema and f"schema {schema!r}")
        return None

    def _stream(self, database: PgDatabase, ctx: NodeContext, exprs: list[str], schema: Any,
                pg_types: dict[str, str], last: tuple[str | None, str | None],
                start: tuple[str | None, str | None, bool]) -> Iterator[Any]:
        inc = self.config.incremental
        rows = 0
        # counted here: the engine cannot always tell how many rows a stream gave (Polars, a
        # filter DuckDB runs inside its scan, a stream loaded into PostgreSQL)
        ctx.metrics["rows_out"] = 0
        try:
            cur = database.session()
        except BaseException:
            database.close()
            raise
        unhook = ctx.cancel.on_cancel(cur.cancel)
        try:
            if ctx.mode == "run":  # every keyset page sees the same snapshot
                cur.begin("ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if inc is None or ctx.mode != "run":
                bound = BoundSql()
                sql = f"SELECT {', '.join(exprs)} FROM ({self._base_sql(bound, ctx, last)}) AS q"
                if ctx.mode == "preview" and ctx.sample_rows:
                    sql += f" LIMIT {int(ctx.sample_rows)}"
                for batch in self._execute(cur, sql, bound.values):
                    out = self._conform(batch, schema, rows)
                    rows += out.num_rows
                    ctx.metrics["rows_out"] = rows
                    ctx.progress(rows)
                    yield out
                return
            yield from self._keyset(cur, ctx, exprs, schema, pg_types, last, start)
        finally:
            unhook()
            cur.close()
            database.close()

    def _keyset(self, cur: PgSession, ctx: NodeContext, exprs: list[str], schema: Any,
                pg_types: dict[str, str], last: tuple[str | None, str | None],
                position: tuple[str | None, str | None, bool]) -> Iterator[Any]:
        inc = self.config.incremental
        assert inc is not None
        cursor_col, key_col = inc.cursor_column, inc.key_column
        ctype = pg_types.get(cursor_col, "text")
        ktype = pg_types.get(key_col, "text") if key_col else "text"
        rows = 0
        cursor_i = schema.get_field_index(cursor_col)
        key_i = schema.get_field_index(key_col) if key_col else -1
        while True:
            ctx.cancel.raise_if_cancelled()
            bound = BoundSql()
            base = self._base_sql(bound, ctx, last)
            cq, kq = f"q.{quote_ident(cursor_col)}", f"q.{quote_ident(key_col)}" if key_col else ""
            conds = [f"{cq} IS NOT NULL"]  # no position follows a NULL: never read
            if position[0] is not None:
                cv = bound.add(position[0], ctype)
                if key_col and position[1] is not None:
                    conds.append(f"({cq}, {kq}) > ({cv}, {bound.add(position[1], ktype)})")
                elif position[2]:  # a run without a key column read the rows at its mark
                    conds.append(f"{cq} > {cv}")
                else:  # an initial value, a mark set by hand, a mark without its key
                    conds.append(f"{cq} >= {cv}")
            sql = (f"SELECT {', '.join(exprs)} FROM ({base}) AS q"
                   + (f" WHERE {' AND '.join(conds)}" if conds else "")
                   + f" ORDER BY {cq}" + (f", {kq}" if key_col else "")
                   + (f" LIMIT {int(inc.page_size)}" if key_col else ""))
            page_rows = 0
            for batch in self._execute(cur, sql, bound.values):
                if batch.num_rows == 0:
                    continue
                out = self._conform(batch, schema, rows)
                page_rows += out.num_rows
                rows += out.num_rows
                ctx.metrics["rows_out"] = rows
                ctx.progress(rows)
                position = (_text(out.column(cursor_i)[-1].as_py()),
                            _text(out.column(key_i)[-1].as_py()) if key_col else None, True)
                ctx.scratch["position"] = position
                ctx.scratch["types"] = (ctype, ktype)
                yield out
            if not key_col or page_rows < inc.page_size:
                break

    @staticmethod
    def _execute(cur: PgSession, sql: str, values: list[str | None]) -> Iterator[Any]:
        try:
            reader = cur.reader(sql, values)
            yield from reader  # an error met while rows flow (division by zero...) too
        except Exception as exc:
            raise ConfigError(f"PostgreSQL rejected the query: {first_line(exc)}",
                              field="query") from exc

    def _conform(self, batch: Any, schema: Any, rows_before: int) -> Any:
        try:
            return conform_batch(batch, schema)
        except NotANumber as nan:
            c, col = self.config, quote_ident(nan.column)
            dtype = schema.field(nan.column).type
            raise ConfigError(
                f"column {nan.column!r} holds NaN (row {rows_before + nan.row + 1} of the result), "
                f"which a decimal cannot hold (numeric({dtype.precision},{dtype.scale})). Read "
                f"it with a `query` that turns NaN into a null, NULLIF({col}, 'NaN'), or reads "
                f"the column as a float, {col}::float8 (NaN kept)",
                field="query" if c.query is not None else "table") from nan

    def finish(self, ctx: NodeContext, *, succeeded: bool) -> None:
        inc = self.config.incremental
        if inc is None or not succeeded or ctx.mode != "run":
            return
        position = ctx.scratch.get("position")
        if position is None or position[0] is None:
            return  # nothing new: keep the previous high-water mark
        ctype, ktype = ctx.scratch["types"]
        ctx.set_state({"cursor_column": inc.cursor_column, "last_value": position[0], "type": ctype,
                       "key_column": inc.key_column, "last_key": position[1], "key_type": ktype})


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, bytes):  # bytea's input form
        return "\\x" + value.hex()
    return str(value)
