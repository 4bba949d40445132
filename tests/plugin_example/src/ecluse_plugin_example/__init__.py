"""A third-party transformer: adds a column holding a constant."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from pydantic import Field

from ecluse.sdk import Inputs, ModuleConfig, NodeContext, Transformer


class AddConstantConfig(ModuleConfig):
    column: str = Field(description="Name of the new column.")
    value: str = Field(description="Its value on every row.")


class AddConstant(Transformer):
    name = "add_constant"
    title = "Add a constant column"
    description = "Add a column holding the same text on every row."
    category = "Plugins"
    Config = AddConstantConfig
    config: AddConstantConfig

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        return inputs.one().mutate(**{self.config.column: ibis.literal(self.config.value)})
