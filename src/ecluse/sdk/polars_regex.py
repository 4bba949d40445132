"""Regular-expression replacements on the Polars engine, with DuckDB's replacement syntax.

A replacement is written as for DuckDB's ``regexp_replace`` (RE2): ``\\0``-``\\9`` name groups,
``\\\\`` is a backslash, a backslash before anything else is dropped, ``$`` is literal. Polars
(Rust's regex) reads ``$1`` / ``${1}`` instead, so Ibis' translation would write ``\\1``
literally and take a ``$`` for a group. The replacement is rewritten once, when the query is
compiled.
"""

from __future__ import annotations

import re
from typing import Any

import ibis.expr.operations as ops
import polars as pl
from ibis.backends.polars.compiler import regex_replace, translate

_REWRITE = re.compile(r"\\(\d)|\\(\\)|\\.?|\$", re.DOTALL)


def _polars_replacement(rewrite: str) -> tuple[str, int]:
    """A DuckDB replacement in Polars' syntax, and the highest group it names (-1 if none)."""
    groups = [-1]

    def token(m: re.Match[str]) -> str:
        if m.group(1):
            groups.append(int(m.group(1)))
            return f"${{{m.group(1)}}}"
        if m.group(2):
            return "\\"
        return "$$" if m.group(0) == "$" else ""

    return _REWRITE.sub(token, rewrite), max(groups)


def _group_count(pattern: str) -> int | None:
    try:
        return re.compile(pattern).groups
    except re.error:  # RE2 syntax Python lacks (\pL...): let Polars judge
        return None


@translate.register(ops.RegexReplace)  # type: ignore[untyped-decorator]
def _regex_replace(op: ops.RegexReplace, **kw: Any) -> pl.Expr:
    if not isinstance(op.replacement, ops.Literal):
        return regex_replace(op, **kw)  # type: ignore[no-any-return]
    replacement, highest = _polars_replacement(op.replacement.value)
    arg = translate(op.arg, **kw)
    if isinstance(op.pattern, ops.Literal):
        groups = _group_count(op.pattern.value)
        if groups is not None and highest > groups:  # RE2 rewrites nothing then
            return arg  # type: ignore[no-any-return]
    return arg.str.replace_all(translate(op.pattern, **kw), replacement)  # type: ignore[no-any-return]
