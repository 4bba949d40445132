"""Airflow DAG files of the pipelines (generation lives in ecluse.orchestration.airflow)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ecluse.api.deps import Editor, PlatformDep
from ecluse.orchestration import airflow

router = APIRouter(tags=["airflow"])

ConnId = Annotated[str, Query(max_length=250, description="The Airflow connection holding the "
                              "Ecluse URL and API key (no secret is written in a DAG file).")]
PollSeconds = Annotated[float, Query(gt=0, le=3600, description="How often the DAG's task asks "
                                   "Ecluse whether the run is over.")]
_ZIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {}}, "description": "A zip of DAG files"}}
_PY: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/x-python": {}}, "description": "The DAG file"}}


@router.get("/airflow/dags", response_class=Response, responses=_ZIP,
            summary="A zip with one Airflow DAG file per scheduled pipeline")
def airflow_dags(actor: Editor, platform: PlatformDep,
                 conn_id: ConnId = airflow.DEFAULT_CONN_ID,
                 poll_seconds: PollSeconds = airflow.DEFAULT_POLL_SECONDS) -> Response:
    files = airflow.export_dags(platform, conn_id=conn_id, poll_seconds=poll_seconds)
    return Response(airflow.zip_dags(files), media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="ecluse-dags.zip"'})


@router.get("/pipelines/{pipeline_id}/airflow-dag", response_class=Response, responses=_PY,
            summary="The Airflow DAG file of one pipeline (scheduled or not)")
def pipeline_dag(pipeline_id: str, actor: Editor, platform: PlatformDep,
                 conn_id: ConnId = airflow.DEFAULT_CONN_ID,
                 poll_seconds: PollSeconds = airflow.DEFAULT_POLL_SECONDS) -> Response:
    dag = airflow.pipeline_dag(platform, pipeline_id, conn_id, poll_seconds)
    return Response(dag.text, media_type="text/x-python",
                    headers={"Content-Disposition": f'attachment; filename="{dag.filename}"'})
