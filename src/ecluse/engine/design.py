"""Design time: the output schema of every node without running the pipeline, and a preview
of one node computed on a sample."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecluse.engine.backends import connect_backend
from ecluse.engine.blame import as_node_error, blame
from ecluse.engine.build import BuiltGraph, build_graph
from ecluse.engine.plan import Plan, PlanNode
from ecluse.engine.run import close_shared
from ecluse.engine.state import MemoryStateStore
from ecluse.sdk.connections import ConnectionResolver, EnvConnections
from ecluse.sdk.context import CancelToken, Mode, NodeContext, StateStore
from ecluse.sdk.errors import NodeError
from ecluse.sdk.module import Loader
from ecluse.sdk.types import type_name

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_SAMPLE_ROWS = 10_000


@dataclass
class DesignOptions:
    connections: ConnectionResolver = field(default_factory=EnvConnections)
    state: StateStore = field(default_factory=MemoryStateStore)
    base_dir: Path = field(default_factory=Path.cwd)
    pipeline_id: str | None = None


@dataclass
class NodeSchema:
    node_id: str
    columns: list[tuple[str, str]] | None
    """(name, type name) per column; None when the node has an error or no output."""
    error: NodeError | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node_id": self.node_id, "columns": None, "error": None}
        if self.columns is not None:
            out["columns"] = [{"name": n, "type": t} for n, t in self.columns]
        if self.error is not None:
            out["error"] = {"message": self.error.reason, "field": self.error.field}
        return out


class DesignSession:
    """A throwaway engine for one design-time request."""

    def __init__(self, plan: Plan, options: DesignOptions, mode: Mode, sample_rows: int | None):
        self.plan, self.options, self.mode, self.sample_rows = plan, options, mode, sample_rows
        self.dir = Path(tempfile.mkdtemp(prefix="ecluse-design-"))
        (self.dir / "spill").mkdir()
        self.backend = connect_backend(plan.engine, work_dir=self.dir)
        self.pipeline_id = options.pipeline_id or plan.pipeline.id or plan.pipeline.name
        self.built: BuiltGraph | None = None
        self.shared: dict[str, Any] = {}

    def context(self, pn: PlanNode) -> NodeContext:
        return NodeContext(
            run_id=f"design-{uuid.uuid4().hex[:8]}", pipeline_id=self.pipeline_id, node_id=pn.id,
            backend=self.backend, parameters=self.plan.parameters,
            connections=self.options.connections, mode=self.mode, work_dir=self.dir / pn.id,
            cancel=CancelToken(), previous_state=self.options.state.get(self.pipeline_id, pn.id),
            shared=self.shared,
            sample_rows=self.sample_rows, base_dir=self.options.base_dir,
            artifacts_dir=self.dir / pn.id / "artifacts")

    def build(self, nodes: list[PlanNode], *, stop_on_error: bool) -> BuiltGraph:
        self.built = build_graph(self.plan, nodes, self.backend, self.context,
                                 materialize_fanout=False, stop_on_error=stop_on_error)
        return self.built

    def close(self) -> None:
        """Let every module release what it opened, then drop the throwaway engine."""
        self.backend.release_streams()
        for node_id, ctx in (self.built.contexts if self.built else {}).items():
            with contextlib.suppress(Exception):
                self.plan.node(node_id).module.finish(ctx, succeeded=True)
        self.backend.close()
        close_shared(self.shared)
        shutil.rmtree(self.dir, ignore_errors=True)


def node_schemas(plan: Plan, options: DesignOptions | None = None) -> dict[str, NodeSchema]:
    """Schema of each node's main output (a loader: what it receives)."""
    session = DesignSession(plan, options or DesignOptions(), "schema", None)
    try:
        built = session.build(plan.nodes, stop_on_error=False)
        out = {}
        for pn in plan.nodes:
            if pn.id in built.errors:
                out[pn.id] = NodeSchema(pn.id, None, built.errors[pn.id])
                continue
            port = "in" if isinstance(pn.module, Loader) else pn.module.outputs[0].name
            schema = built.output(pn.id, port).schema()
            out[pn.id] = NodeSchema(pn.id, [(n, type_name(t)) for n, t in schema.items()])
        return out
    finally:
        session.close()


def preview_node(plan: Plan, node_id: str, *, limit: int = 50, offset: int = 0,
                 port: str | None = None, sample_rows: int = DEFAULT_SAMPLE_ROWS,
                 options: DesignOptions | None = None) -> pa.Table:
    """The rows at ``node_id`` computed from a sample of each source; raises NodeError."""
    target = plan.node(node_id)
    session = DesignSession(plan, options or DesignOptions(), "preview", sample_rows)
    try:
        built = session.build(plan.upstream(node_id), stop_on_error=True)
        if port is None:
            port = "in" if isinstance(target.module, Loader) else target.module.outputs[0].name
        table = built.output(node_id, port)
        try:
            if offset:
                return session.backend.to_arrow(table.limit(limit, offset=offset))
            return session.backend.to_arrow(table, limit=limit)
        except Exception as exc:
            raise blame(plan, built, node_id, as_node_error(node_id, exc)) from exc
    finally:
        session.close()
