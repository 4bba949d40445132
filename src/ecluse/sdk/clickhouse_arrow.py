"""ClickHouse through clickhouse-driver (native protocol, port 9000): connecting, quoting,
binding ``:name`` parameters, and mapping ClickHouse types to Arrow and back.

The native protocol works with every server from 18.x (Debian's package) to current ones; the
DDL the loader writes depends on the server's version (``DateTime64`` from 20.1, ``Bool`` from
21.12, ``Date32`` from 21.9) so tables stay as faithful as the server allows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ecluse.sdk.connections import Connection
from ecluse.sdk.errors import ConfigError, boolean_misfit, shown
from ecluse.sdk.types import duration_text, is_arrow_number
from ecluse.sdk.warehouse import SqlWarehouse

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as sge


def connect_params(connection: Connection, *, field: str = "connection") -> dict[str, Any]:
    """host, port, user, password and database of a ``clickhouse`` connection (URL or fields)."""
    if connection.type != "clickhouse":
        raise ConfigError(f"connection {connection.name!r} is of type {connection.type!r}, "
                          "not 'clickhouse'", field=field)
    url = connection.get("url")
    if url:
        parts = urlsplit(str(url))
        return {"host": parts.hostname or "127.0.0.1", "port": parts.port or 9000,
                "user": unquote(parts.username or "default"),
                "password": unquote(parts.password or ""),
                "database": unquote(parts.path.lstrip("/")) or "default"}
    return {k: connection.get(k) for k in ("host", "port", "user", "password", "database")
            if connection.get(k) is not None}


def connect(connection: Connection, *, field: str = "connection", **settings: Any) -> Any:
    from clickhouse_driver import Client

    params = connect_params(connection, field=field)
    # a short wait for the handshake: a server that never answers it (ClickHouse's HTTP port,
    # another service) would otherwise hold the run for the driver's 300 s
    client = Client(**params, settings=settings or None, connect_timeout=10,
                    send_receive_timeout=_HANDSHAKE_S)
    try:
        client.execute("SELECT 1")
    except Exception as exc:
        hint = (f"; nothing answered ClickHouse's native protocol on port {params.get('port', 9000)} "
                "(8123 is its HTTP port: the connection needs the native one, 9000 by default)"
                if type(exc).__name__ == "SocketTimeoutError" else "")
        raise ConfigError(f"cannot connect to ClickHouse connection {connection.name!r}: "
                          f"{first_line(exc)}{hint}", field=field) from exc
    client.connection.send_receive_timeout = _QUERY_S  # long queries and loads from now on
    if client.connection.socket is not None:
        client.connection.socket.settimeout(_QUERY_S)
    return client


_HANDSHAKE_S, _QUERY_S = 15, 300


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    lines = [ln for ln in text.splitlines() if ln.strip() and not re.match(r"^\d+\. ", ln)]
    return " ".join(lines[:2]).replace("Stack trace:", "").strip() or type(exc).__name__


def version(client: Any) -> tuple[int, int]:
    text = str(client.execute("SELECT version()")[0][0])
    major, minor = (int(p) for p in text.split(".")[:2])
    return major, minor


def quote(name: str) -> str:
    if not name or "\x00" in name:
        raise ConfigError(f"invalid identifier {name!r}")
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def qualified(db: str | None, table: str) -> str:
    return f"{quote(db)}.{quote(table)}" if db else quote(table)


def result_schema(client: Any, sql: str, args: Any = None) -> tuple[pa.Schema, list[Any]]:
    """The Arrow schema of a query's result (from a ``LIMIT 0`` run of it), and the conversion
    each column's driver values need (or None)."""
    import pyarrow as pa

    _, columns = client.execute(f"SELECT * FROM ({sql}) LIMIT 0", args, with_column_types=True)
    mapped = [arrow_type(t) for _, t in columns]
    schema = pa.schema([pa.field(n, m[0]) for (n, _), m in zip(columns, mapped, strict=True)])
    return schema, [m[1] for m in mapped]


# --- ELT pushdown -----------------------------------------------------------------------

