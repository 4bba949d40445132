"""The `iceberg` loader and extractor on a SQL catalog (SQLite): append, overwrite, partition
spec, schema evolution, snapshot selection, a failed run leaving no snapshot; read back by
pyiceberg."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import chain, node, preview, run_doc, schemas

pytestmark = pytest.mark.integration


@pytest.fixture
def catalog(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    conn = {"type": "iceberg", "catalog": "sql", "uri": f"sqlite:///{workdir}/catalog.db",
            "warehouse": str(workdir / "warehouse")}
    monkeypatch.setenv("ECLUSE_CONN_CAT", json.dumps(conn))
    from pyiceberg.catalog.sql import SqlCatalog

    return lambda: SqlCatalog("cat", uri=conn["uri"], warehouse=f"file://{workdir}/warehouse")


def _load(workdir: Path, rows: pa.Table, **config: Any) -> Any:
    src = workdir / f"src-{len(list(workdir.glob('src-*')))}.parquet"
    pq.write_table(rows, src)
    return run_doc(chain(node("src", "extractor", "parquet", path=str(src)),
                         node("dst", "loader", "iceberg", **{"connection": "cat", **config})))


def test_append_overwrite_snapshots(workdir: Path, catalog: Any) -> None:
    rows = pa.table({"id": [1, 2], "country": ["FR", "DE"], "amount": [1.0, 2.0]})
    r = _load(workdir, rows, table="sales.orders",
              partition_by=[{"column": "country", "transform": "identity"}])
    assert r.status == "succeeded", r.error
    r = _load(workdir, pa.table({"id": [3], "country": ["FR"], "amount": [3.0]}), table="sales.orders")
    assert r.status == "succeeded", r.error
    t = catalog().load_table("sales.orders")
    assert sorted(t.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]
    assert [f.name for f in t.spec().fields] == ["country"]
    first = t.snapshots()[0].snapshot_id
    r = _load(workdir, pa.table({"id": [9], "country": ["ES"], "amount": [9.0]}), table="sales.orders",
              mode="overwrite")
    assert r.status == "succeeded", r.error
    t = catalog().load_table("sales.orders")
    assert t.scan().to_arrow().column("id").to_pylist() == [9]
    out = workdir / "first.parquet"
    r = run_doc(chain(node("src", "extractor", "iceberg", connection="cat", table="sales.orders",
                           snapshot_id=first),
                      node("dst", "loader", "parquet", path=str(out))))
    assert r.status == "succeeded", r.error
    assert sorted(pq.read_table(out).column("id").to_pylist()) == [1, 2]
    doc = chain(node("src", "extractor", "iceberg", connection="cat", table="sales.orders"),
                node("dst", "loader", "parquet", path=str(workdir / "x.parquet")))
    assert preview(doc, "src").column("id").to_pylist() == [9]
    assert schemas(doc)["src"] == [("id", "int64"), ("country", "string"), ("amount", "float64")]


def test_schema_evolution(workdir: Path, catalog: Any) -> None:
    assert _load(workdir, pa.table({"id": [1]}), table="db.t").status == "succeeded"
    wider = pa.table({"id": [2], "note": ["x"]})
    r = _load(workdir, wider, table="db.t")
    assert r.status == "failed"
    r = _load(workdir, wider, table="db.t", merge_schema=True)
    assert r.status == "succeeded", r.error
    got = catalog().load_table("db.t").scan().to_arrow().sort_by("id")
    assert got.column("note").to_pylist() == [None, "x"]


def test_failed_run_leaves_no_table_or_snapshot(workdir: Path, catalog: Any) -> None:
    src = workdir / "bad.parquet"
    pq.write_table(pa.table({"id": ["1", "x"]}), src)

    def bad(**config: Any) -> Any:
        return run_doc(chain(node("src", "extractor", "parquet", path=str(src)),
                             node("c", "transformer", "cleaner", cast={"id": "int64"}),
                             node("dst", "loader", "iceberg", **{"connection": "cat", **config})))

    assert bad(table="db.never").status == "failed"
    assert not catalog().table_exists("db.never")
    assert _load(workdir, pa.table({"id": [1]}), table="db.kept").status == "succeeded"
    before = [s.snapshot_id for s in catalog().load_table("db.kept").snapshots()]
    assert bad(table="db.kept", mode="overwrite").status == "failed"
    t = catalog().load_table("db.kept")
    assert [s.snapshot_id for s in t.snapshots()] == before
    assert t.scan().to_arrow().column("id").to_pylist() == [1]


def test_warehouse_on_the_s3_server(s3_store: dict[str, Any], workdir: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"type": "iceberg", "uri": f"sqlite:///{workdir}/s3cat.db",
            "warehouse": f"s3://{s3_store['bucket']}/warehouse", "s3_connection": "lake"}
    monkeypatch.setenv("ECLUSE_CONN_S3CAT", json.dumps(conn))
    r = run_doc(chain(_source_node(workdir, pa.table({"id": [1, 2]})),
                      node("dst", "loader", "iceberg", connection="s3cat", table="lake.t")))
    assert r.status == "succeeded", r.error
    assert [k for k in s3_store["fs"].find(s3_store["bucket"]) if k.endswith(".parquet")]
    out = workdir / "back.parquet"
    r = run_doc(chain(node("src", "extractor", "iceberg", connection="s3cat", table="lake.t"),
                      node("dst", "loader", "parquet", path=str(out))))
    assert r.status == "succeeded", r.error
    assert sorted(pq.read_table(out).column("id").to_pylist()) == [1, 2]


def test_an_s3_connection_that_is_missing_or_of_another_type(workdir: Path, catalog: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """One of another type was read as if it were s3 (its fields silently ignored)."""
    conn = {"type": "iceberg", "uri": f"sqlite:///{workdir}/catalog.db",
            "warehouse": str(workdir / "warehouse")}
    for s3, message in (("cat", "which is of type 'iceberg', not s3"),
                        ("minio", "which does not exist")):
        monkeypatch.setenv("ECLUSE_CONN_LAKE", json.dumps({**conn, "s3_connection": s3}))
        r = _load(workdir, pa.table({"id": [1]}), connection="lake", table="db.t")
        assert r.status == "failed" and r.error is not None
        assert r.error.field == "connection"
        assert f"connection 'lake' names s3_connection {s3!r}, {message}" in r.error.reason


def _source_node(workdir: Path, rows: pa.Table) -> dict[str, Any]:
    src = workdir / "s3src.parquet"
    pq.write_table(rows, src)
    return node("src", "extractor", "parquet", path=str(src))


def test_bad_catalog_and_missing_table(workdir: Path, catalog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECLUSE_CONN_NOPE", json.dumps({"type": "iceberg", "catalog": "rest",
                                                       "uri": "http://127.0.0.1:9/catalog"}))
    r = _load(workdir, pa.table({"id": [1]}), connection="nope", table="db.t")
    assert r.status == "failed"
    assert "cannot open the Iceberg catalog of connection 'nope'" in r.error.reason, r.error.reason
    r = run_doc(chain(node("src", "extractor", "iceberg", connection="cat", table="db.missing"),
                      node("dst", "loader", "parquet", path=str(workdir / "o.parquet"))))
    assert r.status == "failed"
    assert "no Iceberg table 'db.missing'" in r.error.reason, r.error.reason
