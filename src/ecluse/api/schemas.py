"""Request and response models: the OpenAPI contract the web UI's client is generated from."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="How many match the filters, over all pages.")
    limit: int
    offset: int


class ProblemDetail(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list,
                                         description="Each with a JSON pointer to the field.")


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1000)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=4000)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds the access token stays valid.")


class UserOut(BaseModel):
    id: str
    username: str
    role: str
    disabled: bool
    created_at: dt.datetime


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    role: Literal["admin", "developer", "viewer"]
    expires_days: float | None = Field(None, gt=0, le=3650, description="Unset: never expires.")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    role: str
    created_by: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself, shown this once: send it as 'Authorization: "
                     "Bearer <key>' or 'X-API-Key: <key>'.")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=1000)
    role: Literal["admin", "developer", "viewer"]


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["admin", "developer", "viewer"] | None = None
    password: str | None = Field(None, min_length=8, max_length=1000)
    disabled: bool | None = None


class ProblemOut(BaseModel):
    pointer: str
    message: str
    code: str
    node_id: str | None = None
    edge: str | None = None
    field: str | None = None
    severity: Literal["error", "warning"] = "error"


class PipelineSummary(BaseModel):
    id: str
    name: str
    version: int = Field(description="Current version number (use it as base for a save).")
    description: str | None = None
    schedule: str | None = None
    scheduled_by: Literal["ecluse", "airflow"] | None = Field(
        None, description="Who starts the scheduled runs: Ecluse's embedded scheduler, or "
        "Airflow (ECLUSE_SCHEDULER=airflow, through DAGs from `ecluse airflow export`).")
    tags: list[str] = Field(default_factory=list)
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None
    updated_by: str | None


class PipelineOut(PipelineSummary):
    document: dict[str, Any]
    problems: list[ProblemOut] = Field(description="What keeps the pipeline from running.")
    valid: bool


class VersionOut(BaseModel):
    version: int
    created_at: dt.datetime
    created_by: str | None
    message: str | None
    document: dict[str, Any] | None = None


class Change(BaseModel):
    op: Literal["add", "remove", "replace"]
    path: str
    old: Any = None
    new: Any = None


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    changes: list[Change]


class ValidationOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]


class ColumnOut(BaseModel):
    name: str
    type: str


class NodeSchemaOut(BaseModel):
    node_id: str
    columns: list[ColumnOut] | None
    error: dict[str, Any] | None = None


class SchemaOut(BaseModel):
    nodes: dict[str, NodeSchemaOut]


class PreviewOut(BaseModel):
    node_id: str
    columns: list[ColumnOut]
    rows: list[list[Any]]
    limit: int
    offset: int


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters: dict[str, Any] = Field(default_factory=dict)
    trigger: Literal["manual", "api", "airflow"] = Field(
        "api", description="\"manual\" when a person pressed Run in the UI; \"airflow\" when "
        "a generated Airflow DAG started it (Airflow then owns the retries).")


class NodeRunOut(BaseModel):
    """One node of a run: its status and metrics (documents the shape; the run's JSON is passed as is)."""

    model_config = ConfigDict(extra="allow")
    node_id: str
    module: str
    status: Literal["pending", "running", "succeeded", "failed", "cancelled", "skipped"]
    rows_in: int | None = None
    rows_out: int | None = None
    rows_so_far: int | None = Field(None, description="While the node runs: the rows it has "
                                    "streamed so far (sources that report progress).")
    rows_rejected: int | None = None
    bytes_written: int | None = None
    duration_s: float | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class RunErrorOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: str
    node_id: str | None = None
    cause: str | None = Field(None, description="What the library or database said, in full "
                              "(the message is its first line).")
    field: str | None = Field(None, description="The config field concerned, when known.")
    sample_rows: list[dict[str, Any]] = Field(default_factory=list, description="A few of the "
                                              "rows the node failed on, when it knows them.")


def _documented_as(model: type[BaseModel], *, mapping: bool = False, nullable: bool = False
                   ) -> WithJsonSchema:
    """The OpenAPI of a field whose JSON is passed through untouched: no defaults are added, no
    keys dropped, and the generated client still gets a precise type."""
    schema: dict[str, Any] = model.model_json_schema()
    if mapping:
        schema = {"type": "object", "additionalProperties": schema}
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return WithJsonSchema(schema)


class RunOut(BaseModel):
    id: str
    pipeline_id: str
    pipeline_version: int
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "orphaned"]
    trigger: str
    parameters: dict[str, Any]
    nodes: Annotated[dict[str, Any], _documented_as(NodeRunOut, mapping=True)] = Field(
        description="Per-node status and metrics (rows, duration...).")
    error: Annotated[dict[str, Any] | None, _documented_as(RunErrorOut, nullable=True)] = Field(
        None, description="The failure, with the node id.")
    attempt: int
    max_attempts: int
    retry_of: str | None
    scheduled_for: dt.datetime | None
    cancel_requested: bool
    created_by: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_s: float | None


