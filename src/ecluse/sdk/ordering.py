"""Sort keys as users write them in configs (``{"column": "x", "descending": true}``), shared
by the sort, window and deduplicate transformers."""

from __future__ import annotations

from typing import Literal

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field

from ecluse.sdk.config import column_field
from ecluse.sdk.relational import require_columns


class SortKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    column: str = column_field("Column to sort on.")
    descending: bool = Field(False, description="Largest first.")
    nulls: Literal["first", "last"] = Field("last", description="Where rows without a value go.")

    def reversed(self) -> SortKey:
        return SortKey(column=self.column, descending=not self.descending,
                       nulls="first" if self.nulls == "last" else "last")


def sort_keys(table: ir.Table, keys: list[SortKey], *, field: str) -> list[ir.Value]:
    """Ibis sort keys for ``keys``; raises ConfigError naming a missing column."""
    require_columns(table, [k.column for k in keys], field=field)
    return [(ibis.desc if k.descending else ibis.asc)(k.column, nulls_first=k.nulls == "first")
            for k in keys]
