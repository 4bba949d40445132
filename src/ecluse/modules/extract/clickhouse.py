"""Extractor ``clickhouse``: a query or a table streamed block by block over the native
protocol into Arrow batches; optionally incremental with keyset paging."""

from __future__ import annotations

import contextlib
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
from ecluse.sdk.clickhouse_arrow import (
    as_text,
    as_text_column,
    binary_columns,
    connect,
    connect_params,
    first_line,
    open_warehouse,
    qualified,
    quote,
    result_schema,
    warehouse_key,
)
from ecluse.sdk.keyset import (
    IncrementalConfig,
    keyset_condition,
    keyset_order,
    remember,
    stage_state,
    start_position,
)
from ecluse.sdk.sqltext import bind_pyformat as bind
from ecluse.sdk.sqltext import check_query_or_table, query_parameters
from ecluse.sdk.sqltext import split_db_table as split_table
from ecluse.sdk.suggest import missing_column, no_such

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from ecluse.sdk.warehouse import Warehouse


_UNKNOWN_IDENTIFIER, _UNKNOWN_TABLE, _UNKNOWN_DATABASE = 47, 60, 81  # server error codes


class ClickhouseExtractConfig(ModuleConfig):
    connection: str = connection_field("ClickHouse connection to read from (native protocol, "
                                       "`clickhouse://user:pw@host:9000/db`).", kinds=("clickhouse",))
    query: str | None = sql_field(
        "SELECT query; `:name` parameters are bound (escaped by the driver), never pasted in.",
        dialect="clickhouse", default=None)
    table: str | None = Field(None, description="Table to read (`events` or `analytics.events`), "
                              "instead of a query.")
    columns: list[str] = columns_field("Columns of `table` to read (all when empty).",
                                       default_factory=list)
    where: str | None = sql_field("Filter on `table` (SQL condition, `:name` parameters allowed).",
                                  dialect="clickhouse", default=None)
    binary_columns: list[str] = columns_field(
        "String or FixedString columns to read as bytes. ClickHouse keeps text and binary data "
        "in the same String type; columns the clickhouse loader created from binary data are "
        "read as bytes without being listed (FixedString values lose trailing zero bytes).",
        default_factory=list)
    final: bool = Field(False, description="Read `table` with FINAL (collapsed rows of a "
                        "ReplacingMergeTree), at some cost in speed.")
    incremental: IncrementalConfig | None = Field(
        None, description="Read only rows added or changed since the last successful run.")
    batch_size: int = Field(65_536, ge=100, le=1_000_000,
                            description="Rows per Arrow batch (also the server's block size).")

    @model_validator(mode="after")
    def _query_or_table(self) -> ClickhouseExtractConfig:
        check_query_or_table(self.query, self.table,
                             table_options_used=bool(self.columns or self.where or self.final),
                             table_options="`columns`, `where` and `final`", split=split_table)
        return self


