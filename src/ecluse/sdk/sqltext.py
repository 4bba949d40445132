"""SQL text helpers shared by database modules: quoting identifiers, binding ``:name``
parameters as real placeholders (values never enter the SQL text)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ecluse.sdk.errors import ConfigError

_STRING_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def quote_identifier(name: str) -> str:
    """A double-quoted SQL identifier; any name (spaces, quotes, reserved words) is safe."""
    if not name or "\x00" in name:
        raise ConfigError(f"invalid identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_table(name: str) -> str:
    """``schema.table`` (or ``table``) quoted part by part. A dot inside a part can be
    written by quoting that part: ``"my.schema".orders``."""
    parts = [m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)
             for m in re.finditer(r'"((?:[^"]|"")*)"|([^.]+)', name)]
    if not parts or len(parts) > 3:
        raise ConfigError(f"invalid table name {name!r}", field="table")
    return ".".join(quote_identifier(p) for p in parts)


def query_parameters(sql: str) -> list[str]:
    """Names of the ``:name`` parameters a query uses (not inside strings, not ``::`` casts)."""
    stripped = _STRING_OR_COMMENT.sub(" ", sql)
    return list(dict.fromkeys(_PARAM.findall(stripped)))


def bind_parameters(sql: str, parameters: Mapping[str, Any],
                    style: Literal["dollar", "pyformat", "qmark"]) -> tuple[str, Any]:
    """Rewrite ``:name`` placeholders (outside strings and comments, not ``::`` casts) into the
    driver's style and return the SQL with the values to bind."""
    out: list[str] = []
    values: list[Any] = []
    named: dict[str, Any] = {}
    pos = 0
    for m in _STRING_OR_COMMENT.finditer(sql + "\n"):
        out.append(_rewrite(sql[pos:m.start()], parameters, style, values, named))
        out.append(sql[m.start():min(m.end(), len(sql))])
        pos = m.end()
    out.append(_rewrite(sql[pos:], parameters, style, values, named))
    return "".join(out), (values if style == "qmark" else named)


def _rewrite(chunk: str, parameters: Mapping[str, Any], style: str, values: list[Any],
             named: dict[str, Any]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in parameters:
            raise ConfigError(f"the query uses :{name}, but no such parameter was given",
                              field="query")
        if style == "qmark":
            values.append(parameters[name])
            return "?"
        named[name] = parameters[name]
        return f"${name}" if style == "dollar" else f"%({name})s"

    return _PARAM.sub(repl, chunk)


def split_db_table(name: str, field: str = "table") -> tuple[str | None, str]:
    """``db.table`` or ``table`` (MySQL/ClickHouse naming); a part holding a dot is written in
    double quotes or backquotes."""
    parts = [next(g for g in m.groups() if g is not None)
             for m in re.finditer(r'"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|([^.]+)', name)]
    parts = [p.replace('""', '"').replace("``", "`") for p in parts]
    if not parts or len(parts) > 2:
        raise ConfigError(f"invalid table name {name!r}: use `table` or `database.table`", field=field)
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def bind_pyformat(sql: str, parameters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``:name`` -> ``%(name)s`` for drivers that escape each value themselves (PyMySQL,
    clickhouse-driver); literal ``%`` are doubled."""
    text, values = bind_parameters(sql.replace("%", "%%"), parameters, style="pyformat")
    return text, dict(values)


def check_query_or_table(query: str | None, table: str | None, *, table_options_used: bool,
                         table_options: str, split: Callable[[str], object]) -> None:
    """The rule every SQL-database extractor config shares: a query or a table, never both;
    options that only make sense for a table; a table name that parses."""
    if (query is None) == (table is None):
        raise ValueError("give either `query` or `table`")
    if query is not None and table_options_used:
        raise ValueError(f"{table_options} go with `table`, not with `query`")
    if table is not None:
        try:
            split(table)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


def interval_microseconds(column: str) -> str:
    """DuckDB SQL: an INTERVAL column as its exact length in microseconds (what an Arrow
    duration holds), or an error naming the column when a value counts months, which have no
    fixed length."""
    c = quote_identifier(column)
    months = f"date_part('month', {c}) <> 0 OR date_part('year', {c}) <> 0"
    text = (f"column {column!r} holds an interval counting months or years, which has no "
            "fixed length; write it to Parquet, or turn it into days first")
    message = "'" + text.replace("'", "''") + "'"
    length = " + ".join(f"date_part('{part}', {c})::BIGINT * {scale}" for part, scale in
                        (("day", 86_400_000_000), ("hour", 3_600_000_000), ("minute", 60_000_000),
                         ("microseconds", 1)))
    return f"CASE WHEN {months} THEN error({message}) ELSE {length} END AS {c}"


def tables_read(view_sql: str, dialect: str, *, home: str | None = None) -> list[str]:
    """The tables a view's SQL (``CREATE VIEW … AS SELECT …`` or the SELECT alone) reads,
    by name (qualified when not in ``home``, the view's own database); [] when it cannot be
    parsed."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(view_sql, read=dialect)
    except Exception:
        return []
    if isinstance(tree, exp.Create) and tree.expression is not None:
        tree = tree.expression
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    found: list[str] = []
    for t in tree.find_all(exp.Table):
        if not t.name or (not t.db and t.name.lower() in ctes):
            continue
        name = t.name if not t.db or t.db == home else f"{t.db}.{t.name}"
        if name not in found:
            found.append(name)
    return found