class LogLineOut(BaseModel):
    seq: int
    at: dt.datetime
    level: str
    node_id: str | None
    message: str
    data: dict[str, Any]


class LogPage(BaseModel):
    items: list[LogLineOut]
    total: int
    next_after: int = Field(description="Pass as `after` to get the following lines.")


class ConnectionIn(BaseModel):
    """A connection: a name, a type and that type's fields (or just a URL)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=200)
    type: str | None = Field(None, max_length=50)
    url: str | None = None
    description: str | None = Field(None, max_length=500)


class ConnectionUpdate(BaseModel):
    """New fields; a secret sent back masked (``********``) keeps its stored value."""

    model_config = ConfigDict(extra="allow")
    type: str | None = Field(None, max_length=50)
    url: str | None = None
    description: str | None = Field(None, max_length=500)


class ConnectionOut(BaseModel):
    id: str
    name: str
    type: str
    fields: dict[str, Any] = Field(description="Every field, secrets masked as ********.")
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ConnectionTypeOut(BaseModel):
    type: str = Field(description="The value of a connection's `type`.")
    title: str
    json_schema: dict[str, Any] = Field(description="JSON Schema of the type's fields; secret fields "
                                                    "are `writeOnly` (and `format: password`).")
    secret_fields: list[str] = Field(description="Dotted paths of the secret fields.")


class ConnectionTestOut(BaseModel):
    ok: bool
    message: str
    duration_ms: float


class PortIn(BaseModel):
    name: str
    min: int
    max: int | None = Field(description="At most this many edges; null: any number.")
    description: str


class PortOut(BaseModel):
    name: str
    description: str


class ModuleOut(BaseModel):
    type: Literal["extractor", "transformer", "loader"]
    module: str
    title: str
    description: str
    category: str | None = None
    icon: str | None = None
    version: int
    engines: list[str]
    inputs: list[PortIn]
    outputs: list[PortOut]
    config_schema: dict[str, Any] = Field(description="The JSON Schema of the node's config.")
    examples: list[Any]


class ScheduleOut(BaseModel):
    pipeline_id: str
    cron: str
    timezone: str
    enabled: bool
    catch_up: Literal["skip", "all"]
    next_run_at: dt.datetime | None
    last_run_at: dt.datetime | None


class ScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    catch_up: Literal["skip", "all"] | None = None


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str | None
    action: str
    target_type: str
    target_id: str | None
    source_ip: str | None
    detail: dict[str, Any]


class SystemOut(BaseModel):
    version: str
    executor: Literal["inline", "celery"]
    scheduler: Literal["embedded", "airflow", "off"] = Field(
        description="Who starts scheduled runs: the embedded scheduler, Airflow (through DAGs "
        "from `ecluse airflow export`; the embedded scheduler stays idle), or nobody.")
    database: str = Field(description="Kind of metadata database: sqlite or postgresql.")


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)
    version: str
