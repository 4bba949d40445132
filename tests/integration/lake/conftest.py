"""Object stores for the storage and lakehouse tests: moto (S3), fake-gcs-server (GCS) and
Azurite (Azure Blob), all on 127.0.0.1, started by the test setup."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import servers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    endpoint, proc = servers.start_gcs()
    yield endpoint
    servers.stop(proc)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    conn, proc = servers.start_azurite(tmp_path_factory.mktemp("azurite"))
    yield conn
    servers.stop(proc)


def _set(monkeypatch: pytest.MonkeyPatch, name: str, value: dict[str, Any]) -> None:
    monkeypatch.setenv("ECLUSE_CONN_" + name.upper().replace("-", "_"), json.dumps(value))


@pytest.fixture
def s3_store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh bucket and the connection `lake` to it."""
    conn = {"type": "s3", "endpoint_url": s3_endpoint, "access_key_id": "test",
            "secret_access_key": "test", "region": "us-east-1"}
    _set(monkeypatch, "lake", conn)
    _set(monkeypatch, "bad", {**conn, "access_key_id": "nobody", "secret_access_key": "wrong"})
    import boto3

    from ecluse.sdk.connections import parse_connection
    from ecluse.sdk.storage import filesystem

    fs = filesystem("s3", parse_connection("lake", conn))
    bucket = f"bkt-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket=bucket)
    return {"fs": fs, "bucket": bucket, "conn": conn, "root": bucket, "scheme": "s3"}


@pytest.fixture
def gcs_store(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    conn = {"type": "gcs", "endpoint_url": gcs_endpoint, "token": "anon", "project": "test"}
    _set(monkeypatch, "lake", conn)
    from ecluse.sdk.connections import parse_connection
    from ecluse.sdk.storage import filesystem

    fs = filesystem("gcs", parse_connection("lake", conn))
    bucket = f"bkt-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    return {"fs": fs, "bucket": bucket, "conn": conn, "root": bucket, "scheme": "gs"}


@pytest.fixture
def azure_store(azurite: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    conn = {"type": "azure_blob", "connection_string": azurite}
    _set(monkeypatch, "lake", conn)
    bad = azurite.replace(servers.AZURITE_KEY, "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=")
    _set(monkeypatch, "bad", {"type": "azure_blob", "connection_string": bad})
    from ecluse.sdk.connections import parse_connection
    from ecluse.sdk.storage import filesystem

    fs = filesystem("azure_blob", parse_connection("lake", conn))
    container = f"ctr-{uuid.uuid4().hex[:10]}"
    fs.mkdir(container)
    return {"fs": fs, "bucket": container, "conn": conn, "root": container, "scheme": "az"}


def put(store: dict[str, Any], key: str, data: bytes | Path) -> None:
    raw = data.read_bytes() if isinstance(data, Path) else data
    store["fs"].pipe_file(f"{store['root']}/{key}", raw)
