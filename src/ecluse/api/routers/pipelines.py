from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ecluse.api.deps import Editor, Limit, Offset, PlatformDep, Reader
from ecluse.api.routers.runs import run_out
from ecluse.api.schemas import (
    Change,
    DiffOut,
    NodeSchemaOut,
    Page,
    PipelineOut,
    PipelineSummary,
    PreviewOut,
    ProblemOut,
    RunOut,
    RunRequest,
    ScheduleOut,
    ScheduleUpdate,
    SchemaOut,
    ValidationOut,
    VersionOut,
)
from ecluse.services import design, pipelines, runs, schedules, state
from ecluse.services.errors import Invalid
from ecluse.spec.document import Pipeline as PipelineDocument

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(None, ge=1, description="Version to explain (default: current).")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Run parameters.")


class ExplainStep(BaseModel):
    mode: Literal["pushdown", "engine"] = Field(
        description="pushdown: the nodes run inside the warehouse as SQL, no row leaves it; "
        "engine: the run's engine executes the SQL and the loader streams the rows.")
    loader: str
    nodes: list[str] = Field(description="The nodes this step covers, the loader included.")
    sql: str
    warehouse: str | None = Field(None, description="The database the SQL runs in (pushdown).")
    engine: str | None = Field(None, description="The engine that runs the SQL (engine mode).")
    note: str | None = Field(None, description="Why a pushdown was not possible, when tried.")


class ExplainOut(BaseModel):
    pipeline_id: str
    version: int
    steps: list[ExplainStep]


def _summary_fields(v: pipelines.PipelineView) -> dict[str, Any]:
    doc = v.document
    return {"id": v.id, "name": v.name, "version": v.version,
            "description": doc.get("description"), "schedule": doc.get("schedule"),
            "tags": doc.get("tags") or [], "created_at": v.created_at, "updated_at": v.updated_at,
            "created_by": v.created_by, "updated_by": v.updated_by,
            "scheduled_by": v.scheduled_by}


def _out(v: pipelines.PipelineView, response: Response | None = None) -> PipelineOut:
    if response is not None:
        response.headers["ETag"] = f'"{v.version}"'
    problems = [ProblemOut(**p.to_dict()) for p in v.problems]
    return PipelineOut(**_summary_fields(v), document=v.document, problems=problems,
                       valid=not any(p.severity == "error" for p in problems))


def _raw(document: PipelineDocument) -> dict[str, Any]:
    return document.model_dump(mode="json", exclude_unset=True)


def _base_version(if_match: str | None, base_version: int | None) -> int | None:
    if base_version is not None:
        return base_version
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(text)
    except ValueError as exc:
        raise Invalid("If-Match must hold the version number the save is based on, e.g. \"3\".",
                      errors=[{"pointer": "#/header/If-Match", "detail": "not a version"}]) from exc


@router.get("", response_model=Page[PipelineSummary], summary="List pipelines")
def list_pipelines(actor: Reader, platform: PlatformDep, limit: Limit = 50, offset: Offset = 0,
                   q: Annotated[str | None, Query(max_length=200, description="Name contains")]
                   = None,
                   sort: Annotated[str, Query(description="name, created_at, updated_at; "
                                              "prefix - for descending")] = "-updated_at",
                   ) -> Page[PipelineSummary]:
    items, total = pipelines.list_pipelines(platform, q=q, sort=sort, limit=limit, offset=offset)
    return Page[PipelineSummary](items=[PipelineSummary(**vars(v)) for v in items],
                                 total=total, limit=limit, offset=offset)


@router.post("", response_model=PipelineOut, status_code=status.HTTP_201_CREATED,
             summary="Create a pipeline from its document")
def create_pipeline(document: Annotated[PipelineDocument, Body()], actor: Editor,
                    platform: PlatformDep, response: Response) -> PipelineOut:
    view = pipelines.create(platform, actor, _raw(document))
    response.headers["Location"] = f"/api/v1/pipelines/{view.id}"
    return _out(view, response)


@router.post("/validate", response_model=ValidationOut,
             summary="Validate a document without saving it")
