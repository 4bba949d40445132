"""MySQL / MariaDB through PyMySQL: connecting from a connection, quoting, binding ``:name``
parameters, and mapping MySQL column types to Arrow (and back, for tables the loader creates).

Sessions run with ``time_zone = '+00:00'``: TIMESTAMP columns are read as UTC instants
(``timestamp[us, UTC]``), DATETIME columns as wall-clock values (``timestamp[us]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ecluse.sdk.connections import Connection
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.warehouse import SqlWarehouse

if TYPE_CHECKING:
    import pyarrow as pa


def connect_params(connection: Connection, *, field: str = "connection") -> dict[str, Any]:
    """host, port, user, password and database of a ``mysql`` connection (URL or fields)."""
    if connection.type != "mysql":
        raise ConfigError(f"connection {connection.name!r} is of type {connection.type!r}, "
                          "not 'mysql'", field=field)
    url = connection.get("url")
    if url:
        parts = urlsplit(str(url))
        return {"host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
                "user": unquote(parts.username or "root"),
                "password": unquote(parts.password or ""),
                "database": unquote(parts.path.lstrip("/")) or None}
    return {k: connection.get(k) for k in ("host", "port", "user", "password", "database")
            if connection.get(k) is not None}


def connect(connection: Connection, *, streaming: bool = False, field: str = "connection") -> Any:
    import pymysql
    import pymysql.cursors

    params = connect_params(connection, field=field)
    try:
        return pymysql.connect(
            **params, charset="utf8mb4", autocommit=False, local_infile=True,
            init_command="SET time_zone = '+00:00'",
            cursorclass=pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor)
    except Exception as exc:
        raise ConfigError(f"cannot connect to MySQL connection {connection.name!r}: "
                          f"{first_line(exc)}", field=field) from exc


def first_line(exc: BaseException) -> str:
    text = str(exc.args[1]) if len(exc.args) == 2 and isinstance(exc.args[1], str) else str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def quote(name: str) -> str:
    """A backquoted MySQL identifier; quotes, spaces and reserved words are safe."""
    if not name or "\x00" in name:
        raise ConfigError(f"invalid identifier {name!r}")
    return "`" + name.replace("`", "``") + "`"


def qualified(db: str | None, table: str) -> str:
    return f"{quote(db)}.{quote(table)}" if db else quote(table)


def result_fields(cur: Any, sql: str, args: Any = None) -> list[Any]:
    """The PyMySQL fields (name, type code, length, flags...) of a query's result, from a
    ``LIMIT 0`` run of it."""
    cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0", args)
    fields = list(cur._result.fields)
    cur.fetchall()
    return fields


def result_schema(cur: Any, sql: str, args: Any = None) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, arrow_type(f)) for f in result_fields(cur, sql, args)])


# --- ELT pushdown -----------------------------------------------------------------------

def warehouse_key(connection: Connection) -> str:
    """Same server, port and user = the same warehouse: a query may join any of its databases."""
    p = connect_params(connection)
    return f"mysql://{p.get('user') or 'root'}@{p.get('host') or '127.0.0.1'}:{p.get('port') or 3306}"


def open_warehouse(connection: Connection) -> SqlWarehouse:
    """Compiles chains to MySQL's SQL; table columns are read through PyMySQL. A chain the
    server cannot run (a function MySQL 5.7 or MariaDB lacks) is found by a ``LIMIT 0`` probe."""
    import pymysql
    from ibis.backends.sql.compilers.mysql import compiler

    conn = connect(connection)

    def describe(db: str | None, table: str) -> Any:
        import ibis

        with conn.cursor() as cur:
            return ibis.Schema.from_pyarrow(result_schema(cur, f"SELECT * FROM {qualified(db, table)}"))

    def probe(sql: str) -> None:
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT * FROM ({sql}) AS t LIMIT 0")
        except pymysql.MySQLError as exc:
            raise ConfigError(f"the server cannot run the chain's SQL: {exc.args[-1]}") from exc

    return SqlWarehouse(compiler, describe, conn.close, probe=probe)


# --- types ------------------------------------------------------------------------------

_UNSIGNED = 32
_BINARY_CHARSET = 63


def arrow_type(field: Any) -> pa.DataType:
    """The Arrow type of a PyMySQL result field (type code, length, flags, charset)."""
    import pyarrow as pa
    from pymysql.constants import FIELD_TYPE as T

    code, unsigned = field.type_code, bool(field.flags & _UNSIGNED)
    ints = {T.TINY: 8, T.SHORT: 16, T.INT24: 32, T.LONG: 32, T.LONGLONG: 64, T.YEAR: 16}
    if code == T.TINY and field.length == 1 and not unsigned:
        return pa.bool_()
    if code in ints:
        bits = ints[code]
        return getattr(pa, f"{'u' if unsigned and code != T.YEAR else ''}int{bits}")()  # type: ignore[no-any-return]
    if code == T.FLOAT:
        return pa.float32()
    if code == T.DOUBLE:
        return pa.float64()
    if code in (T.DECIMAL, T.NEWDECIMAL):
        scale = int(field.scale)
        precision = int(field.length) - (1 if scale else 0) - (0 if unsigned else 1)
        precision = max(precision, scale, 1)
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if code == T.DATE:
        return pa.date32()
    if code == T.DATETIME:
        return pa.timestamp("us")
    if code == T.TIMESTAMP:
        return pa.timestamp("us", tz="UTC")
    if code == T.TIME:
        return pa.duration("us")
    if code == T.BIT:
        return pa.binary()
    if code in (T.TINY_BLOB, T.MEDIUM_BLOB, T.LONG_BLOB, T.BLOB, T.VAR_STRING, T.STRING,
                T.VARCHAR, T.GEOMETRY) and field.charsetnr == _BINARY_CHARSET:
        return pa.binary()
    return pa.string()  # text, JSON (as its text), ENUM, SET


def not_a_boolean(column: str, value: Any) -> ConfigError:
    """A TINYINT(1) column holding another number than 0 and 1: read as a boolean, the number
    would be lost (5 would read as true)."""
    return ConfigError(f"column {column!r} is TINYINT(1), which MySQL uses for booleans and the "
                       f"extractor reads as one, but it holds {value}, which is not 0 or 1; to "
                       f"read its numbers, CAST it in a `query`: SELECT CAST({quote(column)} AS "
                       f"SIGNED) AS {quote(column)}, …", field="query")


def read_type(field: Any) -> pa.DataType:
    """The Arrow type the extractor reads a column as: :func:`arrow_type`, but a DECIMAL wider
    than 38 digits as its exact text (no engine's decimal is wider: DuckDB's, Polars' and
    Spark's stop at 38 digits)."""
    import pyarrow as pa

    dtype = arrow_type(field)
    return pa.string() if pa.types.is_decimal256(dtype) else dtype


def ddl_type(dtype: pa.DataType, *, key: bool = False) -> str:
    """The MySQL column type for an Arrow type (tables the loader creates)."""
    import pyarrow as pa

    t = pa.types
    if t.is_boolean(dtype):
        return "BOOLEAN"
    if t.is_integer(dtype):
        name = {8: "TINYINT", 16: "SMALLINT", 32: "INT", 64: "BIGINT"}[dtype.bit_width]
        return f"{name} UNSIGNED" if t.is_unsigned_integer(dtype) else name
    if t.is_float32(dtype):
        return "FLOAT"
    if t.is_floating(dtype):
        return "DOUBLE"
    if t.is_decimal(dtype):
        precision = min(max(dtype.precision, dtype.scale, 1), 65)
        return f"DECIMAL({precision},{min(dtype.scale, 30)})"
    if t.is_date(dtype):
        return "DATE"
    if t.is_timestamp(dtype):
        return "DATETIME(6)"  # TIMESTAMP's range (1970-2038) is too narrow; UTC kept
    if t.is_time(dtype) or t.is_duration(dtype):
        return "TIME(6)"
    if t.is_binary(dtype) or t.is_large_binary(dtype) or t.is_fixed_size_binary(dtype):
        return "VARBINARY(255)" if key else "LONGBLOB"
    if t.is_nested(dtype):
        return "JSON"
    return "VARCHAR(255)" if key else "LONGTEXT"
