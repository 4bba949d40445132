"""Design time on stored pipelines: the schema of every node, a paged preview of one."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import uuid
from typing import Any

from ecluse.engine.design import DesignOptions, node_schemas, preview_node
from ecluse.engine.plan import Plan, compile_pipeline
from ecluse.sdk.errors import NodeError
from ecluse.sdk.types import type_name
from ecluse.services import pipelines
from ecluse.services.connections import resolver
from ecluse.services.errors import Invalid, NotFound
from ecluse.services.platform import DatabaseStateStore, Platform
from ecluse.spec.validate import DocumentInvalid


def _plan(platform: Platform, document: dict[str, Any]) -> Plan:
    try:
        return compile_pipeline(document, platform.registry, connections=resolver(platform))
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


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID, dt.timedelta)):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _cell(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cell(v) for v in value]
    return str(value)


def preview(platform: Platform, pipeline_id: str, node_id: str, *, limit: int,
            offset: int) -> dict[str, Any]:
    document, _ = pipelines.document_at(platform, pipeline_id)
    plan = _plan(platform, document)
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
    rows = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    return {"node_id": node_id, "columns": columns, "rows": rows, "limit": limit, "offset": offset}


def _type(arrow_type: Any) -> str:
    try:
        import ibis

        return type_name(ibis.dtype(arrow_type))
    except Exception:
        return str(arrow_type)
