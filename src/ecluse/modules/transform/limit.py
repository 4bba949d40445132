"""Transformer ``limit``: keep the first rows."""

from __future__ import annotations

from typing import ClassVar

import ibis.expr.types as ir
from pydantic import Field

from ecluse.sdk import Inputs, ModuleConfig, NodeContext, Transformer


class LimitConfig(ModuleConfig):
    n: int = Field(ge=0, description="How many rows to keep.")
    offset: int = Field(0, ge=0, description="Rows to skip first.")


class Limit(Transformer):
    name = "limit"
    title = "Limit"
    description = "Keep the first N rows (sort first for a stable choice)."
    category = "Cleaning"
    icon = "vertical_align_top"
    Config = LimitConfig
    config: LimitConfig
    examples: ClassVar = ({"n": 100}, {"n": 10, "offset": 20})
    keeps_first_rows = True

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        return inputs.one().limit(self.config.n, offset=self.config.offset)
