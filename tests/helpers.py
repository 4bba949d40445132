"""Small builders for pipeline documents in tests."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa

from ecluse.engine.backends import connect_backend
from ecluse.engine.design import DesignOptions, node_schemas, preview_node
from ecluse.engine.plan import Plan, compile_pipeline
from ecluse.engine.run import RunOptions, RunResult, run_pipeline
from ecluse.sdk.connections import StaticConnections
from ecluse.sdk.context import CancelToken, NodeContext
from ecluse.sdk.module import Inputs
from ecluse.sdk.registry import default_registry


def node(node_id: str, kind: str, module: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "module": module, "config": config}


def chain(*nodes: dict[str, Any], name: str = "test", **extra: Any) -> dict[str, Any]:
    """A linear pipeline: each node feeds the next."""
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"name": name, "nodes": list(nodes), "edges": edges, **extra}


def compile_doc(doc: dict[str, Any], **kwargs: Any) -> Plan:
    return compile_pipeline(doc, default_registry(), **kwargs)


def run_doc(doc: dict[str, Any], *, data_dir: Path | None = None, engine: str | None = None,
            parameters: dict[str, Any] | None = None, **options: Any) -> RunResult:
    plan = compile_doc(doc, engine=engine, parameters=parameters)
    opts = RunOptions(data_dir=data_dir or Path(".ecluse"), **options)
    return run_pipeline(plan, opts)


def preview(doc: dict[str, Any], node_id: str, *, engine: str | None = None,
            limit: int = 50, **kwargs: Any) -> pa.Table:
    return preview_node(compile_doc(doc, engine=engine), node_id, limit=limit, **kwargs)


def schemas(doc: dict[str, Any], *, engine: str | None = None,
            options: DesignOptions | None = None) -> dict[str, list[tuple[str, str]] | None]:
    out = node_schemas(compile_doc(doc, engine=engine), options)
    return {k: v.columns for k, v in out.items()}


def transform_table(module: str, table: pa.Table | None = None, *, engine: str = "duckdb",
                    inputs: dict[str, list[pa.Table]] | None = None, port: str = "out",
                    **config: Any) -> pa.Table:
    """Run one transformer on in-memory Arrow tables and return one output (module tests).

    ``inputs`` maps input ports to tables (a join: ``{"left": [a], "right": [b]}``);
    otherwise ``table`` arrives on the module's first input.
    """
    cls = default_registry().get("transformer", module)
    assert cls is not None, f"no transformer {module!r}"
    work = Path(tempfile.mkdtemp(prefix="ecluse-t-"))
    (work / "spill").mkdir()
    backend = connect_backend(engine, work_dir=work)
    try:
        sources = inputs or {cls.inputs[0].name: [table]}
        bound = {p: [backend.from_arrow(t, name=f"in_{p}_{i}") for i, t in enumerate(ts)]
                 for p, ts in sources.items()}
        ctx = NodeContext(run_id="test", pipeline_id="test", node_id="t", backend=backend,
                          parameters={}, connections=StaticConnections(), mode="run",
                          work_dir=work, cancel=CancelToken())
        produced = cls(cls.parse_config(config), "t").transform(Inputs(bound), ctx)  # type: ignore[attr-defined]
        result = produced if isinstance(produced, ir.Table) else produced[port]
        return backend.to_arrow(result)
    finally:
        backend.close()


def state_set(data_dir: Path, *args: str) -> Any:
    """``ecluse state set ARGS`` as a user types it, on the states kept under ``data_dir`` (give
    the run the store ``FileStateStore(data_dir / "state")``); the CLI's result."""
    from typer.testing import CliRunner

    from ecluse.cli import app
    from ecluse.settings import get_settings

    get_settings.cache_clear()  # settings are read once a process: these, then the usual ones
    try:
        return CliRunner().invoke(app, ["state", "set", *args],
                                  env={"ECLUSE_DATA_DIR": str(data_dir)})
    finally:
        get_settings.cache_clear()

