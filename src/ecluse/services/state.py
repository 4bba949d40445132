"""Incremental state of a stored pipeline (high-water marks, manifests of files read): shown,
set by hand (to replay from a point) and reset, each change audited."""

from __future__ import annotations

from typing import Any

from ecluse.services import pipelines
from ecluse.services.errors import NotFound
from ecluse.services.platform import Actor, DatabaseStateStore, Platform, audit


def show(platform: Platform, pipeline_id: str) -> dict[str, dict[str, Any]]:
    pipelines.get(platform, pipeline_id)  # 404 for an unknown pipeline
    return DatabaseStateStore(platform.db).all(pipeline_id)


def set_node(platform: Platform, actor: Actor, pipeline_id: str, node_id: str,
             value: dict[str, Any]) -> dict[str, Any]:
    _require_node(platform, pipeline_id, node_id)
    DatabaseStateStore(platform.db).put(pipeline_id, node_id, value)
    with platform.db.session() as s:
        audit(s, actor, "state.set", "pipeline", pipeline_id, node_id=node_id)
    return value


def reset_node(platform: Platform, actor: Actor, pipeline_id: str, node_id: str) -> None:
    _require_node(platform, pipeline_id, node_id)
    DatabaseStateStore(platform.db).delete(pipeline_id, node_id)
    with platform.db.session() as s:
        audit(s, actor, "state.reset", "pipeline", pipeline_id, node_id=node_id)


def _require_node(platform: Platform, pipeline_id: str, node_id: str) -> None:
    document, _ = pipelines.document_at(platform, pipeline_id)
    if node_id not in {n.get("id") for n in document.get("nodes", []) if isinstance(n, dict)}:
        raise NotFound(f"Pipeline {pipeline_id!r} has no node {node_id!r}.")
