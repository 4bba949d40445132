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
    import sqlglot.expressions as sge


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
    server cannot run (a function MySQL 5.7 or MariaDB lacks) is found by a ``LIMIT 0`` probe.
    Text compares by code point, as on the engine (:class:`CodePointTable`)."""
    import pymysql
    import sqlglot.expressions as sge
    from ibis.backends.sql.compilers.mysql import compiler

    conn = connect(connection)
    conn.autocommit(True)  # a read's metadata lock would block a load that replaces a source
    with conn.cursor() as cur:
        collation = code_point_collation(cur)
    tables: dict[tuple[str | None, str], CodePointTable] = {}

    def describe(db: str | None, table: str) -> Any:
        import ibis

        with conn.cursor() as cur:
            schema = result_schema(cur, f"SELECT * FROM {qualified(db, table)}")
            cur.execute(f"SHOW FULL COLUMNS FROM {qualified(db, table)}")
            own = {row[0]: row[2] for row in cur.fetchall()}
        columns = {name: own.get(name) for name in schema.names}  # not the INVISIBLE ones
        if any(c is not None and c != collation for c in columns.values()):
            tables[(db, table)] = CodePointTable(qualified(db, table), columns, collation)
        return ibis.Schema.from_pyarrow(schema)

    def rewrite(node: sge.Expression) -> sge.Expression:
        if isinstance(node, sge.Table) and (table := tables.get((node.db or None, node.name))):
            return table.derived(node)
        return node

    def probe(sql: str) -> None:
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT * FROM ({sql}) AS t LIMIT 0")
        except pymysql.MySQLError as exc:
            raise ConfigError(f"the server cannot run the chain's SQL: {exc.args[-1]}") from exc

    return SqlWarehouse(compiler, describe, conn.close, rewrite, probe=probe)


def code_point_collation(cur: Any) -> str:
    """The server's utf8mb4 collation that compares code points and keeps trailing spaces
    (MariaDB 10.2+, MySQL 8.0.17+); older servers only have ``utf8mb4_bin``, which ignores
    trailing spaces."""
    cur.execute("SHOW COLLATION WHERE Collation IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')")
    found = {row[0] for row in cur.fetchall()}
    return next((c for c in ("utf8mb4_nopad_bin", "utf8mb4_0900_bin") if c in found), "utf8mb4_bin")


class CodePointTable:
    """A table whose text columns a chain reads in the code-point collation: ``(SELECT a,
    b COLLATE utf8mb4_nopad_bin AS b, … FROM db.t) AS t0`` in place of ``db.t AS t0``. The
    column's own collation may fold case (``_ci``) and accents (``utf8mb4_general_ci``:
    'a' = 'á') and, PAD SPACE, ignore trailing spaces, in every comparison, grouping, distinct
    and sort; the engine compares code points. ENUM and SET columns become their text (they
    sort by their place in the list). The server merges the derived table into the query."""

    def __init__(self, name: str, collations: dict[str, str | None], collation: str) -> None:
        import sqlglot
        import sqlglot.expressions as sge

        items = []
        self.indexable: set[str] = set()  # re-collated columns whose own collation can check a hint
        for column, own in collations.items():
            if own is None or own == collation:
                items.append(quote(column))
                continue
            utf8mb4 = own.startswith("utf8mb4_")
            text = quote(column) if utf8mb4 else f"CONVERT({quote(column)} USING utf8mb4)"
            items.append(f"{text} COLLATE {collation} AS {quote(column)}")
            if utf8mb4:
                self.indexable.add(column)
        select = sqlglot.parse_one(f"SELECT {', '.join(items)} FROM {name}", read="mysql")
        assert isinstance(select, sge.Select)
        self.select = select

    def derived(self, table: sge.Table) -> sge.Subquery:
        import sqlglot.expressions as sge

        alias = table.alias_or_name
        hints = self._index_hints(table, alias)
        return sge.Subquery(this=self.select.where(*hints) if hints else self.select.copy(),
                            alias=sge.TableAlias(this=sge.to_identifier(alias, quoted=True)))

    def _index_hints(self, table: sge.Table, alias: str) -> list[sge.Expression]:
        """The filter's conditions ``column = 'text'`` and ``column IN ('text', …)`` on the
        re-collated utf8mb4 columns, checked a first time inside the derived table in the
        column's own collation, where an index on the column serves them: they keep every row
        the exact check outside keeps (the same text is equal in every collation)."""
        import sqlglot.expressions as sge

        select = table.parent.parent if isinstance(table.parent, sge.From) else None
        where = select.args.get("where") if isinstance(select, sge.Select) else None
        if where is None:
            return []
        conditions = where.this.flatten() if isinstance(where.this, sge.And) else [where.this]
        hints: list[sge.Expression] = []
        for condition in (c.unnest() for c in conditions):
            if isinstance(condition, sge.In) and not condition.args.get("query"):
                column, values = condition.this, condition.expressions
            elif isinstance(condition, sge.EQ):  # Ibis compiles = as CAST(column AS BINARY) = …
                column, values = condition.this, [condition.expression]
                if isinstance(column, sge.Cast) and column.to.is_type("binary"):
                    column = column.this
            else:
                continue
            if (isinstance(column, sge.Column) and column.table == alias
                    and column.name in self.indexable
                    and all(isinstance(v, sge.Literal) and v.is_string for v in values)):
                own = sge.column(column.name, quoted=True)
                hints.append(own.eq(values[0].copy()) if len(values) == 1
                             else own.isin(*(v.copy() for v in values)))
        return hints


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
