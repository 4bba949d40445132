"""End to end through `ecluse run`: s3 (csv) -> cleaner -> delta on the S3 server, twice
(incremental: the second run picks up the new file only and merges it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from ecluse.cli import app
from ecluse.sdk.connections import parse_connection
from ecluse.sdk.storage import object_store_options
from tests.helpers import chain, node
from tests.integration.lake.conftest import put

pytestmark = pytest.mark.integration


def test_s3_csv_cleaner_delta_on_s3(s3_store: dict[str, Any], workdir: Path) -> None:
    bucket = s3_store["bucket"]
    put(s3_store, "landing/2024-01.csv", b"id,email,amount\n1, ANA@X.COM ,10.5\n2,bo@x.com,3\n")
    target = f"s3://{bucket}/lake/customers"
    doc = chain(node("src", "extractor", "s3", connection="lake", bucket=bucket, prefix="landing",
                     format="csv", incremental=True),
                node("clean", "transformer", "cleaner", trim=True, case={"email": "lower"}),
                node("dst", "loader", "delta", path=target, connection="lake", mode="merge", keys=["id"]),
                name="s3-to-delta")
    file = workdir / "pipeline.json"
    file.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["run", str(file)])
    assert result.exit_code == 0, result.output
    opts = object_store_options("s3", parse_connection("lake", s3_store["conn"]))
    rows = DeltaTable(target, storage_options=opts).to_pyarrow_table().sort_by("id").to_pylist()
    assert [r["email"] for r in rows] == ["ana@x.com", "bo@x.com"]
    put(s3_store, "landing/2024-02.csv", b"id,email,amount\n2,BO@NEW.COM,4\n3,cy@x.com,1\n")
    result = CliRunner().invoke(app, ["run", str(file)])
    assert result.exit_code == 0, result.output
    table = DeltaTable(target, storage_options=opts)
    rows = table.to_pyarrow_table().sort_by("id").to_pylist()
    assert [r["email"] for r in rows] == ["ana@x.com", "bo@new.com", "cy@x.com"]
    assert table.version() == 1


def test_xml_join_excel_to_iceberg(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    (workdir / "orders.xml").write_text(
        "<?xml version='1.0'?><o:orders xmlns:o='urn:orders'>"
        "<o:order id='1'><o:city>lyon</o:city><o:total>9.5</o:total></o:order>"
        "<o:order id='2'><o:city>nice</o:city><o:total>3</o:total></o:order>"
        "<o:order id='3'><o:city>lyon</o:city><o:total>1.25</o:total></o:order></o:orders>")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["city", "region"])
    sheet.append(["lyon", "ARA"])
    sheet.append(["nice", "PACA"])
    book.save(workdir / "cities.xlsx")
    monkeypatch.setenv("ECLUSE_CONN_CATALOG", json.dumps({
        "type": "iceberg", "uri": f"sqlite:///{workdir}/catalog.db", "warehouse": str(workdir / "wh"),
        "catalog_name": "sales_catalog"}))
    doc = {"name": "xml-excel-iceberg",
           "nodes": [node("orders", "extractor", "xml", path="orders.xml", record_path="/o:orders/o:order",
                          namespaces={"o": "urn:orders"}),
                     node("cities", "extractor", "excel", path="cities.xlsx"),
                     node("j", "transformer", "join", how="left", on=["city"]),
                     node("dst", "loader", "iceberg", connection="catalog", table="sales.orders",
                          partition_by=[{"column": "region"}])],
           "edges": [{"source": "orders", "target": "j", "target_handle": "left"},
                     {"source": "cities", "target": "j", "target_handle": "right"},
                     {"source": "j", "target": "dst"}]}
    file = workdir / "pipeline.json"
    file.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["run", str(file)])
    assert result.exit_code == 0, result.output
    from pyiceberg.catalog.sql import SqlCatalog

    cat = SqlCatalog("sales_catalog", uri=f"sqlite:///{workdir}/catalog.db", warehouse=f"file://{workdir}/wh")
    rows = cat.load_table("sales.orders").scan().to_arrow().sort_by("id").to_pylist()
    assert [(r["id"], r["region"], r["total"]) for r in rows] == [(1, "ARA", 9.5), (2, "PACA", 3.0),
                                                                  (3, "ARA", 1.25)]
