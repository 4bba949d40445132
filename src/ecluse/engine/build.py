"""Turn plan nodes into lazy relations, in order. Shared by runs, schemas and previews."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import ibis.expr.types as ir

from ecluse.engine.backends.base import EngineBackend, WatchedStream
from ecluse.engine.blame import as_node_error, blame
from ecluse.engine.plan import Plan, PlanNode
from ecluse.sdk.context import NodeContext
from ecluse.sdk.errors import EcluseError, NodeError
from ecluse.sdk.module import Extractor, Inputs, Loader, Transformer


@dataclass
class BuiltGraph:
    outputs: dict[tuple[str, str], ir.Table] = field(default_factory=dict)
    """(node id, output port) -> relation; a loader's entry is its input, under port 'in'."""
    errors: dict[str, NodeError] = field(default_factory=dict)
    contexts: dict[str, NodeContext] = field(default_factory=dict)
    streams: list[WatchedStream] = field(default_factory=list)
    """The one-shot streams the extractors bound, each with its node."""
    one_shot: set[tuple[str, str]] = field(default_factory=set)
    """Outputs that read a one-shot stream when they are executed."""

    def output(self, node_id: str, port: str = "out") -> ir.Table:
        return self.outputs[(node_id, port)]


def build_graph(plan: Plan, nodes: list[PlanNode], backend: EngineBackend,
                make_context: Callable[[PlanNode], NodeContext], *, materialize_fanout: bool,
                stop_on_error: bool) -> BuiltGraph:
    built = BuiltGraph()
    for pn in nodes:
        failed_inputs = [src for sources in pn.inputs.values() for src, _ in sources
                         if src in built.errors]
        if failed_inputs:
            built.errors[pn.id] = NodeError(pn.id, f"its input {failed_inputs[0]!r} has an error")
            continue
        ctx = make_context(pn)
        ctx.upstream = {port: [src for src, _ in sources] for port, sources in pn.inputs.items()}
        built.contexts[pn.id] = ctx
        try:
            _build_node(pn, built, backend, ctx, materialize_fanout)
        except Exception as exc:
            error = as_node_error(pn.id, exc)
            if materialize_fanout:  # a run: the relation may have been executed (a fan-out)
                error = blame(plan, built, pn.id, error)
            if stop_on_error:
                raise error from exc
            built.errors[pn.id] = error
    return built


def _build_node(pn: PlanNode, built: BuiltGraph, backend: EngineBackend, ctx: NodeContext,
                materialize_fanout: bool) -> None:
    module = pn.module
    one_shot = any(src in built.one_shot for sources in pn.inputs.values() for src in sources)
    # a transform that executes its input more than once would find a stream empty the second time
    rereads = one_shot and isinstance(module, Transformer) and (
        module.queries_input or len(module.outputs) > 1 or module.scans_an_input_twice(ctx))

    def inputs_of(materialized: bool) -> dict[str, list[ir.Table]]:
        return {port: [backend.materialize(built.outputs[src])
                       if materialized and src in built.one_shot else built.outputs[src]
                       for src in sources] for port, sources in pn.inputs.items()}

    inputs = inputs_of(rereads)
    one_shot = one_shot and not rereads
    if isinstance(module, Extractor):
        streams_before = len(backend.streams)
        table = module.read(ctx)
        bound = backend.streams[streams_before:]
        for stream in bound:
            stream.node_id = pn.id
        built.streams.extend(bound)
        one_shot = one_shot or bool(bound)
        if ctx.sample_rows is not None:
            table = table.limit(ctx.sample_rows)
        results: Mapping[str, ir.Table] = {"out": table}
    elif isinstance(module, Transformer):
        produced = module.transform(Inputs(inputs), ctx)
        if one_shot and _reads_twice(produced, [built.outputs[src] for sources in
                                                pn.inputs.values() for src in sources
                                                if src in built.one_shot]):
            # its query scans a stream twice (an unpivot's union of selects...): the second
            # scan would find it empty
            produced = module.transform(Inputs(inputs_of(True)), ctx)
            one_shot = False
        results = {"out": produced} if isinstance(produced, ir.Table) else produced
        missing = {p.name for p in module.outputs} - set(results)
        if missing:
            raise EcluseError(f"the module produced no output for {sorted(missing)}")
    elif isinstance(module, Loader):
        table = Inputs(inputs).one("in")
        module.check(table, ctx)
        results = {"in": table}
    else:
        raise EcluseError(f"unknown module kind {type(module).__name__}")
    for port, table in results.items():
        # A file scan is cheap to read twice; a stream or a chain of transforms is not.
        costly = one_shot or isinstance(module, Transformer)
        if materialize_fanout and pn.consumers > 1 and costly:
            table = backend.materialize(table)
        elif one_shot:
            built.one_shot.add((pn.id, port))
        built.outputs[(pn.id, port)] = table


def _reads_twice(produced: ir.Table | Mapping[str, ir.Table], streams: list[ir.Table]) -> bool:
    """Whether ``produced`` (a single output: a transform with several gets its streams
    materialised up front) is built on one of ``streams`` in more than one place, each such
    place being a scan of it."""
    from collections import Counter

    import ibis.expr.operations as ops
    from ibis.common.graph import Graph

    if not isinstance(produced, ir.Table):
        return False
    targets = {stream.op() for stream in streams}
    scans = Counter(child for node, children in Graph.from_bfs(produced.op()).items()
                    if isinstance(node, ops.Relation) for child in set(children) & targets)
    return any(n > 1 for n in scans.values())