class ClickhouseExtractor(Extractor):
    name = "clickhouse"
    title = "ClickHouse"
    description = "Read a ClickHouse query or table, streamed as Arrow (optionally incremental)."
    category = "Databases"
    icon = "storage"
    Config = ClickhouseExtractConfig
    config: ClickhouseExtractConfig
    examples: ClassVar = (
        {"connection": "warehouse", "query": "SELECT * FROM events WHERE day >= :start_date"},
        {"connection": "warehouse", "table": "analytics.events",
         "incremental": {"cursor_column": "ts", "key_column": "event_id"}},
    )

    # -- ELT pushdown ----------------------------------------------------------------------
    def warehouse_key(self, ctx: NodeContext) -> str | None:
        return warehouse_key(ctx.connection(self.config.connection))

    def open_warehouse(self, ctx: NodeContext) -> Warehouse:
        return open_warehouse(ctx.connection(self.config.connection))

    def warehouse_relation(self, con: Warehouse, ctx: NodeContext) -> ir.Table | None:
        """A table source (queries, conditions, FINAL and incremental reads are streamed),
        named with its database since the warehouse spans the server."""
        c = self.config
        if c.table is None or c.where or c.final or c.incremental is not None:
            return None
        db, name = split_table(c.table)
        db = db or str(connect_params(ctx.connection(c.connection)).get("database") or "default")
        table = con.table(name, database=db)  # type: ignore[attr-defined]
        return table.select(*c.columns) if c.columns else table  # type: ignore[no-any-return]

    def _base_sql(self, ctx: NodeContext, last_value: Any) -> tuple[str, dict[str, Any]]:
        c = self.config
        params = {**ctx.parameters, "last_value": last_value}
        if c.query is not None:
            return bind(c.query.strip().rstrip(";"), params)
        db, table = split_table(c.table or "")
        cols = ", ".join(quote(col) for col in c.columns) or "*"
        sql = f"SELECT {cols} FROM {qualified(db, table)}" + (" FINAL" if c.final else "")
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
            raise ConfigError("the query uses :last_value but `incremental` is not set", field="query")
        if uses_last and position[0] is None:
            raise ConfigError("the query uses :last_value: set `incremental.initial_value` "
                              "for the first run", field="incremental")
        client = connect(ctx.connection(c.connection), max_block_size=c.batch_size)
        try:
            base, values = self._base_sql(ctx, position[0])
            schema, convert = result_schema(client, base, values)
        except ConfigError:
            client.disconnect()
            raise
        except Exception as exc:
            error = self._unknown_name(client, exc) or ConfigError(
                f"ClickHouse rejected the query: {first_line(exc)}",
                field="query" if c.query else "table")
            client.disconnect()
            raise error from exc
        try:
            schema = self._with_binary(client, schema, convert)
        except BaseException:
            client.disconnect()
            raise
        if inc is not None:
            for col, what in ((inc.cursor_column, "cursor_column"), (inc.key_column, "key_column")):
                if col is not None and col not in schema.names:
                    client.disconnect()
                    raise ConfigError(f"incremental {what} {col!r} is not a column of the result; "
                                      f"columns are: {', '.join(schema.names)}", field="incremental")
        if ctx.mode == "schema":
            client.disconnect()
            return ctx.backend.from_arrow(schema.empty_table(), name="clickhouse")
        reader = pa.RecordBatchReader.from_batches(
            schema, self._stream(client, ctx, schema, convert, position))
        return ctx.backend.from_arrow(reader, name="clickhouse")

    def _with_binary(self, client: Any, schema: pa.Schema,
                     convert: list[Callable[[Any], Any] | None]) -> pa.Schema:
        """``schema`` with the binary columns (`binary_columns`, and those of `table` that the
        loader marked) typed as bytes."""
        import pyarrow as pa

        c = self.config
        text = {f.name for f, fn in zip(schema, convert, strict=True)
                if f.type == pa.string() and fn is None}
        wrong = [n for n in c.binary_columns if n not in text]
        if wrong:
            raise ConfigError(f"`binary_columns` names {', '.join(map(repr, wrong))}, which "
                              "the result has no String or FixedString column of; its text "
                              f"columns are: {', '.join(sorted(text)) or 'none'}",
                              field="binary_columns")
        wanted = set(c.binary_columns)
        if c.table is not None and text:
            wanted |= binary_columns(client, *split_table(c.table)) & text
        return pa.schema([f.with_type(pa.binary()) if f.name in wanted else f for f in schema])

    def _unknown_name(self, client: Any, exc: Exception) -> ConfigError | None:
        """When the server says `table` (or a column of `columns`) does not exist: the names it
        has, for a 'Did you mean'. Looked up only then."""
        c, code = self.config, getattr(exc, "code", None)
        if c.table is None or code not in (_UNKNOWN_TABLE, _UNKNOWN_DATABASE, _UNKNOWN_IDENTIFIER):
            return None
        db, table = split_table(c.table)
        with contextlib.suppress(Exception):
            if code == _UNKNOWN_IDENTIFIER:
                names = result_schema(client, f"SELECT * FROM {qualified(db, table)}")[0].names
                return missing_column(c.table, c.columns, names) or (ConfigError(
                    f"ClickHouse rejected the condition: {first_line(exc)}", field="where")
                    if c.where else None)
            if code == _UNKNOWN_DATABASE:
                databases = [str(d) for (d,) in client.execute("SELECT name FROM system.databases")]
                return no_such("database", str(db), databases)
            tables = [str(t) for (t,) in client.execute(
                "SELECT name FROM system.tables WHERE database = %(db)s",
                {"db": db or client.execute("SELECT currentDatabase()")[0][0]})]
            return no_such("table", table, tables, within=db and f"database {db!r}")
        return None

    def _stream(self, client: Any, ctx: NodeContext, schema: pa.Schema,
                convert: list[Callable[[Any], Any] | None],
                position: tuple[Any, Any, bool]) -> Iterator[pa.RecordBatch]:
        inc = self.config.incremental
        total, start = 0, position[0]
        arrow = all(fn is None or fn is as_text for fn in convert)
        columns = _select_list(schema, convert) if arrow else "*"
        unhook = ctx.cancel.on_cancel(lambda: _cancel(client))
        try:
            while True:
                ctx.cancel.raise_if_cancelled()
                base, values = self._base_sql(ctx, start)
                sql = f"SELECT {columns} FROM ({base})"
                paged = inc is not None and ctx.mode == "run"
                if paged:
                    assert inc is not None
                    n = 0

                    def ph(value: Any, bound: dict[str, Any] = values) -> str:
                        nonlocal n
                        n += 1
                        bound[f"_k{n}"] = value
                        return f"%(_k{n})s"

                    cursor_sql = quote(inc.cursor_column)
                    key_sql = quote(inc.key_column) if inc.key_column else None
                    typed = (_typed(position[0], schema.field(inc.cursor_column).type),
                             _typed(position[1], schema.field(inc.key_column).type)
                             if inc.key_column else None, position[2])
                    cond = keyset_condition(inc, cursor_sql, key_sql, typed, ph)
                    sql += f" WHERE {cond}" + keyset_order(cursor_sql, key_sql)
                    if inc.key_column:
                        sql += f" LIMIT {int(inc.page_size)}"
                elif ctx.mode == "preview" and ctx.sample_rows:
                    sql += f" LIMIT {int(ctx.sample_rows)}"
                try:
                    batches = _arrow_batches(client, sql, values, schema) if arrow else \
                        _converted(_blocks(client, sql, values), schema, convert)
                except Exception as exc:
                    raise ConfigError(f"ClickHouse rejected the query: {first_line(exc)}",
                                      field="query") from exc
                page = 0
                for batch in _guarded(batches):
                    page += batch.num_rows
                    total += batch.num_rows
                    ctx.progress(total)
                    position = self._advance(ctx, batch, position)
                    yield batch
                ctx.progress(total)
                if not paged or inc is None or not inc.key_column or page < inc.page_size:
                    break
            ctx.metrics["rows_out"] = total
        finally:
            unhook()
            with contextlib.suppress(Exception):
                client.disconnect()

    def _advance(self, ctx: NodeContext, batch: pa.RecordBatch,
                 position: tuple[Any, Any, bool]) -> tuple[Any, Any, bool]:
        inc = self.config.incremental
        if inc is None or ctx.mode != "run":
            return position
        last = remember(ctx, inc, batch)
        return (last[0], last[1], True)

    def finish(self, ctx: NodeContext, *, succeeded: bool) -> None:
        stage_state(ctx, self.config.incremental, succeeded=succeeded)


