"""Transformer ``deduplicate``: one row per key, keeping the first or last by an order."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import ibis
import ibis.expr.types as ir
from pydantic import Field, model_validator

from ecluse.sdk import Inputs, ModuleConfig, NodeContext, Transformer, columns_field
from ecluse.sdk.native import on_polars, via_polars
from ecluse.sdk.ordering import SortKey, sort_keys
from ecluse.sdk.relational import require_columns

if TYPE_CHECKING:
    import polars as pl


class DeduplicateConfig(ModuleConfig):
    columns: list[str] = columns_field("Key columns: rows with the same values are duplicates. "
                                       "Every column when empty.", default_factory=list)
    keep: Literal["first", "last", "any", "none"] = Field(
        "first", description="Which row of a group stays: first or last by `order_by`, any one, "
        "or none (drop every row whose key is repeated).")
    order_by: list[SortKey] = Field(default_factory=list, description="Order deciding which row "
                                    "is first; needed for keep = first or last.")

    @model_validator(mode="after")
    def _order(self) -> DeduplicateConfig:
        if self.keep in ("first", "last") and not self.order_by:
            raise ValueError(f"keep = {self.keep!r} needs 'order_by' (or use keep = 'any')")
        return self


class Deduplicate(Transformer):
    name = "deduplicate"
    title = "Remove duplicates"
    description = "Keep one row per key: the first or last by a column, or any."
    category = "Cleaning"
    icon = "filter_1"
    Config = DeduplicateConfig
    config: DeduplicateConfig
    examples: ClassVar = ({"columns": ["customer_id"], "keep": "last",
                           "order_by": [{"column": "updated_at"}]},
                          {"columns": ["email"], "keep": "any"})

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        t = inputs.one()
        require_columns(t, c.columns, field="columns")
        keys = c.columns or list(t.columns)
        if on_polars(ctx, t) and c.keep != "any":
            expected = t.filter(ibis.literal(True))
            return via_polars(ctx, t, expected, lambda f: self._polars(f, keys))
        if c.keep == "any":
            return t.distinct(on=keys, keep="first") if c.columns else t.distinct()
        if c.keep == "none":
            n = "__ecluse_n"
            counted = t.mutate(**{n: t[keys[0]].isnull().count().over(group_by=keys)})
            return counted.filter(counted[n] == 1).drop(n)
        order = c.order_by
        if c.keep == "last":
            order = [k.reversed() for k in order]
        rn = "__ecluse_rn"
        ranked = t.mutate(**{rn: ibis.row_number().over(group_by=keys,
                                                        order_by=sort_keys(t, order,
                                                                           field="order_by"))})
        return ranked.filter(ranked[rn] == 0).drop(rn)

    def _polars(self, frame: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
        import polars as pl

        c = self.config
        if c.keep == "none":
            return frame.filter(pl.len().over(keys) == 1)
        order = c.order_by if c.keep == "first" else [k.reversed() for k in c.order_by]
        ordered = frame.sort([k.column for k in order], descending=[k.descending for k in order],
                             nulls_last=[k.nulls == "last" for k in order], maintain_order=True)
        return ordered.unique(subset=keys, keep="first", maintain_order=True)
