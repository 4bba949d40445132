"""Design time on stored pipelines: the schema of every node, a paged preview of one, and what
a run would do where (ELT pushdown or engine, with the SQL)."""

from __future__ import annotations

from typing import Any

from ecluse.engine.design import DesignOptions, node_schemas, preview_node
from ecluse.engine.explain import explain as explain_plan
from ecluse.engine.jsonable import json_value
from ecluse.engine.plan import Plan, compile_pipeline
from ecluse.sdk.errors import NodeError
from ecluse.sdk.types import type_name
from ecluse.services import pipelines
from ecluse.services.connections import resolver
from ecluse.services.errors import Invalid, NotFound
from ecluse.services.platform import DatabaseStateStore, Platform
from ecluse.spec.validate import DocumentInvalid


def _plan(platform: Platform, document: dict[str, Any],
          parameters: dict[str, Any] | None = None) -> Plan:
    try:
        return compile_pipeline(document, platform.registry, connections=resolver(platform),
                                parameters=parameters)
    except DocumentInvalid as exc:
        raise Invalid("The pipeline has problems; fix them first.",
                      errors=[p.to_dict() for p in exc.problems]) from exc


def _options(platform: Platform, pipeline_id: str) -> DesignOptions:
    return DesignOptions(connections=resolver(platform), state=DatabaseStateStore(platform.db),
                         base_dir=platform.base_dir, pipeline_id=pipeline_id)


def schemas(platform: Platform, pipeline_id: str) -> dict[str, dict[str, Any]]:
    document, _ = pipelines.document_at(platform, pipeline_id)
    plan = _plan(platform, document)
    return {k: v.to_dict() for k, v in node_schemas(plan, _options(platform, pipeline_id)).items()}


def explain(platform: Platform, pipeline_id: str, *, version: int | None = None,
            parameters: dict[str, Any] | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Per loader of a stored pipeline (``version``, else the current one), with these run
    parameters: the nodes pushed down into a warehouse and the SQL it would run, or the query
    the engine would execute. Nothing runs."""
    document, number = pipelines.document_at(platform, pipeline_id, version)
    plan = _plan(platform, document, parameters)
    try:
        return number, explain_plan(plan, _options(platform, pipeline_id))
    except NodeError as exc:
        raise Invalid(f"Explain failed at node {exc.node_id!r}: {exc.reason}",
                      errors=[{"pointer": f"/nodes/{exc.node_id}", "detail": exc.reason,
                               "node_id": exc.node_id}]) from exc


def draft_schemas(platform: Platform, document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Schemas of a document being edited: every node that can be computed gets its columns;
    a node with a problem, and what depends on it, says which node to fix first."""
    draft, blocked = _runnable_part(platform, document)
    out: dict[str, dict[str, Any]] = {}
    if draft["nodes"]:
        plan = _plan(platform, draft)
        pipeline_id = str(document.get("id") or document.get("name") or "draft")
        out = {k: v.to_dict() for k, v in node_schemas(plan, _options(platform, pipeline_id)).items()}
    for node_id, reason in blocked.items():
        out[node_id] = {"node_id": node_id, "columns": None, "error": {"message": reason, "field": None}}
    return out


def draft_preview(platform: Platform, document: dict[str, Any], node_id: str, *, limit: int,
                  offset: int) -> dict[str, Any]:
    draft, blocked = _runnable_part(platform, document)
    if node_id in blocked:
        raise Invalid(f"Preview of {node_id!r} is not possible yet: {blocked[node_id]}",
                      errors=[{"pointer": "/nodes", "detail": blocked[node_id], "node_id": node_id}])
    pipeline_id = str(document.get("id") or document.get("name") or "draft")
    return _preview(platform, _plan(platform, draft), pipeline_id, node_id, limit=limit, offset=offset)


def _runnable_part(platform: Platform, document: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, str]]:
    """The document without its nodes that have problems (and what depends on them), and
    for each node left out, why. Settings that do not shape data (schedule...) are dropped."""
    from ecluse.spec.validate import validate_document

    keep = {"name", "engine", "parameters", "nodes", "edges", "version"}
    draft: dict[str, Any] = {k: v for k, v in document.items() if k in keep}
    draft.setdefault("name", "draft")
    nodes = [n for n in draft.get("nodes") or [] if isinstance(n, dict)]
    edges = [e for e in draft.get("edges") or [] if isinstance(e, dict)]
    blocked: dict[str, str] = {}
    for _ in range(len(nodes) + 1):
        draft = {**draft, "nodes": [n for n in nodes if n.get("id") not in blocked],
                 "edges": [e for e in edges if e.get("source") not in blocked
                           and e.get("target") not in blocked]}
        problems = [p for p in validate_document(draft, platform.registry,
                                                 connections=resolver(platform))
                    if p.severity == "error"]
        if not problems:
            return draft, blocked
        culprits = {p.node_id: p.message for p in problems if p.node_id}
        if not culprits:
            raise Invalid("The pipeline has problems; fix them first.",
                          errors=[p.to_dict() for p in problems])
        for node_id, message in culprits.items():
            blocked.setdefault(node_id, message)
        changed = True
        while changed:  # what depends on a blocked node is blocked too
            changed = False
            for e in edges:
                if e.get("source") in blocked and e.get("target") not in blocked:
                    blocked[str(e.get("target"))] = f"its input {e.get('source')!r} has a problem"
                    changed = True
    return {**draft, "nodes": [], "edges": []}, blocked


def preview(platform: Platform, pipeline_id: str, node_id: str, *, limit: int,
            offset: int) -> dict[str, Any]:
    document, _ = pipelines.document_at(platform, pipeline_id)
    return _preview(platform, _plan(platform, document), pipeline_id, node_id, limit=limit,
                    offset=offset)


def _preview(platform: Platform, plan: Plan, pipeline_id: str, node_id: str, *, limit: int,
             offset: int) -> dict[str, Any]:
    try:
        plan.node(node_id)
    except KeyError as exc:
        raise NotFound(f"Pipeline {pipeline_id!r} has no node {node_id!r}.") from exc
    try:
        table = preview_node(plan, node_id, limit=limit, offset=offset,
                             options=_options(platform, pipeline_id))
    except NodeError as exc:
        raise Invalid(f"Preview of {node_id!r} failed at node {exc.node_id!r}: {exc.reason}",
                      errors=[{"pointer": f"/nodes/{exc.node_id}", "detail": exc.reason,
                               "node_id": exc.node_id}]) from exc
    columns = [{"name": f.name, "type": _type(f.type)} for f in table.schema]
    rows = [[json_value(v) for v in row.values()] for row in table.to_pylist()]
    return {"node_id": node_id, "columns": columns, "rows": rows, "limit": limit, "offset": offset}


def _type(arrow_type: Any) -> str:
    try:
        import ibis

        return type_name(ibis.dtype(arrow_type))
    except Exception:
        return str(arrow_type)
