"""SQL text helpers shared by database modules: quoting identifiers, binding ``:name``
parameters as real placeholders (values never enter the SQL text)."""

from __future__ import annotations

import re
from collections.abc import Mapping
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
