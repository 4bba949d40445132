"""Run a compiled plan: build the relations, let every loader write, then commit state."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ecluse.engine.backends import connect_backend
from ecluse.engine.backends.base import EngineBackend
from ecluse.engine.blame import as_node_error, blame
from ecluse.engine.build import BuiltGraph, build_graph
from ecluse.engine.events import RunEvent
from ecluse.engine.jsonable import json_value, public_value
from ecluse.engine.plan import Plan, PlanNode
from ecluse.engine.pushdown import Pushdown, find_pushdowns
from ecluse.engine.state import MemoryStateStore
from ecluse.sdk.connections import ConnectionResolver, EnvConnections
from ecluse.sdk.context import CancelToken, NodeContext, StateStore
from ecluse.sdk.errors import EcluseError, NodeError, RunCancelled
from ecluse.sdk.module import Extractor, Loader, Transformer

NodeStatus = Literal["pending", "running", "succeeded", "failed", "cancelled", "skipped"]


@dataclass
class RunOptions:
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    pipeline_id: str | None = None
    connections: ConnectionResolver = field(default_factory=EnvConnections)
    state: StateStore = field(default_factory=MemoryStateStore)
    cancel: CancelToken = field(default_factory=CancelToken)
    on_event: Callable[[RunEvent], None] | None = None
    memory_limit: str | None = None
    threads: int | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    pushdown: bool = True
    """Run chains between an extractor and a loader on the same warehouse inside it."""
    data_dir: Path = field(default_factory=lambda: Path(".ecluse"))
    """Run artifacts (quarantined rows) go to ``data_dir/runs/<run id>/<node id>``."""


@dataclass
class NodeMetrics:
    node_id: str
    module: str
    status: NodeStatus = "pending"
    rows_in: int | None = None
    rows_out: int | None = None
    rows_rejected: int | None = None
    bytes_written: int | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "module": self.module, "status": self.status,
                "rows_in": self.rows_in, "rows_out": self.rows_out,
                "rows_rejected": self.rows_rejected, "bytes_written": self.bytes_written,
                "duration_s": self.duration_s,
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "error": self.error, "extra": {k: public_value(v) for k, v in self.extra.items()}}


@dataclass
class RunResult:
    run_id: str
    status: Literal["succeeded", "failed", "cancelled"]
    nodes: dict[str, NodeMetrics]
    started_at: dt.datetime
    finished_at: dt.datetime
    error: NodeError | None = None

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        err = None
        if self.error is not None:
            err = {"node_id": self.error.node_id, "message": self.error.reason,
                   "cause": _cause(self.error), "field": self.error.field,
                   "sample_rows": [json_value(row) for row in self.error.sample_rows]}
        return {"run_id": self.run_id, "status": self.status, "duration_s": self.duration_s,
                "started_at": self.started_at.isoformat(), "finished_at": self.finished_at.isoformat(),
                "nodes": {k: m.to_dict() for k, m in self.nodes.items()}, "error": err}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Run:
    def __init__(self, plan: Plan, options: RunOptions) -> None:
        self.plan = plan
        self.options = options
        self.pipeline_id = options.pipeline_id or plan.pipeline.id or plan.pipeline.name
        self.metrics = {pn.id: NodeMetrics(pn.id, pn.node.module) for pn in plan.nodes}
        self.shared: dict[str, Any] = {}
        self.written: frozenset[str] = frozenset()
        self.loaders_of: dict[str, list[str]] = {pn.id: [] for pn in plan.nodes}
        """Node id -> the loaders it feeds (computed once: the run consults it per node)."""
        for pn in plan.nodes:
            if isinstance(pn.module, Loader):
                for up in plan.upstream(pn.id):
                    self.loaders_of[up.id].append(pn.id)
        self._lock = threading.Lock()

    def emit(self, kind: Any, node_id: str | None = None, **data: Any) -> None:
        if self.options.on_event is not None:
            self.options.on_event(RunEvent(kind, self.options.run_id, node_id, data))

    def make_context(self, backend: EngineBackend, work_dir: Path) -> Callable[[PlanNode], NodeContext]:
        def factory(pn: PlanNode) -> NodeContext:
            node_dir = work_dir / "nodes" / pn.id
            return NodeContext(
                run_id=self.options.run_id, pipeline_id=self.pipeline_id, node_id=pn.id,
                backend=backend, parameters=self.plan.parameters,
                connections=self.options.connections, mode="run", work_dir=node_dir,
                cancel=self.options.cancel, base_dir=self.options.base_dir,
                artifacts_dir=work_dir.parent / pn.id,
                previous_state=self.options.state.get(self.pipeline_id, pn.id), shared=self.shared,
                written=self.written,
                on_progress=lambda node_id, rows: self.emit("node_progress", node_id, rows=rows),
                on_log=lambda node_id, level, msg, fields: self.emit(
                    "log", node_id, level=level, message=msg, **fields))
        return factory

    def start(self, pn: PlanNode) -> None:
        m = self.metrics[pn.id]
        if m.status == "pending":
            m.status, m.started_at = "running", _now()
            self.emit("node_started", pn.id, module=pn.node.module)

    def finish(self, pn: PlanNode, status: NodeStatus, error: str | None = None) -> None:
        m = self.metrics[pn.id]
        if m.status != "running":
            return
        m.status, m.finished_at, m.error = status, _now(), error
        kind = "node_finished" if status == "succeeded" else "node_failed"
        self.emit(kind, pn.id, status=status, **{k: v for k, v in m.to_dict().items()
                                                 if k not in ("node_id", "status")})


def _cause(error: NodeError) -> str | None:
    """What the library said, in full, when the message is only its first line."""
    if error.cause is None or isinstance(error.cause, EcluseError):
        return None
    text = str(error.cause).strip()
    if not text or text == error.reason:
        return None
    return f"{type(error.cause).__name__}: {text[:2000]}"


def run_pipeline(plan: Plan, options: RunOptions | None = None) -> RunResult:
    """Run every loader of the plan. Never raises for a node failure: the result says it."""
    options = options or RunOptions()
    run = _Run(plan, options)
    started = _now()
    run.emit("run_started", engine=plan.engine, parameters={k: public_value(v) for k, v in
                                                             plan.parameters.items()})
    root = options.data_dir.absolute() / "runs" / options.run_id
    work_dir = root / "work"
    (work_dir / "spill").mkdir(parents=True, exist_ok=True)
    backend = connect_backend(plan.engine, work_dir=work_dir, memory_limit=options.memory_limit,
                              threads=options.threads)
    unhook = options.cancel.on_cancel(backend.interrupt)
    error: NodeError | None = None
    status: Literal["succeeded", "failed", "cancelled"] = "succeeded"
    contexts: dict[str, NodeContext] = {}
    warehouses: dict[str, Any] = {}
    try:
        options.cancel.raise_if_cancelled()
        factory = run.make_context(backend, work_dir)
        run.written = _written(run, factory)
        pushdowns = _pushdowns(run, factory, warehouses) if options.pushdown else {}
        needed = {n.id for pn in plan.nodes if isinstance(pn.module, Loader)
                  and pn.id not in pushdowns for n in plan.upstream(pn.id)}
        built = build_graph(plan, [pn for pn in plan.nodes if pn.id in needed], backend, factory,
                            materialize_fanout=True, stop_on_error=True)
        contexts.update(built.contexts)
        for pd in pushdowns.values():
            contexts.update({k: v for k, v in pd.contexts.items() if k not in contexts})
        for pn in plan.nodes:
            if not isinstance(pn.module, Loader):
                continue
            options.cancel.raise_if_cancelled()
            if pn.id in pushdowns:
                _load(run, pn, pushdowns[pn.id].table, contexts[pn.id], pushdown=pushdowns[pn.id])
            else:
                _load(run, pn, built.output(pn.id, "in"), contexts[pn.id], built=built)
    except RunCancelled:
        status = "cancelled"
    except NodeError as exc:
        status, error = ("cancelled", None) if options.cancel.cancelled else ("failed", exc)
    except Exception as exc:  # a bug outside any node: still a clean, recorded failure
        status, error = "failed", as_node_error("", exc)
    finally:
        unhook()
        for con in warehouses.values():
            con.disconnect()
    succeeded = status == "succeeded"
    backend.release_streams()
    _finish_modules(run, contexts, succeeded)
    close_shared(run.shared)
    for pn in plan.nodes:
        if error is not None and error.node_id == pn.id and run.metrics[pn.id].status == "pending":
            run.start(pn)  # it failed while its relation was built (a validator's check)
        if run.metrics[pn.id].status == "running":
            run.finish(pn, _final_status(status, error, pn.id),
                       error.reason if error and error.node_id == pn.id else None)
        elif run.metrics[pn.id].status == "pending":
            run.metrics[pn.id].status = "skipped"
    if succeeded:
        _save_states(run, contexts, backend)
    backend.close()
    shutil.rmtree(work_dir, ignore_errors=True)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    result = RunResult(options.run_id, status, run.metrics, started, _now(), error)
    run.emit("run_finished", status=status, duration_s=result.duration_s,
             error=result.to_dict()["error"])
    return result


def _save_states(run: _Run, contexts: Mapping[str, NodeContext], backend: EngineBackend) -> None:
    """Save the incremental positions the run staged, but for a source upstream of a `limit` or
    whose stream was not read to its end: its position is past rows the run did not load."""
    unread = {s.node_id for s in backend.streams if not s.read_to_end} | {
        up.id for pn in run.plan.nodes if isinstance(pn.module, Transformer)
        and pn.module.keeps_first_rows for up in run.plan.upstream(pn.id)}
    for node_id, ctx in contexts.items():
        if ctx.staged_state is None:
            continue
        if node_id in unread:
            run.emit("log", node_id, level="warning", message=(
                "the run stopped reading this source before its end or dropped rows by position "
                "(a limit downstream): its incremental position is not saved, so the next run "
                "reads the same rows again"))
        else:
            run.options.state.put(run.pipeline_id, node_id, ctx.staged_state)


def _final_status(run_status: NodeStatus, error: NodeError | None, node_id: str) -> NodeStatus:
    """A node still running when another node failed was stopped, not failed itself."""
    if run_status == "failed" and error is not None and error.node_id not in ("", node_id):
        return "cancelled"
    return run_status


def _written(run: _Run, factory: Callable[[PlanNode], NodeContext]) -> frozenset[str]:
    """The databases the run's loaders write (see ``NodeContext.written``), known before any
    node opens one."""
    keys = set()
    for pn in run.plan.nodes:
        if isinstance(pn.module, Loader):
            with contextlib.suppress(Exception):  # a loader's own error is its node's to report
                keys.add(pn.module.warehouse_key(factory(pn)))
    return frozenset(k for k in keys if k is not None)


def _pushdowns(run: _Run, factory: Callable[[PlanNode], NodeContext],
               warehouses: dict[str, Any]) -> dict[str, Pushdown]:
    refused: dict[str, str] = {}
    found = find_pushdowns(run.plan, factory, warehouses, refused)
    for loader_id, why in refused.items():
        run.emit("log", loader_id, level="warning", message=f"{why}; the engine runs the chain")
    for pd in found.values():
        run.emit("log", pd.loader_id, level="info",
                 message=f"nodes {', '.join(pd.node_ids)} run inside {pd.warehouse}", sql=pd.sql)
    return found


def _load(run: _Run, pn: PlanNode, table: Any, ctx: NodeContext, *,
          built: BuiltGraph | None = None, pushdown: Pushdown | None = None) -> None:
    """Run one loader (on the engine's ``built`` graph, or ``pushdown`` in a warehouse); every
    node upstream of it is running while it writes."""
    upstream = run.plan.upstream(pn.id)
    for up in upstream:
        run.start(up)
    t0 = time.perf_counter()
    module = pn.module
    assert isinstance(module, Loader)
    try:
        if pushdown is not None:
            result = module.write_in_warehouse(table, pushdown.con, ctx)
            for node_id in pushdown.node_ids:
                run.metrics[node_id].extra["pushed_down"] = pushdown.warehouse
        else:
            result = module.write(table, ctx)
    except Exception as exc:
        if ctx.cancel.cancelled:  # the loader stopped because the run was cancelled
            run.finish(pn, "cancelled")
            raise RunCancelled from exc
        error = as_node_error(pn.id, exc)
        if built is not None:
            error = blame(run.plan, built, pn.id, error)
        if error.node_id == pn.id:
            run.finish(pn, "failed", error.reason)
        else:
            run.finish(pn, "cancelled", f"node {error.node_id!r} upstream failed")
        raise error from exc
    m = run.metrics[pn.id]
    m.rows_in = m.rows_out = result.rows_written
    m.bytes_written = result.bytes_written
    m.extra.update({"location": result.location, "rows_inserted": result.rows_inserted,
                    "rows_updated": result.rows_updated, "rows_deleted": result.rows_deleted,
                    "load_seconds": round(time.perf_counter() - t0, 3), **result.extra})
    m.extra = {k: v for k, v in m.extra.items() if v is not None}
    scans = None if pushdown is not None else ctx.backend.last_scan_rows
    sources = [up for up in upstream if isinstance(up.module, Extractor)]
    if scans is not None and len(scans) == 1 and len(sources) == 1:
        run.metrics[sources[0].id].rows_out = scans[0]
    run.finish(pn, "succeeded")
    for up in upstream:
        if up.id != pn.id and all(run.metrics[d].status != "pending" for d in run.loaders_of[up.id]):
            run.finish(up, "succeeded")
    _fill_edge_rows(run, pn)


def _fill_edge_rows(run: _Run, loader: PlanNode) -> None:
    """Carry known counts along edges: a node's rows in are its single input's rows out."""
    for sources in loader.inputs.values():
        for src, _ in sources:
            m = run.metrics[src]
            if m.rows_out is None:
                m.rows_out = run.metrics[loader.id].rows_in
    for pn in run.plan.nodes:
        edges = [src for sources in pn.inputs.values() for src, _ in sources]
        if len(edges) == 1 and run.metrics[pn.id].rows_in is None:
            run.metrics[pn.id].rows_in = run.metrics[edges[0]].rows_out


def close_shared(shared: dict[str, Any]) -> None:
    for resource in shared.values():
        with contextlib.suppress(Exception):
            resource.close()
    shared.clear()


def _finish_modules(run: _Run, contexts: Mapping[str, NodeContext], succeeded: bool) -> None:
    for pn in run.plan.nodes:
        if pn.id not in contexts:
            continue
        ctx = contexts[pn.id]
        try:
            pn.module.finish(ctx, succeeded=succeeded)
        except Exception as exc:  # reporting must never turn a good run bad
            run.emit("log", pn.id, level="warning", message=f"finishing failed: {exc}")
        m = run.metrics[pn.id]
        for key, value in ctx.metrics.items():
            if hasattr(m, key) and key not in ("node_id", "module", "status"):
                setattr(m, key, value)
            else:
                m.extra[key] = value
