"""Transformer ``union``: stack two or more inputs, matching columns by name."""

from __future__ import annotations

import contextlib
import functools
from typing import ClassVar, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from pydantic import Field

from ecluse.sdk import ConfigError, InputPort, Inputs, ModuleConfig, NodeContext, Transformer
from ecluse.sdk.types import type_name


class UnionConfig(ModuleConfig):
    missing: Literal["null", "error"] = Field(
        "null", description="A column some inputs lack: filled with nulls in their rows, or an "
        "error.")
    distinct: bool = Field(False, description="Remove duplicate rows from the result.")


class Union(Transformer):
    name = "union"
    title = "Union"
    description = "Stack the rows of several inputs, matching columns by name."
    category = "Joins"
    icon = "merge"
    Config = UnionConfig
    config: UnionConfig
    inputs: ClassVar = (InputPort("in", min_edges=2, max_edges=None,
                                  description="Two or more inputs."),)
    examples: ClassVar = ({"missing": "null"}, {"missing": "error", "distinct": True})

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        tables = inputs.many("in")
        if len(tables) < 2:
            raise ConfigError("a union needs at least two inputs")
        columns: dict[str, list[dt.DataType]] = {}
        for t in tables:
            for name, dtype in t.schema().items():
                columns.setdefault(name, []).append(dtype)
        if self.config.missing == "error":
            for i, t in enumerate(tables, 1):
                lacking = [c for c in columns if c not in t.columns]
                if lacking:
                    raise ConfigError(f"input {i} has no column {lacking[0]!r} (other inputs "
                                      "have it); set missing to 'null' to fill it with nulls",
                                      field="missing")
        target = {name: _common(name, types) for name, types in columns.items()}
        aligned = [t.select(*[(t[c].cast(ty) if c in t.columns and t[c].type() != ty
                               else t[c] if c in t.columns else ibis.null(ty)).name(c)
                              for c, ty in target.items()]) for t in tables]
        # folded to the left, (a UNION b) UNION c: DuckDB 1.4 streaming a result (what a
        # loader reads) of a UNION (b UNION c), as ibis.union(a, b, c) nests it, loses b when
        # the inputs are one-shot streams (database extractors), and the run succeeds
        distinct = self.config.distinct
        return functools.reduce(lambda left, right: left.union(right, distinct=distinct), aligned)


def _common(name: str, types: list[dt.DataType]) -> dt.DataType:
    first = types[0]
    if all(t.copy(nullable=True) == first.copy(nullable=True) for t in types):
        return first
    if all(t.is_numeric() for t in types) or all(t.is_temporal() for t in types):
        with contextlib.suppress(Exception):  # incompatible after all: the error below
            return dt.highest_precedence(types)
    listed = ", ".join(sorted({type_name(t) for t in types}))
    raise ConfigError(f"column {name!r} has different types in the inputs ({listed}); cast it "
                      "to one type first", field="missing")
