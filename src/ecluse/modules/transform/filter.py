"""Transformer ``filter``: keep the rows where an SQL condition holds."""

from __future__ import annotations

from typing import ClassVar

import ibis.expr.types as ir

from ecluse.sdk import Inputs, ModuleConfig, NodeContext, Transformer, expression_field
from ecluse.sdk.expressions import compile_expression


class FilterConfig(ModuleConfig):
    condition: str = expression_field(
        "Rows where this condition is true are kept (rows where it is false or null are "
        "dropped). SQL syntax: comparisons, AND/OR/NOT, IN, BETWEEN, IS NULL, LIKE, arithmetic "
        "and functions such as lower(), year(), round().", min_length=1,
        examples=["dep_delay > 15 AND origin IN ('JFK', 'LGA')"])


class Filter(Transformer):
    name = "filter"
    title = "Filter rows"
    description = "Keep the rows matching a condition, e.g. amount > 100 AND country = 'FR'."
    category = "Cleaning"
    icon = "filter_alt"
    Config = FilterConfig
    config: FilterConfig
    examples: ClassVar = ({"condition": "dep_delay > 15 AND origin IN ('JFK', 'LGA')"},
                          {"condition": "email IS NOT NULL AND lower(country) <> 'test'"})

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        t = inputs.one()
        return t.filter(compile_expression(self.config.condition, t, field="condition",
                                           boolean=True))
