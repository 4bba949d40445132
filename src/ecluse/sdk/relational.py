"""Helpers for modules that build Ibis expressions: column checks with clear messages,
struct flattening."""

from __future__ import annotations

from collections.abc import Iterable

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
