"""Extractor ``mysql`` (MySQL and MariaDB): a query or a table, streamed into Arrow batches.
Rows are decoded by connectorx (in Rust; see ``sdk/mysql_connectorx`` for how it is kept from
holding the GIL while a query runs); results with column types connectorx cannot read
faithfully (spatial types) go through PyMySQL's server-side (unbuffered) cursor. Optionally
incremental with keyset paging."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

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
from ecluse.sdk.keyset import (
    IncrementalConfig,
    keyset_condition,
    keyset_order,
    remember,
    rows_to_batch,
    stage_state,
    start_position,
)
from ecluse.sdk.mysql_arrow import (
    arrow_type,
    connect,
    connect_params,
    first_line,
    not_a_boolean,
    open_warehouse,
    qualified,
    quote,
    read_type,
    result_fields,
    warehouse_key,
)
from ecluse.sdk.mysql_connectorx import error_text, read_bounded, select_list, stream_in_child
from ecluse.sdk.mysql_connectorx import stream as connectorx_stream
from ecluse.sdk.sqltext import bind_pyformat as bind
from ecluse.sdk.sqltext import check_query_or_table, query_parameters
from ecluse.sdk.sqltext import split_db_table as split_table
from ecluse.sdk.suggest import did_you_mean, missing_column, no_such

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from ecluse.sdk.warehouse import Warehouse


class MysqlExtractConfig(ModuleConfig):
    connection: str = connection_field("MySQL or MariaDB connection to read from.", kinds=("mysql",))
    query: str | None = sql_field(
        "SELECT query; `:name` parameters are bound (escaped by the driver), never pasted in.",
        dialect="mysql", default=None)
    table: str | None = Field(None, description="Table to read (`orders` or `shop.orders`), "
                              "instead of a query.")
    columns: list[str] = columns_field("Columns of `table` to read (all when empty).",
                                       default_factory=list)
    where: str | None = sql_field("Filter on `table` (SQL condition, `:name` parameters allowed).",
                                  dialect="mysql", default=None)
    incremental: IncrementalConfig | None = Field(
        None, description="Read only rows added or changed since the last successful run.")
    batch_size: int = Field(50_000, ge=100, le=1_000_000,
                            description="Rows per Arrow batch streamed from the server.")

    @model_validator(mode="after")
    def _query_or_table(self) -> MysqlExtractConfig:
        check_query_or_table(self.query, self.table,
                             table_options_used=bool(self.columns or self.where),
                             table_options="`columns` and `where`", split=split_table)
        return self


def _time(value: Any) -> Any:
    return value if isinstance(value, dt.timedelta) else None


class MysqlExtractor(Extractor):
    name = "mysql"
    title = "MySQL / MariaDB"
    description = "Read a MySQL or MariaDB query or table, streamed as Arrow (optionally incremental)."
    category = "Databases"
    icon = "storage"
    Config = MysqlExtractConfig
    config: MysqlExtractConfig
    examples: ClassVar = (
        {"connection": "shop-db", "query": "SELECT * FROM customers WHERE created_at > :start_date"},
        {"connection": "shop-db", "table": "shop.orders",
         "incremental": {"cursor_column": "updated_at", "key_column": "id"}},
    )

    # -- ELT pushdown ----------------------------------------------------------------------
    def warehouse_key(self, ctx: NodeContext) -> str | None:
        return warehouse_key(ctx.connection(self.config.connection))

    def open_warehouse(self, ctx: NodeContext) -> Warehouse:
        return open_warehouse(ctx.connection(self.config.connection))

    def warehouse_relation(self, con: Warehouse, ctx: NodeContext) -> ir.Table | None:
        """A table source (queries, conditions and incremental reads are streamed, as for
        PostgreSQL), named with its database since the warehouse spans the server."""
        c = self.config
        if c.table is None or c.where or c.incremental is not None:
            return None
        db, name = split_table(c.table)
        db = db or connect_params(ctx.connection(c.connection)).get("database")
        if db is None:
            return None
        table = con.table(name, database=str(db))  # type: ignore[attr-defined]
        return table.select(*c.columns) if c.columns else table  # type: ignore[no-any-return]

    def _base_sql(self, ctx: NodeContext, last_value: Any) -> tuple[str, dict[str, Any]]:
        c = self.config
        params = {**ctx.parameters, "last_value": last_value}
        if c.query is not None:
            return bind(c.query.strip().rstrip(";"), params)
        db, table = split_table(c.table or "")
        cols = ", ".join(quote(col) for col in c.columns) or "*"
        sql = f"SELECT {cols} FROM {qualified(db, table)}"
        if c.where:
            text, values = bind(c.where, params)
            return f"{sql} WHERE ({text})", values
        return sql, {}

    def read(self, ctx: NodeContext) -> ir.Table:
        import pyarrow as pa

        c, inc = self.config, self.config.incremental
        position = start_position(inc, ctx.previous_state)
        uses_last = "last_value" in query_parameters(c.query or c.where or "")
        if uses_last and inc is None:
            raise ConfigError("the query uses :last_value but `incremental` is not set",
                              field="query")
        if uses_last and position[0] is None:
            raise ConfigError("the query uses :last_value: set `incremental.initial_value` "
                              "for the first run", field="incremental")
        conn = connect(ctx.connection(c.connection), streaming=True)
        try:
            base, values = self._base_sql(ctx, position[0])
            cur = conn.cursor()
            try:
                fields = result_fields(cur, base, values)
                conn.rollback()  # the probe's metadata locks are not kept while the run goes on
            except ConfigError:
                raise
            except Exception as exc:
                raise (self._unknown_name(conn, exc) or ConfigError(
                    f"MySQL rejected the query: {first_line(exc)}",
                    field="query" if c.query else "table")) from exc
            finally:
                cur.close()
        except BaseException:
            conn.close()
            raise
        schema = pa.schema([pa.field(f.name, read_type(f)) for f in fields])
        if inc is not None:
            for col, what in ((inc.cursor_column, "cursor_column"), (inc.key_column, "key_column")):
                if col is not None and col not in schema.names:
                    conn.close()
                    raise ConfigError(f"incremental {what} {col!r} is not a column of the result; "
                                      f"columns are: {', '.join(schema.names)}", field="incremental")
        if ctx.mode == "schema":
            conn.close()
            return ctx.backend.from_arrow(schema.empty_table(), name="mysql")
        wide = {f.name: arrow_type(f) for f in fields if pa.types.is_decimal256(arrow_type(f))}
        for name, dtype in wide.items():
            ctx.log(f"column {name!r} is DECIMAL({dtype.precision},{dtype.scale}), wider than "
                    "the 38 digits an engine's decimal holds: it is read as text, every digit "
                    "kept. To read numbers, CAST it to a DECIMAL of at most 38 digits in a "
                    "`query`", level="warning", column=name)
        fast = select_list(fields, "q")
        select = fast or [f"CAST(q.{quote(f.name)} AS CHAR) AS {quote(f.name)}" if f.name in wide
                          else f"q.{quote(f.name)}" for f in fields]
        batches = self._stream(conn, ctx, schema, select, position, fast=fast is not None)
        ctx.scratch["batches"] = batches  # closed by finish(), even when the run stops early
        reader = pa.RecordBatchReader.from_batches(schema, batches)
        return ctx.backend.from_arrow(reader, name="mysql")

    def _unknown_name(self, conn: Any, exc: Exception) -> ConfigError | None:
        """When the server says `table` (or a column of `columns`) does not exist: the names it
        has, for a 'Did you mean'. Looked up only then."""
        from pymysql.constants import ER

        c, code = self.config, exc.args[0] if exc.args else None
        if c.table is None or code not in (ER.NO_SUCH_TABLE, ER.BAD_FIELD_ERROR):
            return None
        db, table = split_table(c.table)
        with contextlib.suppress(Exception), conn.cursor() as cur:
            if code == ER.BAD_FIELD_ERROR:
                names = [f.name for f in result_fields(cur, f"SELECT * FROM {qualified(db, table)}")]
                if error := missing_column(c.table, c.columns, names, fold_case=True):
                    return error
                named = re.match(r"Unknown column '(?:.*\.)?(.*)' in", str(exc.args[-1]))
                hint = did_you_mean(named.group(1), names) if named else ""
                return ConfigError(f"MySQL rejected the condition: {first_line(exc)}.{hint}",
                                   field="where") if c.where else None
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE())", (db,))
            tables = [str(t) for (t,) in cur.fetchall()]
            if db is not None and not tables:
                cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
                databases = [str(d) for (d,) in cur.fetchall()]
                if db not in databases:
                    return no_such("database", db, databases)
            return no_such("table", table, tables, within=db and f"database {db!r}")
        return None

    def _stream(self, conn: Any, ctx: NodeContext, schema: pa.Schema, select: list[str],
                position: tuple[Any, Any, bool], *, fast: bool) -> Iterator[pa.RecordBatch]:
        """Pages of the result (one page unless incremental with a key column), read by
        connectorx when ``fast``, else by PyMySQL's cursor."""
        c, inc = self.config, self.config.incremental
        total = 0
        start = position[0]
        field = "query" if c.query is not None else "table"
        marker = f"/* ecluse {uuid.uuid4().hex} */"
        scan = c.table is not None and not c.where and inc is None
        bounded = ((inc is not None and inc.key_column is not None and ctx.mode == "run")
                   or (ctx.mode == "preview" and bool(ctx.sample_rows)))  # a LIMIT on each page
        ctx.metrics["reader"] = ("pymysql" if not fast else "connectorx-pages" if bounded
                                 else "connectorx" if scan else "connectorx-process")
        unhook = ctx.cancel.on_cancel(lambda: _kill(conn, marker))
        try:
            if not fast:
                conn.cursor().execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            while True:
                ctx.cancel.raise_if_cancelled()
                base, values = self._base_sql(ctx, start)
                sql = f"SELECT {', '.join(select)} FROM ({base}) AS q"
                paged = inc is not None and ctx.mode == "run"
                if paged:
                    assert inc is not None
                    n = 0

                    def ph(value: Any, bound: dict[str, Any] = values) -> str:
                        nonlocal n
                        n += 1
                        bound[f"_k{n}"] = value
                        return f"%(_k{n})s"

                    key_sql = f"q.{quote(inc.key_column)}" if inc.key_column else None
                    cond = keyset_condition(inc, f"q.{quote(inc.cursor_column)}", key_sql, position, ph)
                    sql += f" WHERE {cond}" + keyset_order(
                        f"q.{quote(inc.cursor_column)}", key_sql)
                    if inc.key_column:
                        sql += f" LIMIT {int(inc.page_size)}"
                elif ctx.mode == "preview" and ctx.sample_rows:
                    sql += f" LIMIT {int(ctx.sample_rows)}"
                if fast:  # values inlined, escaped by PyMySQL as it would send them
                    text = marker + (conn.cursor().mogrify(sql, values) if values else sql)
                    batches = _guarded(self._connectorx(ctx, text, schema, scan, bounded=bounded),
                                       schema, field)
                else:
                    batches = self._fetch(conn, sql, values, schema, field)
                page = 0
                for batch in batches:
                    page += batch.num_rows
                    total += batch.num_rows
                    ctx.progress(total)
                    if paged:
                        assert inc is not None
                        last = remember(ctx, inc, batch)
                        position = (last[0], last[1], True)
                    yield batch
                    ctx.cancel.raise_if_cancelled()
                if not paged or inc is None or not inc.key_column or page < inc.page_size:
                    break
            ctx.metrics["rows_out"] = total
        finally:
            unhook()
            with contextlib.suppress(Exception):
                conn.close()

    def _connectorx(self, ctx: NodeContext, sql: str, schema: pa.Schema, scan: bool, *,
                    bounded: bool) -> Iterator[pa.RecordBatch]:
        """A table scan streams in this process (rows flow at once); a LIMIT-bounded result
        is read whole, releasing the GIL; any other query streams from a child process."""
        params = connect_params(ctx.connection(self.config.connection))
        if bounded:
            page = read_bounded(params, sql, schema)
            if page.num_rows:
                yield page
        elif scan:
            yield from connectorx_stream(params, sql, schema, self.config.batch_size)
        else:
            yield from stream_in_child(params, sql, schema, self.config.batch_size)

    def _fetch(self, conn: Any, sql: str, values: dict[str, Any], schema: pa.Schema, field: str
               ) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        convert: list[Callable[[Any], Any] | None] = [
            _time if pa.types.is_duration(f.type) else
            _boolean(f.name) if pa.types.is_boolean(f.type) else None for f in schema]
        cur = conn.cursor()
        try:
            cur.execute(sql, values)
        except Exception as exc:
            raise ConfigError(f"MySQL rejected the query: {first_line(exc)}", field="query") from exc
        while rows := cur.fetchmany(self.config.batch_size):
            try:
                batch = rows_to_batch(rows, schema, convert)
            except (TypeError, ValueError):  # PyMySQL hands a zero date over as its text
                bad = next(((f.name, row[i]) for i, f in enumerate(schema) if _dated(f.type)
                            for row in rows if isinstance(row[i], str)), None)
                if bad is None:
                    raise
                raise _not_a_date(bad[1], [bad[0]], field) from None
            yield batch
        cur.close()

    def finish(self, ctx: NodeContext, *, succeeded: bool) -> None:
        batches = ctx.scratch.pop("batches", None)
        if batches is not None:
            with contextlib.suppress(Exception):  # its connection closes, its query ends
                batches.close()
        stage_state(ctx, self.config.incremental, succeeded=succeeded)


