"""Transformer ``rename``: give columns new names."""

from __future__ import annotations

from typing import ClassVar

import ibis.expr.types as ir
from pydantic import Field, field_validator

from ecluse.sdk import Inputs, ModuleConfig, NodeContext, Transformer
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.relational import require_columns


class RenameConfig(ModuleConfig):
    columns: dict[str, str] = Field(
        min_length=1, description="Current name -> new name, e.g. `{\"dep_delay\": \"delay\"}`. "
        "Other columns keep their names and order.")

    @field_validator("columns")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not v.strip() for v in value.values()):
            raise ValueError("new names cannot be empty")
        return value


class Rename(Transformer):
    name = "rename"
    title = "Rename columns"
    description = "Give columns new names."
    category = "Cleaning"
    icon = "drive_file_rename_outline"
    Config = RenameConfig
    config: RenameConfig
    examples: ClassVar = ({"columns": {"dep_delay": "delay_minutes", "carrier": "airline"}},)

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        t = inputs.one()
        mapping = self.config.columns
        require_columns(t, mapping, field="columns")
        final = [mapping.get(col, col) for col in t.columns]
        clashes = sorted({n for n in final if final.count(n) > 1})
        if clashes:
            raise ConfigError(f"two columns would be named {clashes[0]!r}; choose another new name",
                              field="columns")
        return t.select(*[t[col].name(mapping.get(col, col)) for col in t.columns])
