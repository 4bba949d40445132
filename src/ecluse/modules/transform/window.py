"""Transformer ``window``: per-row values computed over a partition of rows — ranks, row
numbers, previous/next values, running totals, moving averages — without collapsing rows.

Runs through Ibis on DuckDB (and PySpark); Ibis has no window functions on Polars, so there
the same definitions are lowered to Polars expressions (see :mod:`ecluse.sdk.native`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ecluse.sdk import (
    ConfigError,
    Inputs,
    ModuleConfig,
    NodeContext,
    Transformer,
    column_field,
    columns_field,
)
from ecluse.sdk.native import on_polars, via_polars
from ecluse.sdk.ordering import SortKey, sort_keys
from ecluse.sdk.relational import require_columns

if TYPE_CHECKING:
    import polars as pl

Function = Literal["row_number", "rank", "dense_rank", "percent_rank", "ntile", "lag", "lead",
                   "first", "last", "cumulative_sum", "cumulative_mean", "cumulative_count",
                   "moving_average", "sum", "mean", "count", "min", "max"]
_RANKING = {"row_number", "rank", "dense_rank", "percent_rank", "ntile"}
_NEEDS_ORDER = _RANKING | {"lag", "lead", "first", "last", "cumulative_sum", "cumulative_mean",
                           "cumulative_count", "moving_average"}
_NEEDS_COLUMN = {"lag", "lead", "first", "last", "cumulative_sum", "cumulative_mean",
                 "moving_average", "sum", "mean", "min", "max"}
_NUMERIC = {"cumulative_sum", "cumulative_mean", "moving_average", "sum", "mean"}
_FRAMED = {"sum", "mean", "count"}


class Frame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["rows", "range"] = Field("rows", description="rows: count rows around the "
                                           "current one; range: values of the (single, numeric) "
                                           "order column within a distance.")
    preceding: int | None = Field(None, ge=0, description="Rows (or distance) before the "
                                  "current row; unbounded when empty.")
    following: int | None = Field(0, ge=0, description="Rows (or distance) after the current "
                                  "row; unbounded when empty.")


class WindowFunction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    function: Function = Field(description="row_number, rank, dense_rank (1 = first), "
                               "percent_rank (0 to 1), ntile (bucket 1..n), lag/lead (value of "
                               "a previous/next row), first/last (of the partition), "
                               "cumulative_sum/mean/count (from the partition start to the row), "
                               "moving_average (of the last `size` rows), sum/mean/count over "
                               "the `frame` (the whole partition by default), min/max of the "
                               "partition.")
    name: str = Field(min_length=1, description="Name of the new column.")
    column: str | None = column_field("Input column (not needed for ranks and row numbers).",
                                      default=None)
    offset: int = Field(1, ge=1, description="lag/lead: how many rows back or ahead.")
    default: str | int | float | bool | None = Field(None, description="lag/lead: value when "
                                                     "there is no such row.")
    buckets: int | None = Field(None, ge=1, description="ntile: number of buckets.")
    size: int | None = Field(None, ge=1, description="moving_average: number of rows (the "
                             "current one and those before it).")

    @model_validator(mode="after")
    def _arguments(self) -> WindowFunction:
        f = self.function
        if f in _NEEDS_COLUMN and self.column is None:
            raise ValueError(f"function {f!r} needs a 'column'")
        if f == "ntile" and self.buckets is None:
            raise ValueError("function 'ntile' needs 'buckets'")
        if f == "moving_average" and self.size is None:
            raise ValueError("function 'moving_average' needs 'size'")
        return self


class WindowConfig(ModuleConfig):
    partition_by: list[str] = columns_field("Columns splitting the rows into independent groups; "
                                            "one group when empty.", default_factory=list)
    order_by: list[SortKey] = Field(default_factory=list, description="Order of rows inside a "
                                    "group (needed for ranks, lag/lead, running totals).")
    frame: Frame | None = Field(None, description="Rows around the current one that sum, mean "
                                "and count look at; the whole group when empty.")
    functions: list[WindowFunction] = Field(min_length=1, description="Columns to compute.")

    @model_validator(mode="after")
    def _check(self) -> WindowConfig:
        for f in self.functions:
            if f.function in _NEEDS_ORDER and not self.order_by:
                raise ValueError(f"function {f.function!r} needs 'order_by'")
            if self.frame is not None and f.function in ("min", "max"):
                raise ValueError("min and max look at the whole group; remove 'frame' or use "
                                 "another node")
        if self.frame is not None and self.frame.type == "range" and len(self.order_by) != 1:
            raise ValueError("a range frame needs exactly one 'order_by' column")
        names = [f.name for f in self.functions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"output names must be unique; repeated: {', '.join(dupes)}")
        return self


class Window(Transformer):
    name = "window"
    title = "Window functions"
    description = "Ranks, row numbers, previous/next values, running totals per group."
    category = "Aggregation"
    icon = "view_week"
    Config = WindowConfig
    config: WindowConfig
    examples: ClassVar = (
        {"partition_by": ["carrier"], "order_by": [{"column": "dep_delay", "descending": True}],
         "functions": [{"function": "rank", "name": "delay_rank"},
                       {"function": "lag", "column": "dep_delay", "offset": 1,
                        "name": "prev_delay"}]},
        {"partition_by": ["customer_id"], "order_by": [{"column": "order_date"}],
         "functions": [{"function": "cumulative_sum", "column": "amount", "name": "running_total"},
                       {"function": "moving_average", "column": "amount", "size": 3,
                        "name": "avg_last_3"}]},
    )

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        t = inputs.one()
        require_columns(t, c.partition_by, field="partition_by")
        order = sort_keys(t, c.order_by, field="order_by")
        for f in c.functions:
            if f.column is not None:
                require_columns(t, [f.column], field="functions")
                ctype = t[f.column].type()
                if f.function in _NUMERIC and not isinstance(ctype, dt.Numeric | dt.Boolean):
                    raise ConfigError(f"{f.function} needs a numeric column; {f.column!r} is "
                                      f"{ctype}", field="functions")
            if f.name in t.columns:
                raise ConfigError(f"the input already has a column {f.name!r}; choose another "
                                  "name", field="functions")
        if c.frame is not None and c.frame.type == "range":
            otype = t[c.order_by[0].column].type()
            if not isinstance(otype, dt.Numeric):
                raise ConfigError(f"a range frame needs a numeric order column; "
                                  f"{c.order_by[0].column!r} is {otype}", field="frame")
        expected = t.mutate(**{f.name: self._ibis(t, f, order) for f in c.functions})
        if on_polars(ctx, t):
            return via_polars(ctx, t, expected, self._polars)
        return expected

    # -- Ibis (DuckDB, PySpark, SQL engines)

    def _ibis(self, t: ir.Table, f: WindowFunction, order: list[ir.Value]) -> ir.Value:
        c = self.config
        part = c.partition_by
        w = ibis.window(group_by=part, order_by=order)
        col: Any = t[f.column] if f.column else None
        match f.function:
            case "row_number":
                return (ibis.row_number().over(w) + 1).cast("int64")
            case "rank":
                return (ibis.rank().over(w) + 1).cast("int64")
            case "dense_rank":
                return (ibis.dense_rank().over(w) + 1).cast("int64")
            case "percent_rank":
                return ibis.percent_rank().over(w).cast("float64")
            case "ntile":
                return (ibis.ntile(f.buckets).over(w) + 1).cast("int64")
            case "lag" | "lead":
                default = None if f.default is None else ibis.literal(f.default).cast(col.type())
                shifted = col.lag(f.offset, default) if f.function == "lag" else col.lead(
                    f.offset, default)
                return shifted.over(w)  # type: ignore[no-any-return]
            case "first" | "last":
                whole = ibis.window(group_by=part, order_by=order, rows=(None, None))
                # The value of the first/last row even when it is null: wrapped in a struct,
                # which is never null (Ibis compiles FIRST/LAST on Spark with IGNORE NULLS).
                boxed: Any = ibis.struct({"v": col})
                edge = boxed.first() if f.function == "first" else boxed.last()
                return edge.over(whole)["v"]  # type: ignore[no-any-return]
            case "cumulative_sum" | "cumulative_mean" | "cumulative_count":
                running = ibis.window(group_by=part, order_by=order, rows=(None, 0))
                if f.function == "cumulative_count":
                    return (col.count() if col is not None else t.count()).over(running).cast("int64")  # type: ignore[no-any-return]
                agg = col.sum() if f.function == "cumulative_sum" else col.mean()
                return _numeric_result(agg.over(running), f.function, col.type())
            case "moving_average":
                assert f.size is not None
                trailing = ibis.window(group_by=part, order_by=order, rows=(1 - f.size, 0))
                return col.mean().over(trailing).cast("float64")  # type: ignore[no-any-return]
            case "min" | "max":
                whole = ibis.window(group_by=part)
                return (col.min() if f.function == "min" else col.max()).over(whole)  # type: ignore[no-any-return]
        # sum, mean, count over the frame
        frame = self._ibis_frame(order)
        if f.function == "count":
            counted = col.count() if col is not None else t[t.columns[0]].isnull().count()
            return counted.over(frame).cast("int64")  # type: ignore[no-any-return]
        agg = col.sum() if f.function == "sum" else col.mean()
        return _numeric_result(agg.over(frame), f.function, col.type())

    def _ibis_frame(self, order: list[ir.Value]) -> Any:
        c = self.config
        if c.frame is None:
            return ibis.window(group_by=c.partition_by)
        p, f = c.frame.preceding, c.frame.following
        bounds = (None if p is None else -p, f)
        if c.frame.type == "rows":
            return ibis.window(group_by=c.partition_by, order_by=order, rows=bounds)
        return ibis.window(group_by=c.partition_by, order_by=order, range=bounds)

    # -- Polars

    def _polars(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        import polars as pl

        c = self.config
        part = list(c.partition_by)
        keys = [k.column for k in c.order_by]
        directions = {(k.descending, k.nulls) for k in c.order_by}
        ranged = c.frame is not None and c.frame.type == "range"
        if part and keys and len(directions) == 1 and not ranged:
            # Order inside each group only (no global sort): Polars sorts group by group.
            ((descending, nulls),) = directions
            order: dict[str, Any] = {"order_by": keys, "descending": descending,
                                     "nulls_last": nulls == "last"}
        else:
            order = {}
            if part or keys:
                frame = frame.sort(
                    part + keys, descending=[False] * len(part) + [k.descending
                                                                   for k in c.order_by],
                    nulls_last=[True] * len(part) + [k.nulls == "last" for k in c.order_by],
                    maintain_order=True)

        def over(e: pl.Expr) -> pl.Expr:
            return e.over(part, **order) if part else e

        idx, new, n = "__ecluse_idx", "__ecluse_new", "__ecluse_n"
        helpers = [over(pl.int_range(pl.len(), dtype=pl.Int64)).alias(idx),
                   over(pl.len().cast(pl.Int64)).alias(n)]
        frame = frame.with_columns(helpers)
        if keys:
            changed = [pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys]
            frame = frame.with_columns(
                (over(pl.any_horizontal(changed)) | (pl.col(idx) == 0)).alias(new))
        rank = over(pl.when(pl.col(new)).then(pl.col(idx) + 1).otherwise(None).forward_fill())
        exprs: list[pl.Expr] = []
        for f in c.functions:
            col = pl.col(f.column) if f.column else None
            e: pl.Expr
            match f.function:
                case "row_number":
                    e = pl.col(idx) + 1
                case "rank":
                    e = rank
                case "dense_rank":
                    e = over(pl.col(new).cast(pl.Int64).cum_sum())
                case "percent_rank":
                    e = pl.when(pl.col(n) > 1).then((rank - 1) / (pl.col(n) - 1)).otherwise(0.0)
                case "ntile":
                    k = f.buckets or 1
                    q, r = pl.col(n) // k, pl.col(n) % k
                    big = r * (q + 1)
                    e = pl.when(pl.col(idx) < big).then(pl.col(idx) // (q + 1)).otherwise(
                        (pl.col(idx) - big) // pl.max_horizontal(q, 1) + r) + 1
                case "lag" | "lead":
                    assert col is not None
                    step = f.offset if f.function == "lag" else -f.offset
                    e = over(col.shift(step, fill_value=f.default) if f.default is not None
                             else col.shift(step))
                case "first" | "last":
                    assert col is not None
                    e = over(col.first() if f.function == "first" else col.last())
                case "min" | "max":
                    assert col is not None
                    e = over(col.min() if f.function == "min" else col.max())
                case "cumulative_sum" | "cumulative_mean" | "cumulative_count":
                    e = _pl_running(f, col, over)
                case "moving_average":
                    assert col is not None and f.size is not None
                    e = _pl_rows_frame("mean", col, f.size - 1, 0, over)
                case _:
                    e = self._pl_framed(f, col, over)
            exprs.append(e.alias(f.name))
        return frame.with_columns(exprs)

    def _pl_framed(self, f: WindowFunction, col: pl.Expr | None, over: Any) -> pl.Expr:
        import polars as pl

        c = self.config
        value = col if col is not None else _ones()
        if c.frame is None:
            agg = {"sum": value.sum(), "mean": value.mean(), "count": value.count()}[f.function]
            e = over(agg)
            if f.function == "sum":
                e = pl.when(over(value.count()) > 0).then(e)
            return e  # type: ignore[no-any-return]
        if c.frame.type == "rows":
            return _pl_rows_frame(f.function, value, c.frame.preceding, c.frame.following, over)
        if c.frame.following not in (0,) or c.frame.preceding is None:
            raise ConfigError("on the polars engine a range frame looks back only: set "
                              "'preceding' to a number and 'following' to 0 (or use duckdb)",
                              field="frame")
        by = c.order_by[0].column
        if c.order_by[0].descending:
            raise ConfigError("on the polars engine a range frame needs an ascending order",
                              field="frame")
        window = f"{c.frame.preceding + 1}i"
        kw: dict[str, Any] = {"by": pl.col(by), "window_size": window, "closed": "right"}
        # Rows without an order value are peers of each other, as in SQL.
        null_group = [*part_of(c), pl.col(by).is_null()]
        missing = pl.col(by).is_null()
        total = pl.when(missing).then(value.fill_null(0).sum().over(null_group)).otherwise(
            over(value.fill_null(0).rolling_sum_by(**kw)))
        count = pl.when(missing).then(value.is_not_null().cast(pl.Int64).sum().over(null_group)
                                      ).otherwise(over(value.is_not_null().cast(pl.Int64)
                                                       .rolling_sum_by(**kw)))
        if f.function == "count":
            return count
        if f.function == "sum":
            return pl.when(count > 0).then(total)
        return pl.when(count > 0).then(total / count)


def part_of(c: WindowConfig) -> list[Any]:
    import polars as pl

    return [pl.col(p) for p in c.partition_by]


def _numeric_result(value: ir.Value, function: str, source: dt.DataType) -> ir.Value:
    if function.endswith("mean"):
        return value.cast("float64")
    return value


def _pl_running(f: WindowFunction, col: pl.Expr | None, over: Any) -> pl.Expr:
    import polars as pl

    value = col if col is not None else _ones()
    count = over(value.is_not_null().cast(pl.Int64).cum_sum())
    if f.function == "cumulative_count":
        return count  # type: ignore[no-any-return]
    total = over(value.fill_null(0).cum_sum())
    if f.function == "cumulative_sum":
        return pl.when(count > 0).then(total)
    return pl.when(count > 0).then(total / count)


def _pl_rows_frame(function: str, value: pl.Expr, preceding: int | None, following: int | None,
                   over: Any) -> pl.Expr:
    """sum/mean/count over ROWS BETWEEN p PRECEDING AND f FOLLOWING, from running sums."""
    import polars as pl

    def window_total(e: pl.Expr) -> pl.Expr:
        running = e.cum_sum()
        upper = running.shift(-following).fill_null(running.last()) if following is not None \
            else running.last()
        lower = running.shift(preceding + 1).fill_null(0) if preceding is not None else pl.lit(0)
        return over(upper - lower)  # type: ignore[no-any-return]

    count = window_total(value.is_not_null().cast(pl.Int64))
    if function == "count":
        return count
    total = window_total(value.fill_null(0))
    if function == "sum":
        return pl.when(count > 0).then(total)
    return pl.when(count > 0).then(total.cast(pl.Float64) / count)


def _ones() -> pl.Expr:
    """1 on every row (a column, so rolling functions see one value per row)."""
    import polars as pl

    return (pl.col("__ecluse_n") > -1).cast(pl.Int64)
