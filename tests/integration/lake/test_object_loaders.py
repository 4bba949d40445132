"""What the `gcs` and `azure_blob` loaders share with `s3` now that all three stand on one body
(`ObjectLoader`): derived date partitions, rolling files past `target_file_size_mb`,
partitioned JSON lines. On every store, a failure in the middle of the uploads leaves the
destination as it was. A malformed GCS service account key is named as such (emulators)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import s3fs

from tests.helpers import chain, node, run_doc
from tests.integration.connectors.test_s3 import orders

pytestmark = [pytest.mark.integration, pytest.mark.emulator]

STORES = {"s3": ("s3_store", "bucket"), "gcs": ("gcs_store", "bucket"),
          "azure_blob": ("azure_store", "container")}


def _store(request: pytest.FixtureRequest) -> dict[str, Any]:
    fixture, key = STORES[request.param]
    s: dict[str, Any] = request.getfixturevalue(fixture)
    return {**s, "module": request.param, "key": key}


@pytest.fixture(params=["gcs", "azure_blob"])
def cloud(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _store(request)


@pytest.fixture(params=list(STORES))
def any_store(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _store(request)


def _write(store: dict[str, Any], workdir: Path, table: pa.Table, **config: Any) -> Any:
    src = workdir / f"src-{len(list(workdir.glob('src-*')))}.parquet"
    pq.write_table(table, src)
    return run_doc(chain(node("src", "extractor", "parquet", path=str(src)),
                         node("dst", "loader", store["module"], connection="lake",
                              **{store["key"]: store["bucket"]}, **config)))


def _objects(store: dict[str, Any]) -> dict[str, bytes]:
    """Every object of the bucket/container, by key, with its bytes."""
    fs, root = store["fs"], store["root"]
    fs.invalidate_cache()
    return {p.split("/", 1)[1]: fs.cat_file(p) for p in fs.find(root)}


def _manifest(store: dict[str, Any], prefix: str) -> dict[str, Any]:
    return dict(json.loads(_objects(store)[f"{prefix}/_ecluse_manifest.json"]))


def _dataset(store: dict[str, Any], prefix: str) -> pa.Table:
    return ds.dataset(f"{store['root']}/{prefix}", filesystem=store["fs"], format="parquet",
                      partitioning="hive").to_table()


def test_derived_date_partitions(cloud: dict[str, Any], workdir: Path) -> None:
    data = orders(400)  # every 3 hours from 2024-01-30: January to March
    r = _write(cloud, workdir, data, prefix="o",
               partition_by={"column": "order_ts", "parts": ["year", "month"]})
    assert r.status == "succeeded", r.error
    files = [k for k in _objects(cloud) if k.endswith(".parquet")]
    assert {k.rsplit("/", 1)[0] for k in files} == {"o/year=2024/month=1", "o/year=2024/month=2",
                                                   "o/year=2024/month=3"}
    assert sorted(_manifest(cloud, "o")["files"]) == sorted(files)
    back = _dataset(cloud, "o").sort_by("order_id")
    assert back.select(data.column_names).equals(data)
    for row in back.to_pylist():
        assert (row["year"], row["month"]) == (row["order_ts"].year, row["order_ts"].month)


def test_partitioned_json_lines(cloud: dict[str, Any], workdir: Path) -> None:
    data = orders(30)
    r = _write(cloud, workdir, data, prefix="j", format="json", compression="gzip",
               partition_by={"column": "order_ts", "parts": ["year", "month", "day"]})
    assert r.status == "succeeded", r.error
    objects = _objects(cloud)
    files = sorted(k for k in objects if k.endswith(".jsonl.gz"))
    assert files[0].startswith("j/year=2024/month=1/day=30/part-")
    assert len(files) == 4  # 30 rows every 3 hours: January 30 and 31, February 1 and 2
    import gzip

    rows = [json.loads(line) for k in files for line in gzip.decompress(objects[k]).splitlines()]
    assert sorted(r["order_id"] for r in rows) == list(range(30))
    assert set(rows[0]) == {"order_id", "country", "amount", "order_ts"}  # parts are folders only


def test_rolling_files_past_the_target_size(cloud: dict[str, Any], workdir: Path) -> None:
    blob = pa.table({"id": pa.array(range(200), pa.int64()),
                     "payload": pa.array([os.urandom(16_384) for _ in range(200)], pa.binary())})
    r = _write(cloud, workdir, blob, prefix="b", target_file_size_mb=1, compression="none")
    assert r.status == "succeeded", r.error
    sizes = {k: len(v) for k, v in _objects(cloud).items() if k.endswith(".parquet")}
    assert len(sizes) >= 3  # 3.3 MB of incompressible bytes, rolled over past 1 MB
    assert max(sizes.values()) < 1.5 * 2**20
    assert sorted(_manifest(cloud, "b")["files"]) == sorted(sizes)
    assert _dataset(cloud, "b").sort_by("id").equals(blob)


def _break_second_upload(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Make the second file's upload fail once part of it has reached the store: for S3 after
    its first multipart part (the upload must be aborted), elsewhere after the object landed
    under the temporary prefix (it must be deleted)."""
    calls = {"n": 0}
    if store["module"] == "s3":
        real_chunk = s3fs.core.S3File._upload_chunk

        def failing_chunk(self: Any, final: bool = False) -> Any:
            calls["n"] += 1  # two calls a file: its first part, then the rest and the commit
            if calls["n"] == 4:
                raise ConnectionError("connection reset during the upload")
            return real_chunk(self, final)

        monkeypatch.setattr(s3fs.core.S3File, "_upload_chunk", failing_chunk)
        return calls
    from ecluse.sdk import cloud

    real_filesystem = cloud.filesystem

    def filesystem(kind: str, connection: Any) -> Any:
        fs = real_filesystem(kind, connection)
        real_put = fs.put_file

        def failing_put(lpath: str, rpath: str, **kwargs: Any) -> None:
            calls["n"] += 1
            real_put(lpath, rpath, **kwargs)
            if calls["n"] == 2:
                raise ConnectionError("connection reset during the upload")

        monkeypatch.setattr(fs, "put_file", failing_put)
        return fs

    monkeypatch.setattr(cloud, "filesystem", filesystem)
    return calls


