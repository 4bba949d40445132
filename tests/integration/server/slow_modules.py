"""Test-only modules joining the catalog through ``extra_modules``: an extractor that
streams batches and waits at a gate file (a run held mid-flight, without timing games)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa
from pydantic import Field

from ecluse.sdk import Extractor, ModuleConfig, NodeContext
from ecluse.sdk.errors import RunCancelled


class GatedConfig(ModuleConfig):
    batches: int = Field(3, ge=1)
    rows_per_batch: int = Field(10, ge=1)
    gate: str | None = Field(None, description="While this file exists, the stream waits "
                             "after its first batch.")
    fail_marker: str | None = Field(None, description="While this file exists, the read fails.")
    stubborn: bool = Field(False, description="Ignore cancellation at the gate (a run stuck "
                           "where the engine cannot interrupt it).")


class Gated(Extractor):
    name = "gated"
    title = "Gated test stream"
    description = "Streams numbered rows; waits while a gate file exists (tests only)."
    category = "Tests"
    Config = GatedConfig
    config: GatedConfig

    def read(self, ctx: NodeContext) -> ir.Table:
        c = self.config
        if c.fail_marker and Path(c.fail_marker).exists():
            raise RuntimeError("the source is down (fail marker present)")
        schema = pa.schema([("n", pa.int64())])

        def batches() -> Iterator[pa.RecordBatch]:
            done = 0
            for b in range(c.batches):
                if b == 1 and c.gate:
                    ctx.log("waiting at the gate", gate=c.gate)
                    while Path(c.gate).exists():
                        if ctx.cancel.cancelled and not c.stubborn:
                            raise RunCancelled
                        time.sleep(0.05)
                start = b * c.rows_per_batch
                done += c.rows_per_batch
                yield pa.record_batch([pa.array(range(start, start + c.rows_per_batch),
                                                pa.int64())], schema=schema)
                ctx.progress(done)

        if ctx.mode != "run":
            return ctx.backend.from_arrow(pa.table({"n": pa.array([0], pa.int64())}),
                                          name=f"gated_{ctx.node_id}")
        reader = pa.RecordBatchReader.from_batches(schema, batches())
        return ctx.backend.from_arrow(reader, name=f"gated_{ctx.node_id}")
