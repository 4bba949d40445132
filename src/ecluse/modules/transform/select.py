"""Transformer ``select``: choose, order or drop columns."""

from __future__ import annotations

from typing import ClassVar

import ibis.expr.types as ir
from pydantic import model_validator

from ecluse.sdk import Inputs, ModuleConfig, NodeContext, Transformer, columns_field
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.relational import require_columns


class SelectConfig(ModuleConfig):
    columns: list[str] = columns_field(
        "Columns to keep, in this order. Leave empty to keep every column but those in "
        "`exclude`.", default_factory=list)
    exclude: list[str] = columns_field("Columns to drop.", default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> SelectConfig:
        if not self.columns and not self.exclude:
            raise ValueError("give the columns to keep ('columns') or to drop ('exclude')")
        dupes = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if dupes:
            raise ValueError(f"columns listed twice: {', '.join(dupes)}")
        return self


class Select(Transformer):
    name = "select"
    title = "Select columns"
    description = "Keep, reorder or drop columns."
    category = "Cleaning"
    icon = "view_column"
    Config = SelectConfig
    config: SelectConfig
    examples: ClassVar = ({"columns": ["carrier", "origin", "dest", "dep_delay"]},
                          {"exclude": ["internal_id"]})

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        t = inputs.one()
        require_columns(t, c.columns, field="columns")
        require_columns(t, c.exclude, field="exclude")
        keep = [col for col in (c.columns or t.columns) if col not in c.exclude]
        if not keep:
            raise ConfigError("no column would be left", field="exclude")
        return t.select(*keep)