def warehouse_key(connection: Connection) -> str:
    """Same server, port and user = the same warehouse: a query may join any of its databases."""
    p = connect_params(connection)
    return (f"clickhouse://{p.get('user') or 'default'}@{p.get('host') or '127.0.0.1'}:"
            f"{p.get('port') or 9000}")


def open_warehouse(connection: Connection) -> SqlWarehouse:
    """Compiles chains to ClickHouse's SQL (exact distinct counts, text functions on characters
    rather than bytes, function names that servers older than 20.1 know); columns are read with
    the driver. A chain the server cannot run is found before the run by a ``LIMIT 0`` probe."""
    client = connect(connection)
    old = version(client) < (20, 1)

    def describe(db: str | None, table: str) -> Any:
        import ibis

        return ibis.Schema.from_pyarrow(result_schema(client, f"SELECT * FROM {qualified(db, table)}")[0])

    def probe(sql: str) -> None:
        try:
            client.execute(f"SELECT * FROM ({sql}) LIMIT 0")
        except Exception as exc:
            raise ConfigError(f"ClickHouse {'.'.join(map(str, version(client)))} cannot run "
                              f"the chain's SQL: {first_line(exc)}") from exc

    return SqlWarehouse(_exact_compiler(), describe, client.disconnect,
                        _for_old_servers if old else None, probe=probe)


@functools.cache
def _exact_compiler() -> Any:
    """Ibis's ClickHouse compiler, except that a pushed-down chain gives the engine's results:

    - distinct counts are exact (``uniqExact``, not the approximate ``uniq``), and 0 for a group
      of NULLs (ClickHouse 18.16 gave NULL);
    - aggregates of no value (an empty input, a group of NULLs) are NULL, not the type's
      default (``sum`` 0, ``avg`` nan, ``min`` 0 or '');
    - the sample variance and standard deviation of one value are NULL, not nan;
    - upper/lower case, lengths and substrings work on characters (ClickHouse's plain functions
      work on bytes: ``upper('é')`` is ``'é'``, ``length('é')`` is 2)."""
    import ibis.expr.operations as ops
    from ibis.backends.sql.compilers.base import NULL
    from ibis.backends.sql.compilers.clickhouse import ClickhouseAggGen, ClickHouseCompiler

    class NullWhenNoValue(ClickhouseAggGen):  # type: ignore[misc]
        """Nullable arguments, the rows a filter leaves out as NULLs: ClickHouse's aggregates of
        Nullable values skip NULLs and give NULL when no value is left, as the engine's do
        (``sumIf(toNullable(x), cond)`` still gives 0 when ``cond`` holds for no row)."""

        def aggregate(self, compiler: Any, name: str, *args: Any, where: Any = None,
                      order_by: Any = ()) -> Any:
            if name in _NULL_WHEN_NO_VALUE:
                args = tuple(compiler.f.toNullable(a) if where is None
                             else compiler.if_(where, a, NULL) for a in args)
                where = None
            return super().aggregate(compiler, name, *args, where=where, order_by=order_by)

    class ExactCompiler(ClickHouseCompiler):  # type: ignore[misc]
        agg = NullWhenNoValue()
        SIMPLE_OPS = {**{op: f for op, f in ClickHouseCompiler.SIMPLE_OPS.items()
                         if op is not ops.CountDistinct},
                      ops.Uppercase: "upperUTF8", ops.Lowercase: "lowerUTF8",
                      ops.StringLength: "lengthUTF8"}

        def visit_CountDistinct(self, op: Any, *, arg: Any, where: Any) -> Any:  # noqa: N802
            return self.f.ifNull(self.agg.uniqExact(arg, where=where), 0)

        def visit_StandardDevVariance(self, op: Any, *, how: str, where: Any, arg: Any) -> Any:  # noqa: N802
            values = self.agg.count(arg, where=where)
            fewest = 2 if how == "sample" else 1
            spread = super().visit_StandardDevVariance(op, how=how, where=where, arg=arg)
            return self.if_(values >= fewest, spread, NULL)

        visit_StandardDev = visit_Variance = visit_StandardDevVariance  # noqa: N815

        def visit_Substring(self, op: Any, *, arg: Any, start: Any, length: Any) -> Any:  # noqa: N802
            start += 1
            start = self.if_(start >= 1, start, start + self.f.lengthUTF8(arg))
            rest = () if length is None else (length,)
            return self.f.substringUTF8(arg, start, *rest)

    return ExactCompiler()