def validate_document(document: Annotated[dict[str, Any], Body()], actor: Reader,
                      platform: PlatformDep) -> ValidationOut:
    problems = [ProblemOut(**p.to_dict()) for p in pipelines.problems_of(platform, document)]
    return ValidationOut(valid=not any(p.severity == "error" for p in problems), problems=problems)


@router.post("/schema", response_model=SchemaOut,
             summary="Output schema of every node of a document being edited (not saved)")
def draft_schema(document: Annotated[dict[str, Any], Body()], actor: Reader,
                 platform: PlatformDep) -> SchemaOut:
    out = design.draft_schemas(platform, document)
    return SchemaOut(nodes={k: NodeSchemaOut(**v) for k, v in out.items()})


@router.post("/preview", response_model=PreviewOut,
             summary="Rows at one node of a document being edited, computed on a sample (paged)")
def draft_preview(document: Annotated[dict[str, Any], Body()], actor: Reader,
                  platform: PlatformDep, node_id: Annotated[str, Query(min_length=1)],
                  limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                  offset: Offset = 0) -> PreviewOut:
    return PreviewOut(**design.draft_preview(platform, document, node_id, limit=limit,
                                             offset=offset))


@router.get("/{pipeline_id}", response_model=PipelineOut)
def get_pipeline(pipeline_id: str, actor: Reader, platform: PlatformDep,
                 response: Response) -> PipelineOut:
    return _out(pipelines.get(platform, pipeline_id), response)


@router.put("/{pipeline_id}", response_model=PipelineOut,
            summary="Save a new version (If-Match: \"<base version>\" or ?base_version=)",
            responses={409: {"description": "Stale base version: what changed meanwhile"},
                       428: {"description": "No base version given"}})
def update_pipeline(pipeline_id: str, document: Annotated[PipelineDocument, Body()], actor: Editor,
                    platform: PlatformDep, response: Response,
                    if_match: Annotated[str | None, Header()] = None,
                    base_version: Annotated[int | None, Query(ge=1)] = None,
                    message: Annotated[str | None, Query(max_length=500)] = None) -> PipelineOut:
    view = pipelines.update(platform, actor, pipeline_id, _raw(document),
                            _base_version(if_match, base_version), message)
    return _out(view, response)


@router.delete("/{pipeline_id}", status_code=204, response_model=None)
def delete_pipeline(pipeline_id: str, actor: Editor, platform: PlatformDep) -> None:
    pipelines.delete(platform, actor, pipeline_id)


@router.get("/{pipeline_id}/validate", response_model=ValidationOut)
def validate_pipeline(pipeline_id: str, actor: Reader, platform: PlatformDep) -> ValidationOut:
    view = pipelines.get(platform, pipeline_id)
    problems = [ProblemOut(**p.to_dict()) for p in view.problems]
    return ValidationOut(valid=not any(p.severity == "error" for p in problems), problems=problems)


@router.get("/{pipeline_id}/versions", response_model=Page[VersionOut])
def list_versions(pipeline_id: str, actor: Reader, platform: PlatformDep, limit: Limit = 50,
                  offset: Offset = 0) -> Page[VersionOut]:
    items, total = pipelines.versions(platform, pipeline_id, limit=limit, offset=offset)
    return Page[VersionOut](items=[VersionOut(**vars(v)) for v in items], total=total,
                            limit=limit, offset=offset)


@router.get("/{pipeline_id}/versions/{version}", response_model=VersionOut)
def get_version(pipeline_id: str, version: int, actor: Reader, platform: PlatformDep) -> VersionOut:
    return VersionOut(**vars(pipelines.version(platform, pipeline_id, version)))


@router.get("/{pipeline_id}/diff", response_model=DiffOut, summary="What changed between versions")
def diff_versions(pipeline_id: str, actor: Reader, platform: PlatformDep,
                  from_version: Annotated[int, Query(alias="from", ge=1)],
                  to_version: Annotated[int, Query(alias="to", ge=1)]) -> DiffOut:
    changes = pipelines.diff(platform, pipeline_id, from_version, to_version)
    return DiffOut(from_version=from_version, to_version=to_version,
                   changes=[Change(**c) for c in changes])


