from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import chain, node, run_doc, transform_table


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_csv_to_parquet_runs_on_both_engines(workdir: Path, engine: str) -> None:
    (workdir / "in.csv").write_text("id,name\n1, a \n2,b\n2,b\n")
    doc = chain(node("src", "extractor", "csv", path="in.csv"),
                node("clean", "transformer", "cleaner", trim=True, remove_duplicates=True),
                node("out", "loader", "parquet", path="out.parquet"))
    result = run_doc(doc, engine=engine)
    assert result.status == "succeeded", result.error
    table = pq.read_table(workdir / "out.parquet").sort_by("id")
    assert table.to_pylist() == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert result.nodes["out"].rows_out == 2


def test_transform_table_helper() -> None:
    out = transform_table("cleaner", pa.table({"a": [" x ", None]}), trim=True, fill_nulls={"a": "?"})
    assert out.column("a").to_pylist() == ["x", "?"]