_NULL_WHEN_NO_VALUE = frozenset({"sum", "avg", "min", "max", "any", "anyLast",
                                 "quantileExactExclusive"})
"""The aggregates the engine gives NULL for when there is no value; on a column that is not
Nullable, ClickHouse gives the type's default (0, nan, '')."""


_TRUNCATE_TO = {"YEAR": "toStartOfYear", "QUARTER": "toStartOfQuarter", "MONTH": "toStartOfMonth",
                "WEEK": "toMonday", "DAY": "toStartOfDay", "HOUR": "toStartOfHour",
                "MINUTE": "toStartOfMinute"}


def _for_old_servers(node: sge.Expression) -> sge.Expression:
    """Servers older than 20.1 lack ``TRIM``, ``dateTrunc`` and the upper-case names of
    ``abs``, ``greatest`` and ``least``: the same work in the functions they have."""
    import sqlglot.expressions as sge

    if isinstance(node, sge.Trim) and node.args.get("expression") is None:
        return sge.Anonymous(this="replaceRegexpAll", expressions=[
            node.this, sge.Literal.string("^ +| +$"), sge.Literal.string("")])
    if isinstance(node, sge.TimestampTrunc | sge.DateTrunc):
        unit = node.args.get("unit")
        name = _TRUNCATE_TO.get(unit.name.upper() if unit is not None else "")
        if name is not None:
            return sge.Anonymous(this=name, expressions=[node.this])
    if isinstance(node, sge.Abs | sge.Greatest | sge.Least):
        return sge.Anonymous(this=type(node).__name__.lower(),
                             expressions=[node.this, *node.expressions])
    return node


# --- types ------------------------------------------------------------------------------

BINARY_COMMENT = "binary data: Ecluse reads it back as bytes"
"""The comment the loader puts on a String column it creates from binary data. ClickHouse keeps
text and bytes in the same String type; the extractor reads columns with this comment as
bytes, so binary data round-trips."""