def _select_list(schema: pa.Schema, convert: list[Callable[[Any], Any] | None]) -> str:
    """Every column, UUIDs and Enums as their text (``toString``): the Arrow stream reads them
    without a Python object per value."""
    return ", ".join(f"toString({quote(f.name)}) AS {quote(f.name)}" if fn is as_text
                     else quote(f.name) for f, fn in zip(schema, convert, strict=True))


def _arrow_batches(client: Any, sql: str, values: dict[str, Any],
                   schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The driver's own Arrow stream (NumPy columns: numbers, dates, timestamps and text read
    without a Python object per value), cast to the probed schema (timestamps in seconds to
    microseconds, time zones named, text checked to be UTF-8). Used when every column maps to
    Arrow without a conversion of the driver's values, or reads as text in SQL
    (``_select_list``); the others take ``_blocks``."""
    import pyarrow as pa

    strings = {f.name: pa.binary() for f in schema if f.type in (pa.string(), pa.binary())}
    reader = client.query_arrow_stream(sql, values, settings={"use_numpy": True},
                                       field_metadata=False, arrow_types=strings)
    first_row = 1
    for batch in reader:
        yield pa.RecordBatch.from_arrays(
            [_typed_column(col, f, first_row)
             for col, f in zip(batch.columns, schema, strict=True)], schema=schema)
        first_row += batch.num_rows


def _typed_column(column: pa.Array, field: pa.Field, first_row: int) -> pa.Array:
    import pyarrow as pa

    if column.type == field.type:
        return column
    if field.type == pa.string() and column.type == pa.binary():
        return as_text_column(column, field.name, first_row)
    return column.cast(field.type)


def _blocks(client: Any, sql: str, values: dict[str, Any]) -> Iterator[Any]:
    """The result's blocks as lists of columns: the driver decodes each block column by column,
    and this skips turning them into row tuples (and back into columns for Arrow)."""
    from clickhouse_driver.result import IterQueryResult

    class Blocks(IterQueryResult):  # type: ignore[misc]
        def __next__(self) -> list[Any]:
            packet = next(self.packet_generator)
            block = getattr(packet, "block", None)
            if block is None or not block.num_rows:
                return []
            return [block.get_columns()]

    client.iter_query_result_cls = Blocks
    return iter(client.execute_iter(sql, values))


def _converted(blocks: Iterator[Any], schema: pa.Schema,
               convert: list[Callable[[Any], Any] | None]) -> Iterator[pa.RecordBatch]:
    """Blocks of driver values as Arrow batches. The driver gives a String value as text, or
    as bytes where it is not UTF-8."""
    import pyarrow as pa

    first_row = 1
    for columns in blocks:
        arrays = []
        for values, f, fn in zip(columns, schema, convert, strict=True):
            if fn is not None:
                values = [None if v is None else fn(v) for v in values]
            arrays.append(_array(values, f, first_row))
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        first_row += batch.num_rows
        yield batch


def _array(values: list[Any], field: pa.Field, first_row: int) -> pa.Array:
    import pyarrow as pa

    def raw() -> pa.Array:
        return pa.array([v.encode() if isinstance(v, str) else v for v in values], pa.binary())

    if field.type == pa.binary():
        return raw()
    try:
        return pa.array(values, type=field.type)
    except pa.ArrowInvalid:
        if field.type != pa.string():
            raise
        return as_text_column(raw(), field.name, first_row)


def _guarded(rows: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from rows
    except Exception as exc:
        from clickhouse_driver.errors import ServerException

        if isinstance(exc, ServerException):
            raise ConfigError(f"ClickHouse rejected the query: {first_line(exc)}",
                              field="query") from exc
        raise


def _typed(value: Any, dtype: pa.DataType) -> Any:
    """State keeps times as text; a Date or DateTime column's are bound back as dates and
    datetimes (ClickHouse reads no `2024-01-01` as a DateTime). Text stays text: a String
    cursor holding times was bound as a DateTime, which the driver writes without fractions,
    and the same rows were read again forever. A number given as text (a mark set by hand,
    `--last-value 5`, or an `initial_value`) is bound as a number: ClickHouse compares no
    Int32 with a String."""
    import datetime as dt
    import decimal

    import pyarrow as pa

    if not isinstance(value, str):
        return value
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        with contextlib.suppress(ValueError):
            moment = dt.datetime.fromisoformat(value)
            return moment.date() if pa.types.is_date(dtype) else moment
    elif pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        try:
            number = decimal.Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ConfigError(f"incremental position {value!r} is not a number, while the column "
                              f"it is compared with holds {dtype} numbers: set a number "
                              "(`ecluse state set PIPELINE NODE --last-value 42`, or "
                              "`initial_value`)", field="incremental") from None
        if pa.types.is_integer(dtype) and number == number.to_integral_value():
            return int(number)
        return float(number)
    return value


def _cancel(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.cancel()
