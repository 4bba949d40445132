"""Helpers for modules that build Ibis expressions: column checks with clear messages,
struct flattening."""

from __future__ import annotations

from collections.abc import Iterable

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from ecluse.sdk.errors import ConfigError
from ecluse.sdk.suggest import closest


def require_columns(table: ir.Table, columns: Iterable[str], *, field: str) -> None:
    """Raise a ConfigError naming the first missing column, with a "did you mean"."""
    have = list(table.columns)
    for column in columns:
        if column not in have:
            near = closest(column, have)
            hint = f"; did you mean {near!r}?" if near else f"; columns are: {', '.join(have)}"
            raise ConfigError(f"column {column!r} does not exist in the input{hint}", field=field)


def flatten_structs(table: ir.Table, separator: str = "_") -> ir.Table:
    """Replace every struct column by its fields (``customer.email`` -> ``customer_email``),
    recursively. Lists stay lists."""
    while any(isinstance(t, dt.Struct) for t in table.schema().values()):
        exprs: list[ir.Value] = []
        for name, dtype in table.schema().items():
            col = table[name]
            if isinstance(dtype, dt.Struct):
                exprs.extend(col[f].name(f"{name}{separator}{f}") for f in dtype.names)  # type: ignore[index]
            else:
                exprs.append(col)
        table = table.select(*exprs)
    return table


def is_text(dtype: dt.DataType) -> bool:
    return isinstance(dtype, dt.String)


@ibis.udf.scalar.builtin(name="trim")  # type: ignore[untyped-decorator]
def _sql_trim(value: str) -> str:  # type: ignore[empty-body]
    """SQL's own TRIM (surrounding spaces), which engines run much faster than a trim of a
    character set (what Ibis's ``strip()`` compiles to)."""


@ibis.udf.scalar.builtin(name="trim")  # type: ignore[untyped-decorator]
def _sql_trim_chars(value: str, chars: str) -> str:  # type: ignore[empty-body]
    """SQL's TRIM of the given characters."""


def trim_spaces(value: ir.StringValue, engine: str) -> ir.StringValue:
    """Remove surrounding U+0020 spaces, with the same result on every engine."""
    if engine == "polars":  # no SQL builtins on Polars
        from ecluse.sdk.polars_trim import TrimSpaces

        return TrimSpaces(value).to_expr()  # type: ignore[no-any-return]
    if engine == "duckdb":
        # DuckDB's one-argument TRIM also removes other Unicode spaces (U+3000, U+00A0...),
        # and copies every value: testing the ends first, then trimming only values that need
        # it, takes half the CPU on text where few values carry spaces.
        edged = value.startswith(" ") | value.endswith(" ")
        return edged.ifelse(_sql_trim_chars(value, " "), value)  # type: ignore[no-any-return]
    return _sql_trim(value)  # type: ignore[no-any-return]
