"""Ibis' ``ArrayMap`` (``array.map(lambda x: ...)``) on the Polars engine, which Ibis does not
translate: the body is evaluated per element by ``list.eval``, its parameter being
``pl.element()``. The cleaner's title case maps over the words of a value."""

from __future__ import annotations

from typing import Any

import ibis.common.exceptions as com
import ibis.expr.operations as ops
import polars as pl
from ibis.backends.polars.compiler import translate


@translate.register(ops.ArrayMap)  # type: ignore[untyped-decorator]
def _array_map(op: ops.ArrayMap, **kw: Any) -> pl.Expr:
    # Inside list.eval only the element is in reach: no other column, no outer parameter.
    if op.index is not None or op.body.find(ops.Field) \
            or any(arg != op.param for arg in op.body.find(ops.Argument)):
        raise com.OperationNotDefinedError(
            "on polars, an array map may only use its element (no index, other columns or "
            "nested maps)")
    return translate(op.arg, **kw).list.eval(translate(op.body, **kw))  # type: ignore[no-any-return]


@translate.register(ops.Argument)  # type: ignore[untyped-decorator]
def _argument(op: ops.Argument, **kw: Any) -> pl.Expr:
    return pl.element()
