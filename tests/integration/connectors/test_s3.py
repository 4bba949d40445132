"""S3 loader against moto's standalone S3 server on 127.0.0.1 (no MinIO binary can be had
here): partitioned files written, read back and compared; failures leave nothing visible."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from ecluse.modules.load import s3 as s3_module
from tests.helpers import chain, node, run_doc

pytestmark = [pytest.mark.integration, pytest.mark.emulator]


@pytest.fixture
def lake(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("ECLUSE_CONN_LAKE", json.dumps({
        "type": "s3", "endpoint_url": s3_endpoint, "access_key_id": "test",
        "secret_access_key": "test", "region": "us-east-1"}))
    yield client, bucket


def keys(client: Any, bucket: str) -> list[str]:
    out = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in out)


def s3fs_of(endpoint: str) -> fs.S3FileSystem:
    host = endpoint.split("://", 1)[1]
    return fs.S3FileSystem(access_key="test", secret_key="test", endpoint_override=host,
                           scheme="http", region="us-east-1")


def orders(n: int = 1000) -> pa.Table:
    start = dt.datetime(2024, 1, 30, tzinfo=dt.UTC)
    return pa.table({
        "order_id": pa.array(range(n), pa.int64()),
        "country": pa.array(["FR", "DE", "ES"][i % 3] for i in range(n)),
        "amount": pa.array([i * 1.25 for i in range(n)]),
        "order_ts": pa.array([start + dt.timedelta(hours=3 * i) for i in range(n)],
                             pa.timestamp("us", tz="UTC")),
    })


def source(workdir: Path, table: pa.Table) -> dict[str, Any]:
    pq.write_table(table, workdir / "in.parquet")
    return node("e", "extractor", "parquet", path="in.parquet")


def test_partitioned_parquet_by_derived_date_parts(lake: Any, s3_endpoint: str, workdir: Path) -> None:
    client, bucket = lake
    data = orders()
    doc = chain(source(workdir, data),
                node("l", "loader", "s3", connection="lake", bucket=bucket, prefix="orders",
                     partition_by={"column": "order_ts", "parts": ["year", "month"]}))
    result = run_doc(doc)
    assert result.status == "succeeded", result.error
    assert result.nodes["l"].rows_in == 1000
    listed = keys(client, bucket)
    assert "orders/_ecluse_manifest.json" in listed
    assert "orders/year=2024/month=2/" in "".join(listed)
    assert not [k for k in listed if "ecluse-tmp" in k]
    back = ds.dataset(f"{bucket}/orders", filesystem=s3fs_of(s3_endpoint), format="parquet",
                      partitioning="hive").to_table().sort_by("order_id")
    assert back.select(["order_id", "country", "amount", "order_ts"]).equals(data)
    for row in back.slice(0, 50).to_pylist():
        assert (row["year"], row["month"]) == (row["order_ts"].year, row["order_ts"].month)
    manifest = json.loads(client.get_object(Bucket=bucket, Key="orders/_ecluse_manifest.json")["Body"].read())
    assert manifest["rows"] == 1000
    assert sorted(manifest["files"]) == sorted(k for k in listed if k.endswith(".parquet"))


def test_existing_partition_columns_overwrite_then_append(lake: Any, s3_endpoint: str,
                                                         workdir: Path) -> None:
    client, bucket = lake
    doc = chain(source(workdir, orders(300)),
                node("l", "loader", "s3", connection="lake", bucket=bucket, prefix="by_country",
                     partition_by=["country"]))
    assert run_doc(doc).status == "succeeded"
    first = keys(client, bucket)
    assert {k.split("/")[1] for k in first if k.endswith(".parquet")} == {
        "country=FR", "country=DE", "country=ES"}
    assert run_doc(doc).status == "succeeded"  # overwrite: same row count, new files only
    second = keys(client, bucket)
    assert not set(first) & set(second) - {"by_country/_ecluse_manifest.json"}
    dataset = lambda: ds.dataset(f"{bucket}/by_country", filesystem=s3fs_of(s3_endpoint),  # noqa: E731
                                 partitioning="hive")
    assert dataset().count_rows() == 300
    doc["nodes"][1]["config"]["mode"] = "append"
    assert run_doc(doc).status == "succeeded"
    assert dataset().count_rows() == 600
    raw = client.get_object(Bucket=bucket, Key="by_country/_ecluse_manifest.json")["Body"].read()
    manifest = json.loads(raw)
    assert len(manifest["files"]) == 6


@pytest.mark.parametrize(("fmt", "compression"), [("csv", None), ("csv", "gzip"), ("json", "gzip")])
def test_csv_and_json_lines(lake: Any, workdir: Path, fmt: str, compression: str | None) -> None:
    client, bucket = lake
    doc = chain(source(workdir, orders(50)),
                node("l", "loader", "s3", connection="lake", bucket=bucket, prefix="exp", format=fmt,
                     compression=compression))
    assert run_doc(doc).status == "succeeded"
    [key] = [k for k in keys(client, bucket) if "part-" in k]
    assert key.endswith({"csv": ".csv", "json": ".jsonl"}[fmt] + (".gz" if compression else ""))
    local = workdir / Path(key).name
    client.download_file(bucket, key, str(local))
    if fmt == "csv":
        back = pacsv.read_csv(local)
        assert back.column("order_id").to_pylist() == list(range(50))
    else:
        import gzip

        with gzip.open(local, "rt") as f:
            lines = f.read().splitlines()
        assert json.loads(lines[1])["country"] == "DE"
        assert len(lines) == 50


def test_target_file_size_and_multipart_upload(lake: Any, s3_endpoint: str, workdir: Path) -> None:
    client, bucket = lake
    blob = pa.table({"id": pa.array(range(800), pa.int64()),
                     "payload": pa.array([os.urandom(16_384) for _ in range(800)], pa.binary())})
    doc = chain(source(workdir, blob),
                node("l", "loader", "s3", connection="lake", bucket=bucket, prefix="blobs",
                     target_file_size_mb=6, multipart_chunk_mb=5, compression="none"))
    result = run_doc(doc)
    assert result.status == "succeeded", result.error
    files = [k for k in keys(client, bucket) if k.endswith(".parquet")]
    assert len(files) >= 2  # 13 MB of incompressible bytes, rolled over past 6 MB
    etags = [client.head_object(Bucket=bucket, Key=k)["ETag"] for k in files]
    assert any("-" in e for e in etags)  # a multipart object's ETag is "<md5>-<parts>"
    back = ds.dataset(f"{bucket}/blobs", filesystem=s3fs_of(s3_endpoint)).to_table().sort_by("id")
    assert back.equals(blob)


def test_failure_mid_write_leaves_nothing_visible(lake: Any, workdir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    client, bucket = lake
    doc = chain(source(workdir, orders(2000)),
                node("l", "loader", "s3", connection="lake", bucket=bucket, prefix="orders",
                     partition_by={"column": "order_ts", "parts": ["year", "month", "day"]}))
    assert run_doc(doc).status == "succeeded"
    before = {k: client.head_object(Bucket=bucket, Key=k)["ETag"] for k in keys(client, bucket)}
    real_put = s3_module._Upload.put
    calls = {"n": 0}

    def failing_put(self: Any, path: Path, final_key: str) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise ConnectionError("network lost during upload")
        real_put(self, path, final_key)

    monkeypatch.setattr(s3_module._Upload, "put", failing_put)
    result = run_doc(doc)
    assert result.status == "failed"
    assert "network lost" in result.error.reason
    assert calls["n"] == 5  # four files were already uploaded when it broke
    after = {k: client.head_object(Bucket=bucket, Key=k)["ETag"] for k in keys(client, bucket)}
    assert after == before  # old dataset intact, no temporary object left
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_config_errors(lake: Any, workdir: Path) -> None:
    _, bucket = lake
    bad_col = chain(source(workdir, orders(5)),
                    node("l", "loader", "s3", connection="lake", bucket=bucket,
                         partition_by={"column": "country", "parts": ["year"]}))
    result = run_doc(bad_col)
    assert result.status == "failed" and "not a timestamp" in result.error.reason
    missing = chain(source(workdir, orders(5)),
                    node("l", "loader", "s3", connection="lake", bucket="no-such-bucket-here"))
    result = run_doc(missing)
    assert result.status == "failed" and "does not exist" in result.error.reason
