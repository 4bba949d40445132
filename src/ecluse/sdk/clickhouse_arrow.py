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
from ecluse.sdk.errors import ConfigError
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

    client = Client(**connect_params(connection, field=field), settings=settings or None)
    try:
        client.execute("SELECT 1")
    except Exception as exc:
        raise ConfigError(f"cannot connect to ClickHouse connection {connection.name!r}: "
                          f"{first_line(exc)}", field=field) from exc
    return client


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
    """Compiles chains to ClickHouse's SQL (exact distinct counts; spaces trimmed with a regular
    expression on servers older than 20.1, which lack TRIM); columns are read with the driver."""
    client = connect(connection)
    old = version(client) < (20, 1)

    def describe(db: str | None, table: str) -> Any:
        import ibis

        return ibis.Schema.from_pyarrow(result_schema(client, f"SELECT * FROM {qualified(db, table)}")[0])

    return SqlWarehouse(_exact_compiler(), describe, client.disconnect,
                        _trim_as_regex if old else None)


@functools.cache
def _exact_compiler() -> Any:
    """Ibis's ClickHouse compiler, except that distinct counts are exact (``uniqExact``, not the
    approximate ``uniq``): a pushed-down chain gives the same numbers as the engine."""
    import ibis.expr.operations as ops
    from ibis.backends.sql.compilers.clickhouse import ClickHouseCompiler

    class ExactCompiler(ClickHouseCompiler):  # type: ignore[misc]
        SIMPLE_OPS = {**ClickHouseCompiler.SIMPLE_OPS, ops.CountDistinct: "uniqExact"}

    return ExactCompiler()


def _trim_as_regex(node: sge.Expression) -> sge.Expression:
    import sqlglot.expressions as sge

    if isinstance(node, sge.Trim) and node.args.get("expression") is None:
        return sge.Anonymous(this="replaceRegexpAll", expressions=[
            node.this, sge.Literal.string("^ +| +$"), sge.Literal.string("")])
    return node


# --- types ------------------------------------------------------------------------------

def _unwrap(ch: str) -> tuple[str, bool]:
    nullable = False
    while True:
        m = re.fullmatch(r"(Nullable|LowCardinality)\((.*)\)", ch.strip())
        if not m:
            return ch.strip(), nullable
        nullable = nullable or m.group(1) == "Nullable"
        ch = m.group(2)


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
    return pa.string(), str  # UUID, Enum, IPv4/6, Map, Tuple...: their text


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
    return values
