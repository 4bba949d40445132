"""Helpers for modules that build Ibis expressions: column checks with clear messages,
struct flattening."""

from __future__ import annotations

from collections.abc import Iterable

import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from ecluse.sdk.errors import ConfigError
from ecluse.sdk.suggest import closest


def require_columns(table: ir.Table, columns: Iterable[str], *, field: str) -> None:
    """Raise a ConfigError naming every missing column at once, with a "did you mean"."""
    have = list(table.columns)
    missing = list(dict.fromkeys(c for c in columns if c not in have))
    if not missing:
        return
    near = {column: closest(column, have) for column in missing}
    if len(missing) == 1:
        [(column, found)] = near.items()
        hint = f"did you mean {found!r}?" if found else f"columns are: {', '.join(have)}"
        raise ConfigError(f"column {column!r} does not exist in the input; {hint}", field=field)
    guesses = [f"{found!r} for {column!r}" for column, found in near.items() if found]
    hint = (f"did you mean {', '.join(guesses)}?" if len(guesses) == len(missing)
            else f"columns are: {', '.join(have)}")
    raise ConfigError(f"columns {', '.join(map(repr, missing))} do not exist in the input; {hint}",
                      field=field)


def flatten_structs(table: ir.Table, separator: str = "_") -> ir.Table:
    """Replace every struct column by its fields (``customer.email`` -> ``customer_email``),
    recursively. Lists stay lists. A flattened name that another column already has is an
    error naming both, the ``separator`` setting being the way out."""
    while any(isinstance(t, dt.Struct) for t in table.schema().values()):
        exprs: list[ir.Value] = []
        for name, dtype in table.schema().items():
            col = table[name]
            if isinstance(dtype, dt.Struct):
                exprs.extend(col[f].name(f"{name}{separator}{f}") for f in dtype.names)  # type: ignore[index]
            else:
                exprs.append(col)
        names = [e.get_name() for e in exprs]
        if clash := next((n for n in names if names.count(n) > 1), None):
            raise ConfigError(f"flattening nested objects makes two columns named {clash!r} "
                              f"(a field and a nested one joined by {separator!r}); choose "
                              "another separator", field="separator")
        table = table.select(*exprs)
    return table


def is_text(dtype: dt.DataType) -> bool:
    return isinstance(dtype, dt.String)
