"""Compile: validate the document, migrate and parse each node's config, order the graph."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Any

from ecluse.sdk.connections import ConnectionResolver
from ecluse.sdk.module import Module
from ecluse.sdk.registry import Registry
from ecluse.spec.document import Node, Pipeline, coerce_parameter
from ecluse.spec.problems import Problem, pointer
from ecluse.spec.validate import DocumentInvalid, parse_pipeline


@dataclass
class PlanNode:
    node: Node
    module: Module
    inputs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Input port -> [(upstream node id, upstream output port)], in edge order."""
    consumers: int = 0

    @property
    def id(self) -> str:
        return self.node.id


@dataclass
class Plan:
    pipeline: Pipeline
    nodes: list[PlanNode]
    """In an order where every node comes after its inputs."""
    engine: str
    parameters: dict[str, Any]

    def node(self, node_id: str) -> PlanNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def upstream(self, node_id: str) -> list[PlanNode]:
        """``node_id`` and every node it depends on, in execution order."""
        wanted = {node_id}
        for n in reversed(self.nodes):
            if n.id in wanted:
                wanted.update(src for sources in n.inputs.values() for src, _ in sources)
        return [n for n in self.nodes if n.id in wanted]


def compile_pipeline(raw: Any, registry: Registry, *, connections: ConnectionResolver | None = None,
                     engine: str | None = None, parameters: Mapping[str, Any] | None = None) -> Plan:
    pipeline = raw if isinstance(raw, Pipeline) else parse_pipeline(
        raw, registry, connections=connections, engine=engine)
    if isinstance(raw, Pipeline):
        pipeline = parse_pipeline(raw.model_dump(mode="json"), registry, connections=connections,
                                  engine=engine)
    values = resolve_parameters(pipeline, parameters or {})
    by_id: dict[str, PlanNode] = {}
    for node in pipeline.nodes:
        cls = registry.get(node.type, node.module)
        assert cls is not None  # validated
        config = dict(node.config)
        if node.module_version is not None and node.module_version < cls.version:
            config = cls.migrate(config, node.module_version)
        by_id[node.id] = PlanNode(node, cls(cls.parse_config(config), node.id))
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in pipeline.edges:
        target = by_id[edge.target]
        source = by_id[edge.source]
        in_port = edge.target_handle or target.module.inputs[0].name
        out_port = edge.source_handle or source.module.outputs[0].name
        target.inputs.setdefault(in_port, []).append((edge.source, out_port))
        source.consumers += 1
        graph[edge.target].add(edge.source)
    order = list(TopologicalSorter({n: graph.get(n, set()) for n in by_id}).static_order())
    return Plan(pipeline, [by_id[n] for n in order], engine or pipeline.engine or "duckdb", values)


def resolve_parameters(pipeline: Pipeline, given: Mapping[str, Any]) -> dict[str, Any]:
    problems = []
    for name in given:
        if name not in pipeline.parameters:
            known = ", ".join(pipeline.parameters) or "none"
            problems.append(Problem(pointer("parameters", name), f"The run gives the parameter "
                                    f"{name!r}, which the pipeline does not define (defined: {known}).",
                                    "unknown_parameter"))
    values: dict[str, Any] = {}
    for name, spec in pipeline.parameters.items():
        raw = given.get(name, spec.default)
        if raw is None:
            problems.append(Problem(pointer("parameters", name), f"The parameter {name!r} has no "
                                    "default; give it a value for this run.", "missing_parameter"))
            continue
        try:
            values[name] = coerce_parameter(name, spec, raw)
        except ValueError as exc:
            problems.append(Problem(pointer("parameters", name), str(exc), "bad_parameter"))
    if problems:
        raise DocumentInvalid(problems)
    return values