def _guarded(batches: Iterator[pa.RecordBatch], schema: pa.Schema, field: str
             ) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except (ConfigError, GeneratorExit, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # connectorx reports a failed query as a Rust panic
        text = error_text(first_line(exc))
        if found := _CX_NOT_A_DATE.search(text):  # it names the value, not the column
            raise _not_a_date(found.group(1), [f.name for f in schema if _dated(f.type)],
                              field) from exc
        raise ConfigError(f"MySQL rejected the query: {text}", field="query") from exc


_CX_NOT_A_DATE = re.compile(r"Couldn't convert the value `Date\(\"'([^']*)'\"\)`")


def _boolean(column: str) -> Callable[[Any], bool]:
    def convert(value: Any) -> bool:
        if value in (0, 1):
            return bool(value)
        raise not_a_boolean(column, value)
    return convert


def _dated(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_date(dtype) or pa.types.is_timestamp(dtype))


def _not_a_date(value: str, columns: list[str], field: str) -> ConfigError:
    """A MySQL "zero date" (``0000-00-00``, or a zero month or day: ``2024-02-00``), which the
    server accepts when its SQL mode allows it, but which is no date."""
    one = len(columns) == 1
    which = f"column {columns[0]!r}" if one else "one of the columns " + ", ".join(map(repr, columns))
    col = quote(columns[0]) if one else "col"
    to_null = (f"NULLIF({col}, '0000-00-00')" if value.startswith("0000-00-00")
               else f"IF(MONTH({col}) = 0 OR DAYOFMONTH({col}) = 0, NULL, {col})")
    return ConfigError(f"{which} holds {value!r}, a MySQL zero date, which is not a date. Read it "
                       f"with a `query` that turns it into a null, {to_null}, or reads it as "
                       f"text, CAST({col} AS CHAR)", field=field)


def _kill(conn: Any, marker: str) -> None:
    """Cancel a running query from another thread (best effort): PyMySQL's, and connectorx's
    (found by the marker comment in its SQL)."""
    import pymysql

    with contextlib.suppress(Exception):
        other = pymysql.connect(host=conn.host, port=conn.port, user=conn.user,
                                password=conn.password)
        cur = other.cursor()
        cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
                    "AND (ID = %s OR LOCATE(%s, INFO) > 0)", (conn.thread_id(), marker))
        for (pid,) in cur.fetchall():
            cur.execute(f"KILL QUERY {int(pid)}")
        other.close()