def is_binary(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    t = pa.types
    return bool(t.is_binary(dtype) or t.is_large_binary(dtype) or t.is_fixed_size_binary(dtype))


def binary_columns(client: Any, db: str | None, table: str) -> set[str]:
    """The columns of ``table`` that hold binary data, by the loader's comment."""
    db = db or str(client.execute("SELECT currentDatabase()")[0][0])
    rows = client.execute("SELECT name FROM system.columns WHERE database = %(db)s AND "
                          "table = %(t)s AND comment = %(c)s",
                          {"db": db, "t": table, "c": BINARY_COMMENT})
    return {str(name) for (name,) in rows}


def as_text_column(values: pa.Array, name: str, first_row: int = 1) -> pa.Array:
    """Bytes read from a String column as text, or an error naming the column and the first
    value that is not UTF-8."""
    import pyarrow as pa

    try:
        return values.cast(pa.string())
    except pa.ArrowInvalid:
        for row, value in enumerate(values.to_pylist(), start=first_row):
            if value is None:
                continue
            try:
                value.decode()
            except UnicodeDecodeError:
                raise ConfigError(
                    f"column {name!r} holds bytes that are not UTF-8 text ({shown(value)}, row "
                    f"{row} of the result); ClickHouse keeps text and binary data in the same "
                    f"String type: add {name!r} to `binary_columns` to read the column as bytes",
                    field="binary_columns") from None
        raise


def _unwrap(ch: str) -> tuple[str, bool]:
    nullable = False
    while True:
        m = re.fullmatch(r"(Nullable|LowCardinality)\((.*)\)", ch.strip())
        if not m:
            return ch.strip(), nullable
        nullable = nullable or m.group(1) == "Nullable"
        ch = m.group(2)


def as_text(value: Any) -> str:
    """The conversion of UUID and Enum values: their text, which the server's ``toString``
    gives identically, so a reader may select ``toString(column)`` instead."""
    return str(value)


def arrow_type(ch: str) -> tuple[pa.DataType, Callable[[Any], Any] | None]:
    """The Arrow type of a ClickHouse type, and a conversion of the driver's values if needed."""
    import pyarrow as pa

    base, _ = _unwrap(ch)
    ints = {"Int8": pa.int8(), "Int16": pa.int16(), "Int32": pa.int32(), "Int64": pa.int64(),
            "UInt8": pa.uint8(), "UInt16": pa.uint16(), "UInt32": pa.uint32(), "UInt64": pa.uint64(),
            "Float32": pa.float32(), "Float64": pa.float64(), "Bool": pa.bool_(),
            "Date": pa.date32(), "Date32": pa.date32(), "String": pa.string()}
    if base in ints:
        return ints[base], None
    if m := re.fullmatch(r"Decimal\((\d+),\s*(\d+)\)", base):
        p, s = int(m.group(1)), int(m.group(2))
        return (pa.decimal128(p, s) if p <= 38 else pa.decimal256(p, s)), None
    if m := re.fullmatch(r"Decimal(32|64|128|256)\((\d+)\)", base):
        p = {"32": 9, "64": 18, "128": 38, "256": 76}[m.group(1)]
        return (pa.decimal128(p, int(m.group(2))) if p <= 38 else pa.decimal256(p, int(m.group(2)))), None
    if m := re.fullmatch(r"DateTime(?:\('([^']*)'\))?", base):
        return pa.timestamp("us", tz=m.group(1) or "UTC"), None
    if m := re.fullmatch(r"DateTime64\((\d+)(?:,\s*'([^']*)')?\)", base):
        precision = int(m.group(1))
        unit = "s" if precision == 0 else "ms" if precision <= 3 else "us" if precision <= 6 else "ns"
        return pa.timestamp(unit, tz=m.group(2) or "UTC"), None
    if base.startswith("FixedString"):
        return pa.string(), None
    if m := re.fullmatch(r"Array\((.*)\)", base):
        inner, conv = arrow_type(m.group(1))
        if conv is None:
            return pa.list_(inner), None
        return pa.list_(inner), lambda v: [None if x is None else conv(x) for x in v]
    if base == "UUID" or base.startswith(("Enum8(", "Enum16(")):
        return pa.string(), as_text
    return pa.string(), str  # IPv4/6, Map, Tuple...: their text as Python writes it


def ddl_type(dtype: pa.DataType, server: tuple[int, int], *, nullable: bool = True) -> str:
    import pyarrow as pa

    t = pa.types
    if t.is_boolean(dtype):
        base = "Bool" if server >= (21, 12) else "UInt8"
    elif t.is_integer(dtype):
        base = f"{'U' if t.is_unsigned_integer(dtype) else ''}Int{dtype.bit_width}"
    elif t.is_float32(dtype):
        base = "Float32"
    elif t.is_floating(dtype):
        base = "Float64"
    elif t.is_decimal(dtype):
        base = f"Decimal({min(max(dtype.precision, 1), 76)}, {dtype.scale})"
    elif t.is_date(dtype):
        base = "Date32" if server >= (21, 9) else "Date"
    elif t.is_timestamp(dtype):
        base = "DateTime64(6, 'UTC')" if server >= (20, 1) else "DateTime('UTC')"
    else:
        base = "String"  # text, binary, nested values (as JSON text)
    return f"Nullable({base})" if nullable else base


def py_values(array: Any, dtype: pa.DataType, ch_type: str) -> list[Any]:
    """An Arrow column as the Python values clickhouse-driver inserts into ``ch_type``."""
    import datetime as dt
    import json

    import pyarrow as pa

    values: list[Any] = array.to_pylist()
    base, _ = _unwrap(ch_type)
    if pa.types.is_timestamp(dtype):
        if dtype.tz is None:
            return [None if v is None else v.replace(tzinfo=dt.UTC) for v in values]
        return values
    if pa.types.is_boolean(dtype) and base.startswith("UInt"):
        return [None if v is None else int(v) for v in values]
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return [None if v is None else bytes(v) for v in values]
    if pa.types.is_nested(dtype):
        return [None if v is None else json.dumps(v, default=str, ensure_ascii=False) for v in values]
    if pa.types.is_time(dtype):  # no time-of-day type: its text, as String
        return [None if v is None else v.isoformat() for v in values]
    if pa.types.is_duration(dtype):  # no duration type: text that casts back (26:00:00.000000)
        return [None if v is None else duration_text(v) for v in values]
    return values


# --- inserts straight from Arrow ----------------------------------------------------------

_WIRE_INTS = {"Int8": "<i1", "Int16": "<i2", "Int32": "<i4", "Int64": "<i8", "UInt8": "<u1",
              "UInt16": "<u2", "UInt32": "<u4", "UInt64": "<u8", "Float32": "<f4",
              "Float64": "<f8", "Bool": "<u1"}
_UNIT_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def insert_arrow(client: Any, query: str, data: pa.Table) -> int:
    """``INSERT … VALUES`` of ``data`` (its columns in the query's order) in one block.

    Columns whose values Arrow already holds in ClickHouse's Native layout (numbers, dates,
    timestamps, decimals of the same scale, text; Nullable or not) are sent as bytes built from
    Arrow's buffers with NumPy - no Python object per value. The others (LowCardinality, values
    that need a cast or a range check, ...) go through the driver's own column writers as Python
    values (``py_values``), exactly as a plain ``client.execute(…, columnar=True)`` would."""
    from clickhouse_driver import defines
    from clickhouse_driver.block import BlockInfo, ColumnOrientedBlock
    from clickhouse_driver.columns.service import write_column
    from clickhouse_driver.protocol import ClientPacketTypes
    from clickhouse_driver.varint import write_varint
    from clickhouse_driver.writer import write_binary_str, write_binary_uint8

    with client.disconnect_on_error(query, None):
        conn = client.connection
        conn.send_query(query)
        conn.send_external_tables(None)
        sample = client.receive_sample_block()
        revision = conn.server_info.used_revision
        write_varint(ClientPacketTypes.DATA, conn.fout)
        if revision >= defines.DBMS_MIN_REVISION_WITH_TEMPORARY_TABLES:
            write_binary_str("", conn.fout)
        out = conn.block_out  # the (possibly compressing) block stream: same framing as the driver's
        if revision >= defines.DBMS_MIN_REVISION_WITH_BLOCK_INFO:
            BlockInfo().write(out.fout)
        write_varint(len(sample.columns_with_types), out.fout)
        write_varint(data.num_rows, out.fout)
        for i, (name, ch_type) in enumerate(sample.columns_with_types):
            write_binary_str(name, out.fout)
            write_binary_str(ch_type, out.fout)
            if revision >= defines.DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION:
                write_binary_uint8(0, out.fout)
            column = data.column(i)
            raw = native_column(column, ch_type)
            if raw is not None:
                for part in raw:
                    out.fout.write(part)
            else:
                write_column(conn.context, name, ch_type, py_values(column, column.type, ch_type),
                             out.fout)
        out.finalize()
        client.receive_profile_events()
        conn.send_data(ColumnOrientedBlock())  # an empty block ends the data
        client.receive_profile_events()
        client.receive_end_of_insert_query()
    return int(data.num_rows)


_DATE_DAYS = {"Date": (0, 65535), "Date32": (-25567, 120529)}
"""Days since 1970-01-01 each date type holds."""
_DATETIME_SECONDS = (0, 2**32 - 1)
"""Seconds since the epoch a DateTime (UInt32) holds."""


def check_booleans(schema: pa.Schema, types: dict[str, str], table: str) -> None:
    """Refuse booleans into a number column and numbers into a Bool one (``boolean_misfit``).
    A UInt8 column takes both: it is what servers before 21.12 store booleans as."""
    import pyarrow as pa

    t = pa.types
    for f in schema:
        base, _ = _unwrap(types.get(f.name, ""))
        number_column = base in _WIRE_INTS or base.startswith("Decimal")
        if t.is_boolean(f.type) and number_column and base not in ("UInt8", "Bool"):
            cast_to = "int64" if base.startswith(("Int", "UInt")) else "float64"
            raise boolean_misfit(table, f.name, base, "boolean", cast_to)
        if base == "Bool" and is_arrow_number(f.type):
            raise boolean_misfit(table, f.name, base, str(f.type), "boolean")


def check_fits(data: pa.Table, types: dict[str, str]) -> None:
    """Refuse values the target columns would silently change: dates and times outside what
    a Date or DateTime holds (the driver writes them as 1970-01-01), decimals with more digits
    than the column's Decimal (it cuts them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in data.column_names:
        ch = types.get(name, "").strip()
        base = ch[9:-1].strip() if ch.startswith("Nullable(") and ch.endswith(")") else ch
        column = data.column(name)
        dtype = column.type
        if not len(column) or column.null_count == len(column):
            continue
        if base in _DATE_DAYS and pa.types.is_date(dtype):
            low, high = _DATE_DAYS[base]
            bounds = pc.min_max(column.cast(pa.date32()).cast(pa.int32()))
            first, last = bounds["min"].as_py(), bounds["max"].as_py()
            if first < low or last > high:
                day = pa.scalar(first if first < low else last, pa.int32()).cast(pa.date32())
                span = [pa.scalar(d, pa.int32()).cast(pa.date32()) for d in (low, high)]
                raise ConfigError(f"column {name!r} holds {day}, which a ClickHouse {base} cannot "
                                  f"hold ({span[0]} to {span[1]}); it would be written as another "
                                  "date", field="table")
        elif re.fullmatch(r"DateTime(?:\(.*\))?", base) and pa.types.is_timestamp(dtype):
            seconds = pc.divide(column.cast(pa.int64()), 10 ** _UNIT_DIGITS[dtype.unit])
            bounds = pc.min_max(seconds)
            if bounds["min"].as_py() < _DATETIME_SECONDS[0] \
                    or bounds["max"].as_py() > _DATETIME_SECONDS[1]:
                raise ConfigError(f"column {name!r} holds a time outside what a ClickHouse "
                                  "DateTime holds (1970-01-01 00:00:00 to 2106-02-07 06:28:15 UTC); "
                                  "it would be written as another time", field="table")
        elif (m := re.fullmatch(r"Decimal\((\d+),\s*(\d+)\)", base)) and pa.types.is_decimal(dtype):
            target = pa.decimal128(int(m.group(1)), int(m.group(2))) if int(m.group(1)) <= 38 \
                else pa.decimal256(int(m.group(1)), int(m.group(2)))
            try:
                column.cast(target)
            except pa.ArrowInvalid as exc:
                raise ConfigError(f"column {name!r} holds a value that does not fit the table's "
                                  f"{base} ({exc}); it would be cut", field="table") from exc


def native_column(column: Any, ch_type: str) -> list[bytes] | None:
    """An Arrow column in ClickHouse's Native format (null map, then values), or None when its
    values need the driver's conversions (other types, casts, out-of-range values, nulls for a
    column that is not Nullable)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    ch = ch_type.strip()
    nullable = ch.startswith("Nullable(") and ch.endswith(")")
    base = ch[9:-1].strip() if nullable else ch
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    dtype = array.type
    if array.null_count and not nullable:
        return None
    t = pa.types
    values: Any
    if base in _WIRE_INTS:
        if t.is_boolean(dtype) and base in ("UInt8", "Bool"):
            array = array.cast(pa.uint8())
        elif dtype != arrow_type(base)[0] or base == "Bool":
            return None
        values = _filled(array, 0).to_numpy(zero_copy_only=False).astype(_WIRE_INTS[base], copy=False)
    elif base in ("Date", "Date32") and t.is_date32(dtype):
        days = _filled(array, 0).cast(pa.int32()).to_numpy(zero_copy_only=False)
        low, high = _DATE_DAYS[base]
        if days.size and (days.min() < low or days.max() > high):
            return None
        values = days.astype("<u2" if base == "Date" else "<i4")
    elif (m := re.fullmatch(r"DateTime(64)?(?:\((.*)\))?", base)) and t.is_timestamp(dtype):
        ticks = _filled(array, 0).cast(pa.int64()).to_numpy(zero_copy_only=False)
        digits = _UNIT_DIGITS[dtype.unit]
        if m.group(1):  # DateTime64(precision[, tz]): ticks of 10^-precision s
            precision = int((m.group(2) or "3").split(",")[0])
            if precision < digits:
                return None
            values = ticks.astype("<i8") * (10 ** (precision - digits))
        else:  # DateTime[(tz)]: whole seconds, UInt32
            seconds = ticks // 10 ** digits  # sub-seconds dropped, as the driver does
            if seconds.size and (seconds.min() < _DATETIME_SECONDS[0]
                                 or seconds.max() > _DATETIME_SECONDS[1]):
                return None
            values = seconds.astype("<u4")
    elif (m := re.fullmatch(r"Decimal\((\d+),\s*(\d+)\)", base)) and t.is_decimal(dtype):
        precision, scale = int(m.group(1)), int(m.group(2))
        if dtype.scale != scale or dtype.precision > precision or \
                (t.is_decimal256(dtype) and precision <= 38):
            return None
        filled = _filled(array, pa.scalar(0, dtype))
        width = 4 if t.is_decimal256(dtype) else 2
        words = np.frombuffer(filled.buffers()[1], dtype="<i8")
        words = words[filled.offset * width:(filled.offset + len(filled)) * width].reshape(-1, width)
        if precision <= 9:
            values = words[:, 0].astype("<i4")
        elif precision <= 18:
            values = np.ascontiguousarray(words[:, 0])
        elif precision <= 38 or width == 4:
            values = np.ascontiguousarray(words)
        else:  # Decimal256 from a 128-bit decimal: sign-extended
            sign = words[:, 1:2] >> 63
            values = np.hstack([words, sign, sign])
    elif base == "String" and (t.is_string(dtype) or t.is_large_string(dtype)
                               or t.is_binary(dtype) or t.is_large_binary(dtype)):
        values = _strings(pc.fill_null(array, "" if t.is_string(dtype) or t.is_large_string(dtype)
                                      else b"") if array.null_count else array)
    else:
        return None
    parts = [values.tobytes() if isinstance(values, np.ndarray) else values]
    if nullable:
        nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8)
        parts.insert(0, nulls.tobytes())
    return parts


