"""Extractor ``sqlite``: a table or a query of a SQLite file, typed from declared affinities.

Rows are read through DuckDB's ``sqlite`` extension, which types each column by its declared
type. Two kinds of columns of a ``table`` read are typed or completed from the values SQLite
holds, where the extension would change them:

- a column without a declared type (or declared BLOB) comes as bytes (``b'5'``): the storage
  classes of its values (SQLite's ``typeof``) decide instead: integers -> int64, numbers ->
  float64 (every digit, SQLite's text of a real has 15), text (alone or with numbers) -> string,
  any bytes -> binary;
- a TIMESTAMP/DATETIME column drops the UTC offset of a text value (``2024-03-10
  10:00:00+02:00`` came as 10:00): such a value becomes the instant it names, in UTC (08:00),
  as SQLite's own date functions read it. Text without an offset is taken as it is.

Both cost a scan of the table by SQLite itself (to know which columns are concerned), and only
the reals and the timestamps with an offset are looked up by rowid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecluse.sdk.dbfile import ALIAS, DbFileExtractor, DbFileReadConfig
from ecluse.sdk.sqltext import quote_identifier, quote_table, split_db_table

if TYPE_CHECKING:
    import duckdb

    from ecluse.sdk.context import NodeContext

_ROW = "__ecluse_rowid"


class SqliteExtractor(DbFileExtractor):
    name = "sqlite"
    title = "SQLite file"
    description = "Read a table or a query from a SQLite database file."
    file_kind = "sqlite"
    Config = DbFileReadConfig

    def source_sql(self, con: duckdb.DuckDBPyConnection, ctx: NodeContext) -> str:
        c = self.config
        plain = super().source_sql(con, ctx)
        if c.table is None:
            return plain
        # the offsets do not change the schema: not looked for at design time
        return _faithful_sql(con, c.table, c.columns, c.where,
                             offsets=ctx.mode != "schema") or plain


def _faithful_sql(con: duckdb.DuckDBPyConnection, table: str, columns: list[str] | None,
                  where: str | None, *, offsets: bool) -> str | None:
    """A read of ``table`` with its untyped columns typed from their values and the offsets of
    its timestamps applied; None when it has neither."""
    cols = ", ".join(quote_identifier(c) for c in columns) if columns else "*"
    types = {str(row[0]): str(row[1]) for row in
             con.execute(f"DESCRIBE SELECT {cols} FROM {quote_table(table)}").fetchall()}
    untyped = [n for n, t in types.items() if t == "BLOB"]
    stamps = [n for n, t in types.items() if t == "TIMESTAMP"] if offsets else []
    if not untyped and not stamps:
        return None
    source = quote_identifier(split_db_table(table)[1])
    kinds, with_offset = _scan(con, source, untyped, stamps)
    exprs, exact = _expressions(kinds, with_offset)
    if exact and not _has_rowid(con, source):  # nothing to look them up by (WITHOUT ROWID)
        exprs = {n: f"CAST(decode(m.{quote_identifier(n)}) AS DOUBLE)" for n in exact
                 if n not in with_offset} | {n: e for n, e in exprs.items() if n not in exact}
        exact = {}
    if not exprs:
        return None
    select = ", ".join(f"{exprs.get(n, f'm.{quote_identifier(n)}')} AS {quote_identifier(n)}"
                       for n in types)
    if not exact:
        return _where(f"SELECT {select} FROM {quote_table(table)} AS m", where)
    lookup = ", ".join(f"{e} AS {quote_identifier(n)}" for n, e in exact.items())
    only = "" if set(exact) - set(with_offset) else \
        " WHERE " + " OR ".join(_has_offset(quote_identifier(n)) for n in with_offset)
    rows = _sqlite_query(f"SELECT rowid AS {_ROW}, {lookup} FROM {source}{only}")
    body = (f"SELECT m.{_ROW}, {select} FROM (SELECT rowid AS {_ROW}, * FROM {quote_table(table)}) "
            f"AS m LEFT JOIN {rows} AS o ON m.{_ROW} = CAST(o.{_ROW} AS BIGINT)")
    return f"SELECT * EXCLUDE ({_ROW}) FROM ({_where(body, where)}) AS q ORDER BY {_ROW}"


def _expressions(kinds: dict[str, set[str]],
                 with_offset: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The columns' expressions, on the extension's row ``m`` and on ``o``, the exact text
    SQLite gives (its expressions, by rowid)."""
    exprs: dict[str, str] = {}
    exact: dict[str, str] = {}
    for col, seen in kinds.items():
        c = quote_identifier(col)
        if not seen or "blob" in seen:
            continue
        if "text" in seen:
            exprs[col] = f"decode(m.{c})"
        elif seen == {"integer"}:
            exprs[col] = f"CAST(decode(m.{c}) AS BIGINT)"
        else:  # the extension has a real's text, with 15 digits
            exact[col] = f"CASE WHEN {c} IS NOT NULL THEN printf('%!.17g', {c}) END"
            exprs[col] = f"CAST(o.{c} AS DOUBLE)"
    for col in with_offset:
        c = quote_identifier(col)
        exact[col] = f"CASE WHEN {_has_offset(c)} THEN {c} END"
        exprs[col] = f"coalesce(timezone('UTC', CAST(o.{c} AS TIMESTAMPTZ)), m.{c})"
    return exprs, exact


def _where(sql: str, where: str | None) -> str:
    """The user's condition, on the values as read."""
    return f"SELECT * FROM ({sql}) AS q" + (f" WHERE {where}" if where else "")


def _sqlite_query(sql: str) -> str:
    """A table function running ``sql`` in SQLite itself (every value comes as text)."""
    return "sqlite_query('{}', '{}')".format(ALIAS, sql.replace("'", "''"))


def _sqlite(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str | None, ...]]:
    return [tuple(row) for row in con.execute(f"SELECT * FROM {_sqlite_query(sql)}").fetchall()]


def _scan(con: duckdb.DuckDBPyConnection, source: str, untyped: list[str],
          stamps: list[str]) -> tuple[dict[str, set[str]], list[str]]:
    """One scan of the table by SQLite: the storage classes of each untyped column's values,
    and the timestamp columns holding a text with an offset."""
    flags = [f"group_concat(DISTINCT typeof({quote_identifier(c)}))" for c in untyped]
    flags += [f"max({_has_offset(quote_identifier(c))})" for c in stamps]
    (row,) = _sqlite(con, f"SELECT {', '.join(flags)} FROM {source}")
    kinds = {c: set((row[i] or "").split(",")) - {"", "null"} for i, c in enumerate(untyped)}
    offset_flags = row[len(untyped):]
    return kinds, [c for c, flag in zip(stamps, offset_flags, strict=True) if flag == "1"]


def _has_offset(column: str) -> str:
    """A value with a UTC offset after its time of day (``…10:00:00+02:00``, ``+0200``, ``+02``
    as PostgreSQL writes it, ``-05:30``); a Z (UTC) changes nothing. The first test, on the
    last characters, is the cheap one that rules most values out (SQLite evaluates both sides
    of an AND)."""
    return (f"(CASE WHEN substr({column}, -6) GLOB '*[+-]*' "
            f"THEN {column} GLOB '*[0-9]:[0-9][0-9]*[+-][0-9][0-9]*' END)")


def _has_rowid(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    try:
        _sqlite(con, f"SELECT rowid FROM {source} LIMIT 0")
    except Exception:  # a WITHOUT ROWID table
        return False
    return True
