"""XML and Excel sources (and the Excel loader) on real-world quirks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from ecluse.modules.load import excel as excel_loader
from tests.helpers import chain, node, preview, run_doc, schemas

ORDERS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<o:orders xmlns:o="http://example.com/orders" xmlns:c="http://example.com/customer">
  <!-- exported nightly -->
  <o:order id="1" status="paid">
    <o:date>2024-03-01</o:date>
    <o:amount>12.50</o:amount>
    <c:customer><c:email>a@example.com</c:email><c:city>Lyon</c:city></c:customer>
    <o:note><![CDATA[fragile <glass> & "care"]]></o:note>
    <o:tag>gift</o:tag><o:tag>express</o:tag>
  </o:order>
  <o:order id="2" status="open">
    <o:date>2024-03-02</o:date>
    <o:amount>7</o:amount>
    <c:customer><c:email>b@example.com</c:email><c:city>Paris</c:city></c:customer>
    <o:tag>standard</o:tag>
    <o:late_field>only here</o:late_field>
  </o:order>
</o:orders>
"""


def xml_doc(**config: object) -> dict[str, object]:
    return chain(node("src", "extractor", "xml", **config),
                 node("out", "loader", "parquet", path="out.parquet"))


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_xml_namespaces_attributes_nesting_cdata_lists(workdir: Path, engine: str) -> None:
    (workdir / "orders.xml").write_text(ORDERS_XML)
    doc = xml_doc(path="orders.xml", record_path="/o:orders/o:order",
                  namespaces={"o": "http://example.com/orders"})
    cols = dict(schemas(doc, engine=engine)["src"] or [])
    assert cols == {"id": "int64", "status": "string", "date": "date", "amount": "float64",
                    "customer_email": "string", "customer_city": "string", "note": "string",
                    "tag": "array<string>", "late_field": "string"}
    rows = preview(doc, "src", engine=engine).to_pylist()
    assert rows[0]["note"] == 'fragile <glass> & "care"'
    assert rows[0]["tag"] == ["gift", "express"] and rows[1]["tag"] == ["standard"]
    assert rows[1]["late_field"] == "only here" and rows[0]["late_field"] is None
    assert rows[0]["date"] == dt.date(2024, 3, 1)


def test_xml_relative_path_and_attribute_prefix(workdir: Path) -> None:
    (workdir / "orders.xml").write_text(ORDERS_XML)
    rows = preview(xml_doc(path="orders.xml", record_path="order", attribute_prefix="@"),
                   "src").to_pylist()
    assert [r["@id"] for r in rows] == [1, 2]


def test_xml_streams_many_records(workdir: Path) -> None:
    body = "".join(f"<r n='{i}'><v>{i * 2}</v></r>" for i in range(25_000))
    (workdir / "big.xml").write_text(f"<root>{body}</root>")
    result = run_doc(xml_doc(path="big.xml", record_path="r"))
    assert result.status == "succeeded", result.error
    assert result.nodes["out"].rows_out == 25_000


def test_malformed_xml_names_the_line(workdir: Path) -> None:
    (workdir / "bad.xml").write_text("<root>\n<r><v>1</v></r>\n<r><v>2</r>\n</root>")
    result = run_doc(xml_doc(path="bad.xml", record_path="r"))
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "src"
    assert "bad.xml is not well-formed XML at line 3" in result.error.reason


def test_xml_type_drift_is_explained(workdir: Path) -> None:
    body = "".join(f"<r><v>{i}</v></r>" for i in range(10_005)) + "<r><v>n/a</v></r>"
    (workdir / "drift.xml").write_text(f"<root>{body}</root>")
    result = run_doc(xml_doc(path="drift.xml", record_path="r"))
    assert result.status == "failed" and result.error is not None
    assert "record 10006: 'n/a' in 'v'" in result.error.reason
    result = run_doc(xml_doc(path="drift.xml", record_path="r", columns={"v": "string"}))
    assert result.status == "succeeded", result.error


def _workbook(path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Budget"
    ws["A1"] = "Budget 2024 (exported)"
    ws.append([])
    ws.append(["Region", "Q1", None, "Opened"])   # "Q1" header merged over two columns
    ws.merge_cells("B3:C3")
    ws.append(["North", 10, 11, dt.date(2024, 1, 15)])
    ws.append(["South", 20.5, None, dt.date(2024, 2, 1)])
    ws["D4"].number_format = "yyyy-mm-dd"  # a date stored as a number with a date format
    wb.create_sheet("Empty")
    other = wb.create_sheet("Other")
    other.append(["Region", "Q1"])
    other.append(["East", 5])
    wb.save(path)


def excel_doc(**config: object) -> dict[str, object]:
    return chain(node("src", "extractor", "excel", **config),
                 node("out", "loader", "parquet", path="out.parquet"))


def test_excel_header_row_range_merged_headers_dates(workdir: Path) -> None:
    _workbook(workdir / "b.xlsx")
    rows = preview(excel_doc(path="b.xlsx", sheet="Budget", header_row=3), "src").to_pylist()
    assert rows == [{"Region": "North", "Q1": 10.0, "Q1_2": 11.0, "Opened": dt.date(2024, 1, 15)},
                    {"Region": "South", "Q1": 20.5, "Q1_2": None, "Opened": dt.date(2024, 2, 1)}]
    ranged = preview(excel_doc(path="b.xlsx", sheet=0, range="A3:B4"), "src").to_pylist()
    assert ranged == [{"Region": "North", "Q1": 10.0}]


def test_excel_all_sheets_and_empty_sheet(workdir: Path) -> None:
    _workbook(workdir / "b.xlsx")
    result = run_doc(excel_doc(path="b.xlsx", sheet="Other"))
    assert result.status == "succeeded", result.error
    empty = run_doc(excel_doc(path="b.xlsx", sheet="Empty"))
    assert empty.status == "failed" and empty.error is not None
    assert "sheet 'Empty' of" in empty.error.reason and "is empty" in empty.error.reason
    missing = run_doc(excel_doc(path="b.xlsx", sheet="Nope"))
    assert missing.error is not None and "sheets are: Budget, Empty, Other" in missing.error.reason
    rows = preview(excel_doc(path="b.xlsx", sheet="*"), "src").to_pylist()
    assert {r["sheet"] for r in rows} == {"Budget", "Other"}


def test_excel_loader_round_trip_and_row_limit(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "in.csv").write_text("name,when,amount\nzoé,2024-01-02,1.5\nbob,2024-02-03,\n")
    doc = chain(node("src", "extractor", "csv", path="in.csv"),
                node("out", "loader", "excel", path="out/report.xlsx", sheet="Report"))
    result = run_doc(doc)
    assert result.status == "succeeded", result.error
    back = preview(excel_doc(path="out/report.xlsx", sheet="Report"), "src").to_pylist()
    assert back == [{"name": "zoé", "when": dt.date(2024, 1, 2), "amount": 1.5},
                    {"name": "bob", "when": dt.date(2024, 2, 3), "amount": None}]
    before = (workdir / "out" / "report.xlsx").read_bytes()
    monkeypatch.setattr(excel_loader, "MAX_ROWS", 2)
    result = run_doc(doc)
    assert result.status == "failed" and result.error is not None
    assert "at most 1 rows" in result.error.reason and "Parquet" in result.error.reason
    assert (workdir / "out" / "report.xlsx").read_bytes() == before
    assert [p.name for p in (workdir / "out").iterdir()] == ["report.xlsx"]