def test_failure_mid_upload_leaves_the_destination_untouched(any_store: dict[str, Any], workdir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    blob = pa.table({"id": pa.array(range(800), pa.int64()),
                     "payload": pa.array([os.urandom(16_384) for _ in range(800)], pa.binary())})
    config: dict[str, Any] = {"prefix": "d", "target_file_size_mb": 6, "compression": "none"}
    if any_store["module"] == "s3":
        config["multipart_chunk_mb"] = 5
    assert _write(any_store, workdir, blob.slice(0, 100), **config).status == "succeeded"
    before = _objects(any_store)
    calls = _break_second_upload(any_store, monkeypatch)
    r = _write(any_store, workdir, blob, **config)
    assert r.status == "failed"
    assert "connection reset during the upload" in r.error.reason, r.error.reason
    assert calls["n"] == (4 if any_store["module"] == "s3" else 2)
    monkeypatch.undo()
    assert _objects(any_store) == before  # same keys, same bytes; nothing temporary left
    if any_store["module"] == "s3":
        assert any_store["fs"].list_multipart_uploads(any_store["bucket"]) == []


@pytest.mark.parametrize(("key", "problem"), [
    ("{\"type\": \"service_account\", ", "is not valid JSON"),
    ({"type": "service_account", "client_email": "etl@example.iam.gserviceaccount.com",
      "token_uri": "http://127.0.0.1:9/token"}, "private_key field was not found"),
], ids=["bad-json", "no-private-key"])
def test_unusable_gcs_service_account_key(gcs_store: dict[str, Any], workdir: Path,
                                          monkeypatch: pytest.MonkeyPatch, key: Any, problem: str) -> None:
    monkeypatch.setenv("ECLUSE_CONN_GCP", json.dumps({
        "type": "gcs", "project": "test", "endpoint_url": gcs_store["conn"]["endpoint_url"],
        "service_account_json": key}))
    expected = "the service account key (service_account_json) of connection 'gcp'"
    src = workdir / "in.parquet"
    pq.write_table(orders(3), src)
    written = run_doc(chain(node("src", "extractor", "parquet", path=str(src)),
                            node("dst", "loader", "gcs", connection="gcp", bucket=gcs_store["bucket"])))
    read = run_doc(chain(node("src", "extractor", "gcs", connection="gcp", bucket=gcs_store["bucket"]),
                         node("dst", "loader", "parquet", path=str(workdir / "out.parquet"))))
    for r in (written, read):
        assert r.status == "failed"
        assert expected in r.error.reason and problem in r.error.reason, r.error.reason


def test_s3_manifest_is_served_as_json(s3_store: dict[str, Any], workdir: Path) -> None:
    store = {**s3_store, "module": "s3", "key": "bucket"}
    assert _write(store, workdir, orders(5), prefix="m", mode="append").status == "succeeded"
    info = store["fs"].info(f"{store['root']}/m/_ecluse_manifest.json")
    assert info["ContentType"] == "application/json"


def test_s3_connection_check_through_the_storage_layer(s3_store: dict[str, Any]) -> None:
    from ecluse.sdk.connections import parse_connection
    from ecluse.sdk.probe import test_connection as check

    conn = parse_connection("lake", s3_store["conn"])
    assert check(conn, bucket=s3_store["bucket"]).ok
    listed = check(conn)
    assert listed.ok and s3_store["bucket"] in listed.details["buckets"]
    missing = check(conn, bucket="no-such-bucket-here")
    assert not missing.ok
    assert missing.message == "lake: s3://no-such-bucket-here does not exist", missing.message
