"""Lowering a relation directly to the engine when Ibis cannot express it there, and Python
batch functions as UDFs each engine runs one Arrow batch at a time.

Ibis 12's Polars backend has no window functions at all (``row_number``, ``rank``, ``lag``,
running sums... raise ``OperationNotDefinedError``). Modules that need them build the Ibis
expression as usual (it gives the design-time schema, and runs on DuckDB and PySpark), and
on the Polars engine hand the same work to Polars lazily: the input relation is compiled to a
``LazyFrame`` (no execution), Polars expressions are added, and the frame is registered back
as an Ibis table with exactly the schema of the Ibis expression.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

if TYPE_CHECKING:
    import ibis.expr.datatypes as dt
    import polars as pl
    import pyarrow as pa

    from ecluse.sdk.context import NodeContext

_names = itertools.count()


def engine_of(ctx: NodeContext, table: ir.Table | None = None) -> str | None:
    """The engine that will run ``table`` (the run's engine, or a warehouse the engine pushes
    the chain down to); None for unbound tables at design time."""
    if table is not None:
        with contextlib.suppress(Exception):  # an unbound table: the run's engine
            return str(table._find_backend(use_default=False).name)
    backend = getattr(ctx, "backend", None)
    return getattr(backend, "name", None)


def on_polars(ctx: NodeContext, table: ir.Table | None = None) -> bool:
    return engine_of(ctx, table) == "polars"


def via_polars(ctx: NodeContext, table: ir.Table, expected: ir.Table,
               build: Callable[[pl.LazyFrame], pl.LazyFrame]) -> ir.Table:
    """Run ``build`` on ``table`` as a Polars LazyFrame and give the result back as an Ibis
    table whose schema is exactly ``expected``'s (columns cast to its types, in its order)."""
    import polars as pl

    con: Any = table._find_backend(use_default=False)
    frame: pl.LazyFrame = con.compile(table)
    out = build(frame)
    schema = expected.schema()
    out = out.select([pl.col(name).cast(dtype.to_polars()) for name, dtype in schema.items()])
    name = f"_ecluse_native_{ctx.node_id}_{next(_names)}"
    con.create_table(name, out)
    return con.table(name)  # type: ignore[no-any-return]


def batch_udf(ctx: NodeContext, table: ir.Table, fn: Callable[[pa.Array], pa.Array], *,
              name: str, output: dt.DataType) -> Callable[[ir.Value], ir.Value]:
    """An Ibis scalar UDF of one text column that hands ``fn`` whole Arrow batches.

    DuckDB and Polars run Ibis's pyarrow UDFs batch by batch. On Spark Ibis turns those into
    row-at-a-time Python UDFs, so there the batch goes through a pandas UDF (Arrow-backed)."""
    import ibis
    import ibis.expr.datatypes as dt

    signature = ((dt.string,), output)
    engine = engine_of(ctx, table)
    if engine == "pyspark":
        import pyarrow as pa

        def on_pandas(values: Any) -> Any:  # a pandas Series in and out
            return fn(pa.Array.from_pandas(values, type=pa.string())).to_pandas()

        return ibis.udf.scalar.pandas(on_pandas, name=name, signature=signature)  # type: ignore[no-any-return]
    # null_handling: DuckDB hands nulls to the function, which may return nulls.
    config = {"null_handling": "special"} if engine == "duckdb" else {}
    return ibis.udf.scalar.pyarrow(fn, name=name, signature=signature, **config)  # type: ignore[no-any-return]
