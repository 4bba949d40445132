"""Transformer ``pivot``: turn the values of one column into new columns (long -> wide).

The new columns are named after the pivoted values (``JFK``, ``LGA``...), with an optional
``prefix``. The values are either listed in the config, or discovered: discovery runs one
small ``SELECT DISTINCT`` query over the input (at design time too, since the output schema
depends on it), capped by ``max_values`` with a clear error past the cap.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, ClassVar, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from pydantic import Field, model_validator

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

Aggregation = Literal["sum", "mean", "count", "count_distinct", "min", "max", "first", "last"]
Scalar = str | int | float | bool


class PivotConfig(ModuleConfig):
    index: list[str] = columns_field("Columns identifying an output row (one row per distinct "
                                     "combination).", default_factory=list)
    columns: str = column_field("Column whose values become new columns.")
    values: str | list[str] = Field(description="Column(s) aggregated into the new columns.",
                                    json_schema_extra={"x-widget": "columns"})
    aggregation: Aggregation = Field("sum", description="How several values for the same cell "
                                     "are combined.")
    pivot_values: list[Scalar] | None = Field(
        None, description="The values of `columns` to turn into columns, in order. When empty "
        "they are discovered from the data (sorted), which runs a small distinct query.")
    max_values: int = Field(100, ge=1, le=10_000, description="Largest number of discovered "
                            "values; past it the node fails and asks to list them.")
    prefix: str = Field("", description="Put before each new column name, e.g. `delay_`.")

    @model_validator(mode="after")
    def _check(self) -> PivotConfig:
        if self.pivot_values is not None and not self.pivot_values:
            raise ValueError("'pivot_values' is empty; remove it to discover the values")
        values = [self.values] if isinstance(self.values, str) else self.values
        if not values:
            raise ValueError("give at least one column in 'values'")
        if self.columns in self.index or self.columns in values:
            raise ValueError("'columns' cannot also be an index or a values column")
        return self


class Pivot(Transformer):
    name = "pivot"
    title = "Pivot"
    description = "Turn the values of a column into new columns (long to wide)."
    category = "Aggregation"
    icon = "pivot_table_chart"
    Config = PivotConfig
    queries_input: ClassVar = True  # discovers the values to pivot
    config: PivotConfig
    examples: ClassVar = (
        {"index": ["carrier"], "columns": "origin", "values": "dep_delay", "aggregation": "mean"},
        {"index": ["customer_id"], "columns": "month", "values": ["amount"],
         "aggregation": "sum", "pivot_values": ["2024-01", "2024-02", "2024-03"],
         "prefix": "amount_"},
    )

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        t = inputs.one()
        values = [c.values] if isinstance(c.values, str) else list(c.values)
        require_columns(t, c.index, field="index")
        require_columns(t, [c.columns], field="columns")
        require_columns(t, values, field="values")
        key = t[c.columns]
        numeric_only = c.aggregation in ("sum", "mean")
        for v in values:
            vtype = t[v].type()
            if numeric_only and not isinstance(vtype, dt.Numeric | dt.Boolean):
                raise ConfigError(f"{c.aggregation} needs a numeric column; {v!r} is {vtype}",
                                  field="values")
        pivot_values = (list(c.pivot_values) if c.pivot_values is not None
                        else self._discover(t, ctx))
        literals = [_literal(p, key.type(), c.columns) for p in pivot_values]
        metrics: dict[str, ir.Scalar] = {}
        for raw, lit in zip(pivot_values, literals, strict=True):
            match = key.isnull() if raw is None else key == lit
            for v in values:
                name = f"{c.prefix}{_label(raw)}" + (f"_{v}" if len(values) > 1 else "")
                if name in metrics or name in c.index:
                    raise ConfigError(f"two output columns would be named {name!r}; set a "
                                      "prefix", field="prefix")
                metrics[name] = _aggregate(t[v], c.aggregation, match)
        if c.index:
            return t.group_by(c.index).aggregate(**metrics)
        return t.aggregate(**metrics)

    def _discover(self, t: ir.Table, ctx: NodeContext) -> list[Any]:
        c = self.config
        if getattr(ctx, "backend", None) is None:
            raise ConfigError("list the values to pivot ('pivot_values'): they cannot be "
                              "discovered without an engine", field="pivot_values")
        distinct = t.select(t[c.columns].name("v")).distinct()
        found = ctx.backend.to_arrow(distinct, limit=c.max_values + 1).column("v").to_pylist()
        if len(found) > c.max_values:
            raise ConfigError(f"column {c.columns!r} has more than {c.max_values} distinct values; "
                              "list the ones to pivot in 'pivot_values' or raise 'max_values'",
                              field="max_values")
        return sorted(found, key=lambda x: (x is None, str(x) if not isinstance(x, int | float)
                                            else "", x if isinstance(x, int | float) else 0))


def _literal(value: Any, dtype: dt.DataType, column: str) -> ir.Value:
    if value is None:
        return ibis.null(dtype)
    try:
        if isinstance(dtype, dt.String):
            return ibis.literal(str(value), type=dtype)
        if isinstance(dtype, dt.Date) and isinstance(value, str):
            return ibis.literal(_dt.date.fromisoformat(value), type=dtype)
        return ibis.literal(value).cast(dtype) if not isinstance(value, str) or not isinstance(
            dtype, dt.Numeric) else ibis.literal(float(value)).cast(dtype)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"pivot value {value!r} does not fit column {column!r} ({dtype})",
                          field="pivot_values") from exc


def _label(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _aggregate(col: Any, how: str, where: ir.BooleanValue) -> ir.Scalar:
    match how:
        case "sum":
            return col.sum(where=where)  # type: ignore[no-any-return]
        case "mean":
            return col.mean(where=where)  # type: ignore[no-any-return]
        case "count":
            return col.count(where=where)  # type: ignore[no-any-return]
        case "count_distinct":
            return col.nunique(where=where & col.notnull())  # type: ignore[no-any-return]
        case "min":
            return col.min(where=where)  # type: ignore[no-any-return]
        case "max":
            return col.max(where=where)  # type: ignore[no-any-return]
        case "first":
            return col.first(where=where)  # type: ignore[no-any-return]
    return col.last(where=where)  # type: ignore[no-any-return]
