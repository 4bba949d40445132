"""The `delta` loader and extractor: append, overwrite, merge, schema evolution, a failed
run leaving no commit, time travel; tables read back by deltalake and by DuckDB; local and
on the S3 server."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from ecluse.engine.backends import connect_backend
from ecluse.sdk.connections import StaticConnections
from ecluse.sdk.context import CancelToken, NodeContext
from ecluse.sdk.duckdb_ext import duckdb_config
from ecluse.sdk.registry import default_registry
from ecluse.sdk.storage import object_store_options
from tests.helpers import chain, node, preview, run_doc, schemas

pytestmark = pytest.mark.integration


def _source(workdir: Path, name: str, table: pa.Table) -> dict[str, Any]:
    path = workdir / f"{name}.parquet"
    pq.write_table(table, path)
    return node("src", "extractor", "parquet", path=str(path))


def _load(workdir: Path, table: pa.Table, name: str = "in", **config: Any) -> Any:
    return run_doc(chain(_source(workdir, name, table), node("dst", "loader", "delta", **config)))


def _duckdb_rows(path: str, setup: str = "") -> list[tuple[Any, ...]]:
    con = duckdb.connect(config=duckdb_config())
    con.execute("LOAD delta")
    if setup:
        con.execute(setup)
    return sorted(con.execute(f"SELECT * FROM delta_scan('{path}')").fetchall())


def test_append_overwrite_merge_local(workdir: Path) -> None:
    path = str(workdir / "lake" / "orders")
    r = _load(workdir, pa.table({"id": [1, 2], "amount": [10.0, 20.0]}), path=path, mode="append")
    assert r.status == "succeeded", r.error
    r = _load(workdir, pa.table({"id": [3], "amount": [30.0]}), "b", path=path, mode="append")
    assert r.status == "succeeded", r.error
    t = DeltaTable(path)
    assert t.version() == 1
    assert sorted(t.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3]
    r = _load(workdir, pa.table({"id": [2, 4], "amount": [25.0, 40.0]}), "c", path=path, mode="merge",
              keys=["id"])
    assert r.status == "succeeded", r.error
    assert _duckdb_rows(path) == [(1, 10.0), (2, 25.0), (3, 30.0), (4, 40.0)]
    r = _load(workdir, pa.table({"id": [9], "amount": [1.0]}), "d", path=path, mode="overwrite")
    assert r.status == "succeeded", r.error
    t = DeltaTable(path)
    assert t.version() == 3
    assert t.to_pyarrow_table().column("id").to_pylist() == [9]
    # time travel through the extractor
    out = workdir / "v1.parquet"
    r = run_doc(chain(node("src", "extractor", "delta", path=path, version=1),
                      node("dst", "loader", "parquet", path=str(out))))
    assert r.status == "succeeded", r.error
    assert sorted(pq.read_table(out).column("id").to_pylist()) == [1, 2, 3]
    doc = chain(node("src", "extractor", "delta", path=path),
                node("dst", "loader", "parquet", path=str(workdir / "x.parquet")))
    assert preview(doc, "src").column("id").to_pylist() == [9]
    assert schemas(doc)["src"] == [("id", "int64"), ("amount", "float64")]
    ts = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    r = run_doc(chain(node("src", "extractor", "delta", path=path, timestamp=ts.isoformat()),
                      node("dst", "loader", "parquet", path=str(workdir / "ts.parquet"))))
    assert r.status == "succeeded", r.error


def test_schema_evolution_and_partitions(workdir: Path) -> None:
    path = str(workdir / "evolve")
    r = _load(workdir, pa.table({"id": [1], "country": ["FR"]}), path=path, partition_by=["country"])
    assert r.status == "succeeded", r.error
    wider = pa.table({"id": [2], "country": ["DE"], "note": ["new"]})
    r = _load(workdir, wider, "w", path=path)
    assert r.status == "failed"
    assert "merge_schema" in r.error.reason
    assert DeltaTable(path).version() == 0
    r = _load(workdir, wider, "w2", path=path, merge_schema=True)
    assert r.status == "succeeded", r.error
    t = DeltaTable(path)
    assert t.metadata().partition_columns == ["country"]
    assert sorted(t.to_pyarrow_table().column("note").to_pylist(), key=str) == [None, "new"]
    r = _load(workdir, pa.table({"id": [3], "country": ["FR"], "note": ["x"]}), "w3", path=path,
              optimize=True, vacuum_retention_hours=0)
    assert r.status == "succeeded", r.error
    assert len(DeltaTable(path).to_pyarrow_table()) == 3


class _FailingBackend:
    """Hands the loader a stream that breaks after its first batch."""

    name = "duckdb"

    def to_batches(self, table: Any, *, batch_size: int = 100_000) -> pa.RecordBatchReader:
        schema = pa.schema([("id", pa.int64()), ("amount", pa.float64())])

        def gen() -> Any:
            yield pa.record_batch({"id": [100], "amount": [1.0]}, schema=schema)
            raise RuntimeError("the source broke mid-stream")

        return pa.RecordBatchReader.from_batches(schema, gen())


@pytest.mark.parametrize("mode", ["append", "overwrite", "merge"])
def test_failed_run_leaves_no_commit(workdir: Path, mode: str) -> None:
    path = str(workdir / "t")
    assert _load(workdir, pa.table({"id": [1], "amount": [1.0]}), path=path).status == "succeeded"
    cls = default_registry().get("loader", "delta")
    assert cls is not None
    loader = cls(cls.parse_config({"path": path, "mode": mode, "keys": ["id"]}), "dst")
    backend = connect_backend("duckdb", work_dir=Path(tempfile.mkdtemp()))
    table = backend.from_arrow(pa.table({"id": [1], "amount": [1.0]}), name="t")
    ctx = NodeContext(run_id="r", pipeline_id="p", node_id="dst", backend=_FailingBackend(),  # type: ignore[arg-type]
                      parameters={}, connections=StaticConnections(), mode="run", work_dir=workdir,
                      cancel=CancelToken())
    with pytest.raises(Exception, match="broke mid-stream"):
        loader.write(table, ctx)
    t = DeltaTable(path)
    assert t.version() == 0
    assert t.to_pyarrow_table().column("id").to_pylist() == [1]


def test_on_the_s3_server(s3_store: dict[str, Any], workdir: Path) -> None:
    path = f"s3://{s3_store['bucket']}/lake/orders"
    r = _load(workdir, pa.table({"id": [1, 2], "amount": [1.0, 2.0]}), path=path, connection="lake")
    assert r.status == "succeeded", r.error
    r = _load(workdir, pa.table({"id": [2, 3], "amount": [5.0, 3.0]}), "m", path=path, connection="lake",
              mode="merge", keys=["id"])
    assert r.status == "succeeded", r.error
    from ecluse.sdk.connections import parse_connection

    opts = object_store_options("s3", parse_connection("lake", s3_store["conn"]))
    t = DeltaTable(path, storage_options=opts)
    assert t.version() == 1
    ep = s3_store["conn"]["endpoint_url"].removeprefix("http://")
    setup = (f"CREATE SECRET s (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1', "
             f"ENDPOINT '{ep}', URL_STYLE 'path', USE_SSL false)")
    assert _duckdb_rows(path, setup) == [(1, 1.0), (2, 5.0), (3, 3.0)]
    out = workdir / "back.parquet"
    r = run_doc(chain(node("src", "extractor", "delta", path=path, connection="lake", version=0),
                      node("dst", "loader", "parquet", path=str(out))))
    assert r.status == "succeeded", r.error
    assert sorted(pq.read_table(out).column("amount").to_pylist()) == [1.0, 2.0]


@pytest.mark.emulator
@pytest.mark.parametrize("fixture", ["azure_store"])  # fake-gcs-server lacks the XML API delta-rs uses
def test_on_azurite(fixture: str, request: pytest.FixtureRequest, workdir: Path) -> None:
    store: dict[str, Any] = request.getfixturevalue(fixture)
    path = f"{store['scheme']}://{store['bucket']}/lake/t"
    r = _load(workdir, pa.table({"id": [1, 2], "amount": [1.0, 2.0]}), path=path, connection="lake")
    assert r.status == "succeeded", r.error
    r = _load(workdir, pa.table({"id": [2], "amount": [7.0]}), "m", path=path, connection="lake",
              mode="merge", keys=["id"])
    assert r.status == "succeeded", r.error
    out = workdir / "back.parquet"
    r = run_doc(chain(node("src", "extractor", "delta", path=path, connection="lake"),
                      node("dst", "loader", "parquet", path=str(out))))
    assert r.status == "succeeded", r.error
    assert sorted(pq.read_table(out).column("amount").to_pylist()) == [1.0, 7.0]


def test_bad_credentials_on_s3(s3_store: dict[str, Any], workdir: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import settings

    path = f"s3://{s3_store['bucket']}/lake/secure"
    assert _load(workdir, pa.table({"id": [1]}), path=path, connection="lake").status == "succeeded"
    with monkeypatch.context() as m:
        m.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        r = _load(workdir, pa.table({"id": [2]}), "b", path=path, connection="bad")
        assert r.status == "failed"
        assert "check the credentials of connection 'bad'" in r.error.reason, r.error.reason
        r = run_doc(chain(node("src", "extractor", "delta", path=path, connection="bad"),
                          node("dst", "loader", "parquet", path=str(workdir / "o.parquet"))))
        assert r.status == "failed"
        assert "check the credentials of connection 'bad'" in r.error.reason, r.error.reason
