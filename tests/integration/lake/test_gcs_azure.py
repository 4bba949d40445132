"""`gcs` and `azure_blob` loaders and extractors against fake-gcs-server and Azurite (emulators):
round trips of every format, partitioned layouts, atomic publication, incremental pick-up,
bad credentials. Also the `s3` extractor reading what these loaders' twin layout holds."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecluse.engine.state import MemoryStateStore
from tests.helpers import chain, node, run_doc
from tests.integration.lake.conftest import put
from tests.integration.lake.test_s3_extract import _run

pytestmark = [pytest.mark.integration, pytest.mark.emulator]

ROWS = pa.table({"id": [1, 2, 3, 4], "country": ["FR", "FR", "DE", "ES"],
                 "amount": [1.5, 2.0, 3.25, 4.0]})


@pytest.fixture(params=["gcs", "azure_blob"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    fixture = "gcs_store" if request.param == "gcs" else "azure_store"
    s: dict[str, Any] = request.getfixturevalue(fixture)
    return {**s, "module": request.param, "key": "container" if request.param == "azure_blob" else "bucket"}


def _keys(store: dict[str, Any], prefix: str = "") -> list[str]:
    root = store["root"]
    return sorted(p.split("/", 1)[1] for p in store["fs"].find(f"{root}/{prefix}".rstrip("/")))


def _write(store: dict[str, Any], workdir: Path, table: pa.Table, **config: Any) -> Any:
    src = workdir / f"src-{len(list(workdir.glob('src-*')))}.parquet"
    pq.write_table(table, src)
    return run_doc(chain(node("src", "extractor", "parquet", path=str(src)),
                         node("dst", "loader", store["module"], connection="lake",
                              **{store["key"]: store["bucket"]}, **config)))


def _read(store: dict[str, Any], workdir: Path, state: MemoryStateStore | None = None,
          **config: Any) -> pa.Table:
    out = workdir / f"out-{len(list(workdir.glob('out-*')))}.parquet"
    doc = chain(node("src", "extractor", store["module"], connection="lake",
                     **{store["key"]: store["bucket"]}, **config),
                node("dst", "loader", "parquet", path=str(out)))
    r = _run(doc, state)
    assert r.status == "succeeded", r.error
    return pq.read_table(out).sort_by("id")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_round_trip_every_format(store: dict[str, Any], workdir: Path, fmt: str) -> None:
    r = _write(store, workdir, ROWS, prefix="ds", format=fmt)
    assert r.status == "succeeded", r.error
    keys = _keys(store, "ds")
    assert "ds/_ecluse_manifest.json" in keys
    assert not [k for k in _keys(store) if "ecluse-tmp" in k]
    back = _read(store, workdir, prefix="ds", format=fmt)
    assert back.column("id").to_pylist() == [1, 2, 3, 4]
    assert back.column("amount").to_pylist() == [1.5, 2.0, 3.25, 4.0]


def test_partitions_overwrite_and_append(store: dict[str, Any], workdir: Path) -> None:
    r = _write(store, workdir, ROWS, prefix="p", partition_by=["country"])
    assert r.status == "succeeded", r.error
    assert {k.split("/")[1] for k in _keys(store, "p") if "=" in k} == {"country=DE", "country=ES",
                                                                       "country=FR"}
    back = _read(store, workdir, prefix="p")
    assert back.column("country").to_pylist() == ["FR", "FR", "DE", "ES"]
    r = _write(store, workdir, ROWS.slice(0, 1), prefix="p", partition_by=["country"], mode="append")
    assert r.status == "succeeded", r.error
    assert _read(store, workdir, prefix="p").num_rows == 5
    r = _write(store, workdir, ROWS.slice(3, 1), prefix="p", partition_by=["country"])
    assert r.status == "succeeded", r.error
    assert _read(store, workdir, prefix="p").column("id").to_pylist() == [4]


def test_incremental_new_files_only(store: dict[str, Any], workdir: Path) -> None:
    state = MemoryStateStore()
    put(store, "inc/a.csv", b"id\n1\n")
    assert _read(store, workdir, state, prefix="inc", format="csv", incremental=True).num_rows == 1
    put(store, "inc/b.csv", b"id\n2\n3\n")
    back = _read(store, workdir, state, prefix="inc", format="csv", incremental=True)
    assert back.column("id").to_pylist() == [2, 3]


def test_failed_write_leaves_nothing(store: dict[str, Any], workdir: Path) -> None:
    assert _write(store, workdir, ROWS, prefix="keep").status == "succeeded"
    before = _keys(store, "keep")
    # a cast that fails while the rows are written: the dataset must stay as it was
    src = workdir / "bad.parquet"
    pq.write_table(pa.table({"id": ["1", "x"]}), src)
    r = run_doc(chain(node("src", "extractor", "parquet", path=str(src)),
                      node("c", "transformer", "cleaner", cast={"id": "int64"}),
                      node("dst", "loader", store["module"], connection="lake",
                           **{store["key"]: store["bucket"]}, prefix="keep")))
    assert r.status == "failed"
    assert _keys(store, "keep") == before
    assert not [k for k in _keys(store) if "ecluse-tmp" in k]


def test_xml_from_object_storage(store: dict[str, Any], workdir: Path) -> None:
    put(store, "x/a.xml", b"<r><i id='1'/><i id='2'/></r>")
    back = _read(store, workdir, prefix="x", format="xml", options={"record_path": "i"})
    assert back.column("id").to_pylist() == [1, 2]


def test_bad_credentials_azure(azure_store: dict[str, Any], workdir: Path) -> None:
    put(azure_store, "p/a.parquet", _parquet(ROWS))
    doc = chain(node("src", "extractor", "azure_blob", connection="bad", container=azure_store["bucket"]),
                node("dst", "loader", "parquet", path=str(workdir / "o.parquet")))
    r = run_doc(doc)
    assert r.status == "failed"
    assert "check the credentials of connection 'bad'" in r.error.reason, r.error.reason
    r = run_doc(chain(node("src", "extractor", "parquet", path=str(_local(workdir))),
                      node("dst", "loader", "azure_blob", connection="bad",
                           container=azure_store["bucket"])))
    assert r.status == "failed"
    assert "check the credentials of connection 'bad'" in r.error.reason, r.error.reason


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _local(workdir: Path) -> Path:
    path = workdir / "local.parquet"
    pq.write_table(ROWS, path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_hive_partitions_of_text_formats(store: dict[str, Any], workdir: Path, fmt: str) -> None:
    r = _write(store, workdir, ROWS, prefix="h", format=fmt, partition_by=["country"])
    assert r.status == "succeeded", r.error
    back = _read(store, workdir, prefix="h", format=fmt)
    assert back.column("country").to_pylist() == ["FR", "FR", "DE", "ES"]
    assert back.column("amount").to_pylist() == [1.5, 2.0, 3.25, 4.0]
