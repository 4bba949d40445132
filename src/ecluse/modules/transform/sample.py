"""Transformer ``sample``: keep a random share (or number) of rows, repeatably with a seed."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import ibis
import ibis.expr.types as ir
from pydantic import Field, model_validator

from ecluse.sdk import Inputs, ModuleConfig, NodeContext, Transformer
from ecluse.sdk.native import on_polars, via_polars

if TYPE_CHECKING:
    import polars as pl

_BUCKETS = 1_000_003


class SampleConfig(ModuleConfig):
    fraction: float | None = Field(None, gt=0, le=1, description="Share of rows to keep "
                                   "(0.1 = about 10 %).")
    n: int | None = Field(None, ge=0, description="Exact number of rows to keep (instead of a "
                          "fraction).")
    seed: int = Field(0, description="The same seed gives the same sample of the same data "
                      "on the same engine.")

    @model_validator(mode="after")
    def _one(self) -> SampleConfig:
        if (self.fraction is None) == (self.n is None):
            raise ValueError("give either 'fraction' or 'n'")
        return self


class Sample(Transformer):
    name = "sample"
    title = "Sample"
    description = "Keep a random, repeatable share or number of rows."
    category = "Cleaning"
    icon = "casino"
    Config = SampleConfig
    config: SampleConfig
    examples: ClassVar = ({"fraction": 0.1, "seed": 42}, {"n": 1000})

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        t = inputs.one()
        # A hash of the row number and the seed: repeatable on every engine (Polars has no
        # seeded sampling), and it never materialises the data.
        key = "__ecluse_sample"
        numbered = t.mutate(**{key: ibis.row_number()})
        scored = numbered.mutate(**{key: ((numbered[key] + c.seed * 7919).hash() % _BUCKETS).abs()})
        if c.fraction is not None:
            out = scored.filter(scored[key] < int(c.fraction * _BUCKETS))
        else:
            out = scored.order_by([key]).limit(c.n)
        out = out.drop(key)
        if on_polars(ctx, t):
            return via_polars(ctx, t, out, self._polars)
        return out

    def _polars(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        import polars as pl

        c = self.config
        key = "__ecluse_sample"
        score = ((pl.col(key).cast(pl.Int64) + c.seed * 7919).hash(seed=0) % _BUCKETS)
        scored = frame.with_row_index(key).with_columns(score.alias(key))
        if c.fraction is not None:
            return scored.filter(pl.col(key) < int(c.fraction * _BUCKETS))
        return scored.sort(key).head(c.n or 0)
