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
