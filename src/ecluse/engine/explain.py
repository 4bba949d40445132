"""What a run would do, without running it: per loader, either the SQL pushed down into a
warehouse (and the nodes it covers) or the query the engine executes."""

from __future__ import annotations

from typing import Any

from ecluse.engine.design import DesignOptions, DesignSession
from ecluse.engine.plan import Plan
from ecluse.engine.pushdown import find_pushdowns
from ecluse.sdk.module import Loader


def explain(plan: Plan, options: DesignOptions | None = None) -> list[dict[str, Any]]:
    session = DesignSession(plan, options or DesignOptions(), "run", None)
    warehouses: dict[str, Any] = {}
    refused: dict[str, str] = {}
    try:
        pushdowns = find_pushdowns(plan, session.context, warehouses, refused)
        out: list[dict[str, Any]] = []
        engine_loaders = [pn for pn in plan.nodes
                          if isinstance(pn.module, Loader) and pn.id not in pushdowns]
        built = session.build([n for pn in engine_loaders for n in plan.upstream(pn.id)],
                              stop_on_error=True) if engine_loaders else None
        for pn in plan.nodes:
            if not isinstance(pn.module, Loader):
                continue
            if pn.id in pushdowns:
                out.append({"mode": "pushdown", **pushdowns[pn.id].to_dict()})
            elif built is not None:
                out.append({"mode": "engine", "loader": pn.id, "engine": plan.engine,
                            "nodes": [n.id for n in plan.upstream(pn.id)],
                            "sql": str(session.backend.con.compile(built.output(pn.id, "in"))),
                            **({"note": refused[pn.id]} if pn.id in refused else {})})
        return out
    finally:
        for con in warehouses.values():
            con.disconnect()
        session.close()
