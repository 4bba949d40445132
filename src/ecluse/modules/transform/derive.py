"""Transformer ``derive``: add (or replace) columns computed with SQL expressions."""

from __future__ import annotations

from typing import ClassVar

import ibis.expr.types as ir
from pydantic import field_validator

from ecluse.sdk import Inputs, ModuleConfig, NodeContext, Transformer, expression_field
from ecluse.sdk.expressions import compile_expression, referenced_columns


class DeriveConfig(ModuleConfig):
    columns: dict[str, str] = expression_field(
        "New columns and the expression computing each, in order; an expression may use the "
        "columns defined before it. An existing name replaces that column in place.",
        min_length=1,
        examples=[{"delayed": "dep_delay > 15", "route": "origin || '-' || dest"}])

    @field_validator("columns")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name.strip():
                raise ValueError("column names cannot be empty")
        return value


class Derive(Transformer):
    name = "derive"
    title = "Add columns"
    description = "Compute new columns with expressions, e.g. total = price * quantity."
    category = "Cleaning"
    icon = "calculate"
    Config = DeriveConfig
    config: DeriveConfig
    examples: ClassVar = ({"columns": {"delayed": "dep_delay > 15",
                                       "route": "origin || '-' || dest"}},
                          {"columns": {"total": "round(price * quantity, 2)",
                                       "size": "CASE WHEN total > 100 THEN 'big' ELSE 'small' END"}})

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        t = inputs.one()
        pending: dict[str, ir.Value] = {}
        for name, text in self.config.columns.items():
            # An expression reading a column defined just before needs that column first.
            if pending and set(referenced_columns(text, field="columns")) & set(pending):
                t, pending = t.mutate(**pending), {}
            pending[name] = compile_expression(text, t, field="columns")
        return t.mutate(**pending)
