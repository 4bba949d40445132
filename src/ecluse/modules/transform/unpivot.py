"""Transformer ``unpivot``: turn columns into rows (wide -> long)."""

from __future__ import annotations

from typing import ClassVar

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from pydantic import Field, model_validator

from ecluse.sdk import ConfigError, Inputs, ModuleConfig, NodeContext, Transformer, columns_field
from ecluse.sdk.relational import require_columns
from ecluse.sdk.types import type_name


class UnpivotConfig(ModuleConfig):
    index: list[str] = columns_field("Columns kept on every output row.", default_factory=list)
    columns: list[str] = columns_field("Columns turned into rows; every column not in `index` "
                                       "when empty.", default_factory=list)
    names_to: str = Field("variable", min_length=1, description="Name of the new column holding "
                          "the former column names.")
    values_to: str = Field("value", min_length=1, description="Name of the new column holding "
                           "the values.")
    drop_nulls: bool = Field(False, description="Leave out rows whose value is null.")

    @model_validator(mode="after")
    def _check(self) -> UnpivotConfig:
        if set(self.index) & set(self.columns):
            raise ValueError("a column cannot be both in 'index' and in 'columns'")
        if self.names_to == self.values_to:
            raise ValueError("'names_to' and 'values_to' must differ")
        return self


class Unpivot(Transformer):
    name = "unpivot"
    title = "Unpivot"
    description = "Turn columns into rows (wide to long)."
    category = "Aggregation"
    icon = "table_rows"
    Config = UnpivotConfig
    config: UnpivotConfig
    examples: ClassVar = ({"index": ["carrier"], "columns": ["JFK", "LGA", "EWR"],
                           "names_to": "origin", "values_to": "mean_delay"},)

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        t = inputs.one()
        require_columns(t, c.index, field="index")
        require_columns(t, c.columns, field="columns")
        melt = c.columns or [col for col in t.columns if col not in c.index]
        if not melt:
            raise ConfigError("no column left to unpivot", field="columns")
        for new in (c.names_to, c.values_to):
            if new in c.index:
                raise ConfigError(f"the index already has a column {new!r}", field="names_to")
        types = [t[col].type() for col in melt]
        target = _common(types, melt)
        parts = [t.select(*c.index, ibis.literal(col, type="string").name(c.names_to),
                          t[col].cast(target).name(c.values_to)) for col in melt]
        out = ibis.union(*parts) if len(parts) > 1 else parts[0]
        if c.drop_nulls:
            out = out.filter(out[c.values_to].notnull())
        return out


def _common(types: list[dt.DataType], names: list[str]) -> dt.DataType:
    first = types[0]
    if all(t.copy(nullable=True) == first.copy(nullable=True) for t in types):
        return first
    if all(isinstance(t, dt.Numeric) for t in types):
        return dt.highest_precedence(types)
    listed = ", ".join(f"{n} ({type_name(t)})" for n, t in zip(names, types, strict=True))
    raise ConfigError(f"the columns to unpivot have different types: {listed}; cast them to one "
                      "type first", field="columns")