@router.post("/{pipeline_id}/versions/{version}/restore", response_model=PipelineOut,
             summary="Make an old version current again (as a new version)")
def restore_version(pipeline_id: str, version: int, actor: Editor, platform: PlatformDep,
                    response: Response) -> PipelineOut:
    return _out(pipelines.restore(platform, actor, pipeline_id, version), response)


@router.get("/{pipeline_id}/schema", response_model=SchemaOut,
            summary="Output schema of every node, without running")
def pipeline_schema(pipeline_id: str, actor: Reader, platform: PlatformDep) -> SchemaOut:
    out = design.schemas(platform, pipeline_id)
    return SchemaOut(nodes={k: NodeSchemaOut(**v) for k, v in out.items()})


@router.post("/{pipeline_id}/explain", response_model=ExplainOut,
             summary="What a run would do where: pushed-down nodes and SQL, without running")
def explain(pipeline_id: str, actor: Reader, platform: PlatformDep,
            body: Annotated[ExplainRequest | None, Body()] = None) -> ExplainOut:
    body = body or ExplainRequest()
    number, steps = design.explain(platform, pipeline_id, version=body.version,
                                   parameters=body.parameters)
    return ExplainOut(pipeline_id=pipeline_id, version=number,
                      steps=[ExplainStep(**step) for step in steps])


@router.get("/{pipeline_id}/nodes/{node_id}/preview", response_model=PreviewOut,
            summary="Rows at one node, computed on a sample (paged)")
def preview(pipeline_id: str, node_id: str, actor: Reader, platform: PlatformDep,
            limit: Annotated[int, Query(ge=1, le=1000)] = 50, offset: Offset = 0) -> PreviewOut:
    return PreviewOut(**design.preview(platform, pipeline_id, node_id, limit=limit, offset=offset))


@router.post("/{pipeline_id}/runs", response_model=RunOut, status_code=202, tags=["runs"],
             summary="Start a run (queued, then executed by a worker)")
def start_run(pipeline_id: str, actor: Editor, platform: PlatformDep,
              body: Annotated[RunRequest | None, Body()] = None) -> RunOut:
    body = body or RunRequest()
    return run_out(runs.start(platform, actor, pipeline_id, body.parameters, trigger=body.trigger))


@router.get("/{pipeline_id}/state", response_model=dict[str, dict[str, Any]], tags=["state"],
            summary="Incremental state per node (high-water marks, files already read)")
def get_state(pipeline_id: str, actor: Reader, platform: PlatformDep) -> dict[str, dict[str, Any]]:
    return state.show(platform, pipeline_id)


@router.put("/{pipeline_id}/state/{node_id}", response_model=dict[str, Any], tags=["state"],
            summary="Set a node's state by hand (e.g. to replay from a point)")
def set_state(pipeline_id: str, node_id: str, value: Annotated[dict[str, Any], Body()],
              actor: Editor, platform: PlatformDep) -> dict[str, Any]:
    return state.set_node(platform, actor, pipeline_id, node_id, value)


@router.delete("/{pipeline_id}/state/{node_id}", status_code=204, response_model=None,
               tags=["state"], summary="Forget a node's state: its next run reads everything")
def reset_state(pipeline_id: str, node_id: str, actor: Editor, platform: PlatformDep) -> None:
    state.reset_node(platform, actor, pipeline_id, node_id)


@router.get("/{pipeline_id}/schedule", response_model=ScheduleOut, tags=["schedules"])
def get_schedule(pipeline_id: str, actor: Reader, platform: PlatformDep) -> ScheduleOut:
    return ScheduleOut(**schedules.get(platform, pipeline_id))


@router.patch("/{pipeline_id}/schedule", response_model=ScheduleOut, tags=["schedules"],
              summary="Pause/resume the schedule, choose the catch-up policy")
def update_schedule(pipeline_id: str, body: ScheduleUpdate, actor: Editor,
                    platform: PlatformDep) -> ScheduleOut:
    return ScheduleOut(**schedules.update(platform, actor, pipeline_id, enabled=body.enabled,
                                          catch_up=body.catch_up))
