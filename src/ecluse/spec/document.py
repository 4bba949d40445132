"""Pydantic models of the pipeline document (DESIGN.md §2). Keys are snake_case."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ecluse.sdk.backend import EngineName
from ecluse.sdk.module import ModuleKind


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterType(StrEnum):
    string = "string"
    integer = "integer"
    number = "number"
    boolean = "boolean"
    date = "date"
    timestamp = "timestamp"


class Parameter(_Model):
    type: ParameterType = Field(description="Type the value is checked and bound as.")
    default: Any = Field(None, description="Value used when a run does not give one.")
    description: str | None = None


class Position(_Model):
    x: float = 0.0
    y: float = 0.0


class Node(_Model):
    id: str = Field(min_length=1, max_length=200, description="Unique id within the pipeline.")
    type: ModuleKind
    module: str = Field(min_length=1, description="Module name from the catalog.")
    config: dict[str, Any] = Field(default_factory=dict)
    position: Position | None = None
    label: str | None = Field(None, description="Name shown on the canvas.")
    module_version: int | None = Field(
        None, description="Version of the module's config format this node was saved with.")


class Edge(_Model):
    source: str
    target: str
    source_handle: str | None = None
    target_handle: str | None = None
    id: str | None = None


class Notifications(_Model):
    on_failure: list[str] = Field(default_factory=list)
    on_success: list[str] = Field(default_factory=list)


class Pipeline(_Model):
    id: str | None = Field(None, description="UUID; assigned by the platform when absent.")
    name: str = Field(min_length=1, max_length=200)
    version: str = "1.0.0"
    description: str | None = None
    engine: EngineName | None = None
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    schedule: str | None = Field(None, description="Cron expression (5 fields).")
    timezone: str | None = Field(None, description="IANA time zone of the schedule; UTC by default.")
    notifications: Notifications = Field(default_factory=Notifications)
    tags: list[str] = Field(default_factory=list)
    owner: str | None = None
    retries: int | None = Field(None, ge=0, le=20)
    timeout_seconds: int | None = Field(None, gt=0)

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


def coerce_parameter(name: str, spec: Parameter, value: Any) -> Any:
    """Check and convert a parameter value (from the CLI, the API or a default)."""
    if value is None:
        return None
    kind = spec.type
    try:
        if kind is ParameterType.string:
            return str(value)
        if kind is ParameterType.integer:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is ParameterType.number:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is ParameterType.boolean:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"true", "1", "yes", "on"}:
                return True
            if text in {"false", "0", "no", "off"}:
                return False
            raise ValueError
        if kind is ParameterType.date:
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        if kind is ParameterType.timestamp:
            return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        pass
    raise ValueError(f"parameter {name!r}: {value!r} is not a valid {kind.value}")
