"""Transformer ``aggregate``: group by columns (and an optional time bucket) and compute
sums, counts, distinct counts, means, minima, maxima, first and last values."""

from __future__ import annotations

from typing import ClassVar, Literal

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
from ecluse.sdk.relational import require_columns

Function = Literal["sum", "count", "count_distinct", "mean", "min", "max", "first", "last",
                   "median", "stddev"]
_UNITS = {"hour": "h", "day": "D", "week": "W", "month": "M", "year": "Y"}


class Aggregation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    column: str | None = column_field("Input column; not needed to count rows.", default=None)
    function: Function = Field(description="sum, count, count_distinct, mean, median, stddev "
                               "(the last three as float64), min, max, first, last.")
    name: str = Field(min_length=1, description="Name of the output column.")

    @model_validator(mode="after")
    def _column_needed(self) -> Aggregation:
        if self.column is None and self.function != "count":
            raise ValueError(f"function {self.function!r} needs a 'column'")
        return self


class TimeBucket(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    column: str = column_field("Timestamp (or date) column to bucket.")
    unit: Literal["hour", "day", "week", "month", "year"]
    name: str | None = Field(None, description="Name of the bucket column; the unit by default.")


class AggregateConfig(ModuleConfig):
    group_by: list[str] = columns_field("Columns that define a group.", default_factory=list)
    time_bucket: TimeBucket | None = Field(None, description="Also group by a truncated timestamp.")
    aggregations: list[Aggregation] = Field(min_length=1, description="What to compute per group.")
    sort: bool = Field(True, description="Order the result by the group columns.")

    @model_validator(mode="after")
    def _unique_names(self) -> AggregateConfig:
        names = [a.name for a in self.aggregations] + self.group_by
        if self.time_bucket:
            names.append(self.time_bucket.name or self.time_bucket.unit)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"output column names must be unique; repeated: {', '.join(dupes)}")
        return self


class Aggregate(Transformer):
    name = "aggregate"
    title = "Aggregate"
    description = "Group rows and compute sums, counts, distinct counts, averages..."
    category = "Aggregation"
    icon = "functions"
    Config = AggregateConfig
    config: AggregateConfig
    examples: ClassVar = ({"group_by": ["country"],
                           "time_bucket": {"column": "order_ts", "unit": "month", "name": "month"},
                           "aggregations": [{"column": "amount", "function": "sum", "name": "total"},
                                            {"function": "count", "name": "orders"},
                                            {"column": "email", "function": "count_distinct",
                                             "name": "customers"}]},)

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        t = inputs.one()
        require_columns(t, c.group_by, field="group_by")
        keys: list[ir.Value] = [t[k] for k in c.group_by]
        if c.time_bucket:
            b = c.time_bucket
            require_columns(t, [b.column], field="time_bucket")
            col = t[b.column]
            if isinstance(col.type(), dt.String):
                col = col.cast("timestamp")
            elif not isinstance(col.type(), (dt.Timestamp, dt.Date)):
                raise ConfigError(f"time_bucket column {b.column!r} is {col.type()}, not a "
                                  "timestamp or date", field="time_bucket")
            keys.append(col.truncate(_UNITS[b.unit]).name(b.name or b.unit))  # type: ignore[attr-defined]
        metrics = {a.name: self._metric(t, a) for a in c.aggregations}
        out = t.group_by(keys).aggregate(**metrics) if keys else t.aggregate(**metrics)
        if c.sort and keys:
            out = out.order_by([k.get_name() for k in keys])
        return out

    @staticmethod
    def _metric(t: ir.Table, a: Aggregation) -> ir.Scalar:
        if a.column is None:
            return t.count()
        require_columns(t, [a.column], field="aggregations")
        col = t[a.column]
        numeric = isinstance(col.type(), dt.Numeric | dt.Boolean)
        if a.function in ("sum", "mean", "median", "stddev") and not numeric:
            raise ConfigError(f"{a.function} needs a numeric column; {a.column!r} is {col.type()} "
                              "(cast it first, e.g. with the cleaner)", field="aggregations")
        if a.function in ("mean", "median", "stddev") and isinstance(col.type(), dt.Decimal):
            col = col.cast("float64")  # typed as the column, the result would lose its digits
        match a.function:
            case "sum":
                return col.sum()  # type: ignore[attr-defined,no-any-return]
            case "count":
                return col.count()
            case "count_distinct":
                return col.nunique()
            case "mean":
                return col.mean()  # type: ignore[attr-defined,no-any-return]
            case "median":
                return col.median()  # type: ignore[attr-defined,no-any-return]
            case "stddev":
                return col.std()  # type: ignore[attr-defined,no-any-return]
            case "min":
                return col.min()  # type: ignore[attr-defined,no-any-return]
            case "max":
                return col.max()  # type: ignore[attr-defined,no-any-return]
            case "first":
                return col.first()
            case "last":
                return col.last()
        raise ConfigError(f"unknown function {a.function!r}", field="aggregations")
