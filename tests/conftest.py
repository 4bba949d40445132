from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests import servers

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """Superuser URL of a real PostgreSQL on 127.0.0.1 (started when missing)."""
    return servers.ensure_postgres()


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    import psycopg

    name = f"ecluse_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_url.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    return servers.ensure_redis()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    endpoint, server = servers.start_s3()
    yield endpoint
    server.stop()  # type: ignore[attr-defined]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder that is also the current directory (relative pipeline paths)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole test process (starting one takes ~20 s; keep
    every Spark test in one file so that ``--dist loadfile`` starts only one). Two cores, one
    shuffle partition, and no code generation: compiling it costs far more than the tiny
    tables of tests take to run interpreted."""
    from ecluse.engine.backends.pyspark import spark_session

    with mock.patch.dict(os.environ, {"ECLUSE_SPARK_MASTER": "local[2]",
                                      "ECLUSE_SPARK_SHUFFLE_PARTITIONS": "1"}):
        session = spark_session()
    session.conf.set("spark.sql.codegen.wholeStage", "false")
    session.conf.set("spark.sql.codegen.factoryMode", "NO_CODEGEN")
    yield session
    session.stop()
