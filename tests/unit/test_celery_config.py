"""The Celery executor refuses what cannot work, saying what to set, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecluse.cli import app
from ecluse.orchestration.celery_app import make_celery
from ecluse.orchestration.recording import outcome
from ecluse.services.config import PlatformSettings


def test_worker_needs_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECLUSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ECLUSE_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("ECLUSE_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "needs the metadata database on PostgreSQL" in result.output
    assert "ECLUSE_DATABASE_URL" in result.output


def test_the_broker_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ECLUSE_REDIS_URL"):
        make_celery(PlatformSettings(data_dir=tmp_path, redis_url=None))


def test_delivery_settings(tmp_path: Path) -> None:
    conf = make_celery(PlatformSettings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0",
                                        celery_queue="etl")).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1 and conf.task_default_queue == "etl"
    assert conf.broker_transport_options["visibility_timeout"] == 12 * 3600


def test_outcome_of_a_run() -> None:
    cancelled = {"status": "cancelled", "error": None}
    assert outcome(cancelled, None, timeout=2, timed_out=True, cancel_sent=True, died=None) == (
        "failed", {"node_id": None, "message": "timed out after 2 s"})
    assert outcome(cancelled, None, timeout=None, timed_out=False, cancel_sent=True,
                   died=None) == ("cancelled", None)
    assert outcome(None, None, timeout=None, timed_out=False, cancel_sent=False,
                   died="signal 9")[1] == {"node_id": None, "message": "signal 9"}


def test_the_api_refuses_celery_on_sqlite(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ecluse.api import create_app

    client = TestClient(create_app(data_dir=tmp_path, executor="celery", scheduler="off",
                                   redis_url="redis://127.0.0.1:1/0", secret_key="k"))
    with pytest.raises(ValueError, match="needs the metadata database on PostgreSQL"):
        client.__enter__()
