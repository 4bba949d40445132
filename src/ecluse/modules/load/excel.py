"""Loader ``excel``: a small output as an .xlsx sheet (streamed, written atomically)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from typing import Any, ClassVar, Literal

import ibis.expr.types as ir
from pydantic import Field

from ecluse.sdk import ConfigError, Loader, LoadResult, ModuleConfig, NodeContext, path_field
from ecluse.sdk.files import make_folder

MAX_ROWS = 1_048_576
"""Rows of an Excel sheet, header included."""


class ExcelLoaderConfig(ModuleConfig):
    path: str = path_field("Output workbook (.xlsx).")
    sheet: str = Field("Sheet1", min_length=1, max_length=31, description="Sheet name.")
    mode: Literal["overwrite", "error_if_exists"] = Field(
        "overwrite", description="Replace the workbook, or refuse when it exists.")


class ExcelLoader(Loader):
    name = "excel"
    title = "Excel workbook"
    description = "Write a small output as an Excel sheet (up to 1,048,575 rows)."
    category = "Files"
    icon = "grid_on"
    Config = ExcelLoaderConfig
    config: ExcelLoaderConfig
    examples: ClassVar = ({"path": "out/report.xlsx", "sheet": "Summary"},)

    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        import openpyxl

        c = self.config
        target = ctx.resolve_path(c.path)
        if target.suffix.lower() not in (".xlsx", ".xlsm"):
            raise ConfigError("the path must end with .xlsx", field="path")
        if c.mode == "error_if_exists" and target.exists():
            raise ConfigError(f"{target} already exists and mode is 'error_if_exists'", field="mode")
        make_folder(target.parent)
        temp = target.with_name(f".ecluse-{uuid.uuid4().hex[:8]}-{target.name}")
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet(c.sheet)
        sheet.append(list(table.columns))
        rows = 0
        try:
            for batch in ctx.backend.to_batches(table, batch_size=50_000):
                rows += batch.num_rows
                if rows >= MAX_ROWS:
                    raise ConfigError(f"an Excel sheet holds at most {MAX_ROWS - 1:,} rows under its "
                                      f"header and this output has more; write CSV or Parquet "
                                      "instead, or aggregate first", field="path")
                for record in batch.to_pylist():
                    sheet.append([_cell(v) for v in record.values()])
                ctx.progress(rows)
            book.save(temp)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(Exception):  # release the half-written sheet's streams
                sheet.close()
            raise
        finally:
            temp.unlink(missing_ok=True)
        return LoadResult(rows_written=rows, bytes_written=target.stat().st_size,
                          location=str(target))


def _cell(value: Any) -> Any:
    """Excel has no time zones, lists or structs: naive UTC times and text for the rest."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value, default=str, ensure_ascii=False)
    return value
