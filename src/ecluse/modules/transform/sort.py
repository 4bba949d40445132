"""Transformer ``sort``: order rows by one or more columns."""

from __future__ import annotations

from typing import ClassVar

import ibis.expr.types as ir
from pydantic import Field

from ecluse.sdk import Inputs, ModuleConfig, NodeContext, Transformer
from ecluse.sdk.ordering import SortKey, sort_keys


class SortConfig(ModuleConfig):
    by: list[SortKey] = Field(min_length=1, description="Sort keys, most significant first.")


class Sort(Transformer):
    name = "sort"
    title = "Sort"
    description = "Order rows by one or more columns."
    category = "Cleaning"
    icon = "sort"
    Config = SortConfig
    config: SortConfig
    examples: ClassVar = ({"by": [{"column": "dep_delay", "descending": True},
                                  {"column": "carrier"}]},)

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        t = inputs.one()
        return t.order_by(sort_keys(t, self.config.by, field="by"))