def _filled(array: Any, value: Any) -> Any:
    import pyarrow.compute as pc

    return pc.fill_null(array, value) if array.null_count else array


def _strings(array: Any) -> bytes:
    """Text as the Native format writes it: each value's length (a varint), then its bytes."""
    import numpy as np
    import pyarrow as pa

    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    offsets = np.frombuffer(array.buffers()[1], dtype="<i8" if large else "<i4")
    offsets = offsets[array.offset:array.offset + len(array) + 1].astype(np.int64)
    data = np.frombuffer(array.buffers()[2] or b"", dtype=np.uint8)[offsets[0]:offsets[-1]]
    lengths = np.diff(offsets)
    if lengths.size == 0:
        return b""
    # varint of each length: 7 bits a byte, the high bit set on all bytes but the last
    sizes = np.ones(len(lengths), dtype=np.int64)
    for k in range(1, 10):
        more = lengths >= (1 << (7 * k))
        if not more.any():
            break
        sizes += more
    if int(sizes.max()) == 1:
        prefixes = lengths.astype(np.uint8)
        at = offsets[:-1] - offsets[0]
    else:
        index = np.repeat(np.arange(len(lengths)), sizes)
        byte = np.arange(len(index)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        prefixes = ((lengths[index] >> (7 * byte)) & 0x7F | np.where(
            byte < sizes[index] - 1, 0x80, 0)).astype(np.uint8)
        at = np.repeat(offsets[:-1] - offsets[0], sizes)
    return np.insert(data, at, prefixes).tobytes()  # type: ignore[no-any-return]
