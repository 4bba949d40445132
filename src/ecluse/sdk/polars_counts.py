"""Distinct counts on the Polars engine skip nulls, as DuckDB's ``count(DISTINCT x)`` and every
database's do: Ibis translates them to Polars' ``n_unique``, which counts null as one more value
(a group of nulls gave 1 instead of 0)."""

from __future__ import annotations

from typing import Any

import ibis.expr.operations as ops
import polars as pl
from ibis.backends.polars.compiler import translate


@translate.register(ops.CountDistinct)  # type: ignore[untyped-decorator]
def _count_distinct(op: ops.CountDistinct, **kw: Any) -> pl.Expr:
    arg = translate(op.arg, **kw)
    if op.where is not None:
        arg = arg.filter(translate(op.where, **kw))
    return arg.drop_nulls().n_unique()  # type: ignore[no-any-return]
