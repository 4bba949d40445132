"""The `s3` extractor against moto's S3 server: every format, Hive partitions, incremental
pick-up of new files only, preview on a sample, bad credentials."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecluse.engine.run import RunOptions, run_pipeline
from ecluse.engine.state import MemoryStateStore
from tests.helpers import chain, compile_doc, node, preview, schemas
from tests.integration.lake.conftest import put

pytestmark = pytest.mark.integration


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _run(doc: dict[str, Any], state: MemoryStateStore | None = None, engine: str | None = None) -> Any:
    return run_pipeline(compile_doc(doc, engine=engine),
                        RunOptions(state=state or MemoryStateStore(), pipeline_id="p"))


def _doc(bucket: str, out: Path, module: str = "s3", **config: Any) -> dict[str, Any]:
    key = "container" if module == "azure_blob" else "bucket"
    return chain(node("src", "extractor", module, connection="lake", **{key: bucket}, **config),
                 node("dst", "loader", "parquet", path=str(out)))


def _read(out: Path) -> pa.Table:
    return pq.read_table(out)


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_parquet_with_hive_partitions(s3_store: dict[str, Any], workdir: Path, engine: str) -> None:
    for country, n in (("FR", 3), ("DE", 2)):
        put(s3_store, f"orders/country={country}/part-0.parquet",
            _parquet(pa.table({"id": list(range(n)), "amount": [1.5] * n})))
    put(s3_store, "orders/_ecluse_manifest.json", b"{}")  # hidden objects are ignored
    out = workdir / "out.parquet"
    result = _run(_doc(s3_store["bucket"], out, prefix="orders", format="parquet"), engine=engine)
    assert result.status == "succeeded", result.error
    t = _read(out)
    assert t.num_rows == 5
    assert sorted(set(t.column("country").to_pylist())) == ["DE", "FR"]


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_csv_json_with_file_options(s3_store: dict[str, Any], workdir: Path, engine: str) -> None:
    put(s3_store, "in/a.csv", b"id;name\n1;Ana\n2;Bo\n")
    put(s3_store, "in/b.csv", b"id;name\n3;Cy\n")
    put(s3_store, "in/skip.txt", b"not me")
    out = workdir / "csv.parquet"
    r = _run(_doc(s3_store["bucket"], out, prefix="in", glob="*.csv", format="csv",
                  options={"delimiter": ";"}), engine=engine)
    assert r.status == "succeeded", r.error
    assert sorted(_read(out).column("name").to_pylist()) == ["Ana", "Bo", "Cy"]
    put(s3_store, "js/x.jsonl", b'{"id": 1, "c": {"email": "a@x"}}\n{"id": 2, "c": {"email": "b@x"}}\n')
    out2 = workdir / "json.parquet"
    r = _run(_doc(s3_store["bucket"], out2, prefix="js", format="json", options={"format": "lines"}),
             engine=engine)
    assert r.status == "succeeded", r.error
    assert _read(out2).column("c_email").to_pylist() == ["a@x", "b@x"]


def test_xml_and_excel(s3_store: dict[str, Any], workdir: Path) -> None:
    put(s3_store, "x/orders.xml", b"<orders><order id='1'><total>9.5</total></order>"
        b"<order id='2'><total>3</total></order></orders>")
    out = workdir / "xml.parquet"
    r = _run(_doc(s3_store["bucket"], out, prefix="x", format="xml",
                  options={"record_path": "/orders/order"}))
    assert r.status == "succeeded", r.error
    assert _read(out).num_rows == 2
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "city"])
    sheet.append([1, "Lyon"])
    sheet.append([2, "Nice"])
    buf = io.BytesIO()
    book.save(buf)
    put(s3_store, "xl/cities.xlsx", buf.getvalue())
    out = workdir / "xl.parquet"
    r = _run(_doc(s3_store["bucket"], out, prefix="xl", format="excel"))
    assert r.status == "succeeded", r.error
    assert _read(out).column("city").to_pylist() == ["Lyon", "Nice"]


def test_incremental_reads_only_new_files(s3_store: dict[str, Any], workdir: Path) -> None:
    state = MemoryStateStore()
    put(s3_store, "inc/1.csv", b"id\n1\n2\n")
    doc = _doc(s3_store["bucket"], workdir / "o1.parquet", prefix="inc", format="csv", incremental=True)
    r = _run(doc, state)
    assert r.status == "succeeded", r.error
    assert _read(workdir / "o1.parquet").column("id").to_pylist() == [1, 2]
    put(s3_store, "inc/2.csv", b"id\n3\n")
    doc = _doc(s3_store["bucket"], workdir / "o2.parquet", prefix="inc", format="csv", incremental=True)
    r = _run(doc, state)
    assert r.status == "succeeded", r.error
    assert _read(workdir / "o2.parquet").column("id").to_pylist() == [3]
    doc = _doc(s3_store["bucket"], workdir / "o3.parquet", prefix="inc", format="csv", incremental=True)
    r = _run(doc, state)
    assert r.status == "succeeded", r.error
    assert _read(workdir / "o3.parquet").num_rows == 0


def test_failed_run_does_not_advance_the_manifest(s3_store: dict[str, Any], workdir: Path) -> None:
    state = MemoryStateStore()
    put(s3_store, "f/1.csv", b"id\n1\n")
    bad = chain(node("src", "extractor", "s3", connection="lake", bucket=s3_store["bucket"], prefix="f",
                     format="csv", incremental=True),
                node("dst", "loader", "parquet", path="/proc/no-such-dir/never.parquet"))
    r = _run(bad, state)
    assert r.status == "failed"
    doc = _doc(s3_store["bucket"], workdir / "ok.parquet", prefix="f", format="csv", incremental=True)
    assert _run(doc, state).status == "succeeded"
    assert _read(workdir / "ok.parquet").column("id").to_pylist() == [1]


def test_preview_and_schema(s3_store: dict[str, Any], workdir: Path) -> None:
    rows = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(100_000))
    put(s3_store, "big/a.csv", rows)
    doc = _doc(s3_store["bucket"], workdir / "x.parquet", prefix="big", format="csv")
    t = preview(doc, "src", limit=10)
    assert t.num_rows == 10
    assert schemas(doc)["src"] == [("id", "int64"), ("name", "string")]


def test_bad_credentials_and_missing_bucket(s3_store: dict[str, Any], workdir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import settings

    put(s3_store, "p/a.parquet", _parquet(pa.table({"id": [1]})))
    # moto checks keys against its IAM users once the no-auth allowance is spent
    doc = chain(node("src", "extractor", "s3", connection="bad", bucket=s3_store["bucket"], prefix="p"),
                node("dst", "loader", "parquet", path=str(workdir / "o.parquet")))
    with monkeypatch.context() as m:
        m.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        r = _run(doc)
    assert r.status == "failed"
    assert "check the credentials of connection 'bad'" in r.error.reason, r.error.reason
    doc = _doc("no-such-bucket-here", workdir / "o.parquet", prefix="p")
    r = _run(doc)
    assert r.status == "failed"
    assert "does not exist" in r.error.reason, r.error.reason
