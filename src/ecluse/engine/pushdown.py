"""ELT pushdown: when a loader and every extractor upstream of it name the same warehouse,
and every transform between them is portable, the engine runs the chain inside that
database as SQL. No row leaves it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir

from ecluse.engine.blame import describe_exception
from ecluse.engine.plan import Plan, PlanNode
from ecluse.sdk.context import NodeContext
from ecluse.sdk.module import Extractor, Inputs, Loader, Transformer


@dataclass
class Pushdown:
    loader_id: str
    warehouse: str
    node_ids: list[str]
    """Every node run inside the warehouse (extractors, transforms and the loader)."""
    sql: str
    table: ir.Table
    con: Any
    contexts: dict[str, NodeContext]

    def to_dict(self) -> dict[str, Any]:
        return {"loader": self.loader_id, "warehouse": self.warehouse, "nodes": self.node_ids,
                "sql": self.sql}


def find_pushdowns(plan: Plan, make_context: Callable[[PlanNode], NodeContext],
                   connections: dict[str, Any], refused: dict[str, str]) -> dict[str, Pushdown]:
    """Pushdowns for the plan's loaders; ``connections`` caches one warehouse per key. A chain
    that could run in its warehouse but fails to compile, or that the server refuses, is left
    to the engine: why goes into ``refused`` under its loader's id."""
    found: dict[str, Pushdown] = {}
    for loader in plan.nodes:
        if isinstance(loader.module, Loader):
            try:
                pushdown = _try(plan, loader, make_context, connections)
            except Exception as exc:  # pushdown is an optimisation: the engine runs the chain
                refused[loader.id] = f"ELT pushdown not possible: {describe_exception(exc)}"
                continue
            if pushdown is not None:
                found[loader.id] = pushdown
    return found


def _try(plan: Plan, loader: PlanNode, make_context: Callable[[PlanNode], NodeContext],
         connections: dict[str, Any]) -> Pushdown | None:
    nodes = plan.upstream(loader.id)
    contexts = {pn.id: make_context(pn) for pn in nodes}
    module = loader.module
    assert isinstance(module, Loader)
    key = module.warehouse_key(contexts[loader.id])
    if key is None or not any(isinstance(pn.module, Transformer) for pn in nodes):
        return None  # a plain copy streams, so its column types follow the engine's mapping
    for pn in nodes:
        if isinstance(pn.module, Extractor):
            if pn.module.warehouse_key(contexts[pn.id]) != key:
                return None
        elif isinstance(pn.module, Transformer) and (
                not pn.module.pushdown or len(pn.module.outputs) != 1):
            return None
    if key not in connections:
        connections[key] = module.open_warehouse(contexts[loader.id])
    con = connections[key]
    relations: dict[tuple[str, str], ir.Table] = {}
    for pn in nodes:
        ctx = contexts[pn.id]
        ctx.upstream = {port: [src for src, _ in sources] for port, sources in pn.inputs.items()}
        inputs = {port: [relations[src] for src in sources] for port, sources in pn.inputs.items()}
        if isinstance(pn.module, Extractor):
            table = pn.module.warehouse_relation(con, ctx)
            if table is None:
                return None
            relations[(pn.id, "out")] = table
        elif isinstance(pn.module, Transformer):
            produced = pn.module.transform(Inputs(inputs), ctx)
            outputs = {"out": produced} if isinstance(produced, ir.Table) else dict(produced)
            relations.update({(pn.id, port): t for port, t in outputs.items()})
    (source,) = loader.inputs["in"]
    table = relations[source]
    sql = str(con.compile(table))
    if (probe := getattr(con, "probe", None)) is not None:
        probe(sql)  # the server's own check: an old version may lack a function
    return Pushdown(loader.id, key, [pn.id for pn in nodes], sql, table, con, contexts)
