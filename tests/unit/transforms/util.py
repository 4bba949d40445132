"""Shared helpers of the transformer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from ecluse.sdk.connections import StaticConnections
from ecluse.sdk.context import CancelToken, NodeContext
from ecluse.sdk.module import Inputs
from ecluse.sdk.registry import default_registry
from ecluse.sdk.types import type_name
from tests.helpers import transform_table

ENGINES = ["duckdb", "polars"]


def rows(module: str, table: pa.Table | None = None, *, engine: str,
         sort: list[str] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    out = transform_table(module, table, engine=engine, **kwargs)
    if sort:
        out = out.sort_by([(c, "ascending") for c in sort])
    return out.to_pylist()  # type: ignore[no-any-return]


def design_schema(module: str, inputs: dict[str, list[dict[str, str]]], *, port: str = "out",
                  parameters: dict[str, Any] | None = None,
                  **config: Any) -> list[tuple[str, str]]:
    """The output schema of ``module`` over unbound tables: nothing can execute."""
    cls = default_registry().get("transformer", module)
    assert cls is not None
    bound = {p: [ibis.table(s, name=f"{p}_{i}") for i, s in enumerate(ss)]
             for p, ss in inputs.items()}
    ctx = NodeContext(run_id="t", pipeline_id="t", node_id="t", backend=None,  # type: ignore[arg-type]
                      parameters=parameters or {}, connections=StaticConnections(),
                      mode="schema", work_dir=Path("/nonexistent"), cancel=CancelToken())
    produced = cls(cls.parse_config(config), "t").transform(Inputs(bound), ctx)  # type: ignore[attr-defined]
    table: ir.Table = produced if isinstance(produced, ir.Table) else produced[port]
    return [(n, type_name(t)) for n, t in table.schema().items()]
