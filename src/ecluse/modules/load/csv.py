"""Loader ``csv``: delimited text, optionally compressed and partitioned, published atomically."""

from __future__ import annotations

from typing import ClassVar, Literal

import ibis.expr.types as ir
from pydantic import Field

from ecluse.modules.load.files import FileLoader, FileLoaderConfig
from ecluse.sdk import NodeContext
from ecluse.sdk.errors import ConfigError


class CsvLoaderConfig(FileLoaderConfig):
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator.")
    header: bool = Field(True, description="Write the column names as the first line.")
    compression: Literal["none", "gzip", "zstd"] = Field("none", description="Compress the files.")


class CsvLoader(FileLoader):
    name = "csv"
    title = "CSV file"
    description = "Write delimited text files, replaced atomically."
    icon = "description"
    format = "csv"
    Config = CsvLoaderConfig
    config: CsvLoaderConfig
    examples: ClassVar = ({"path": "out/report.csv", "delimiter": ";"},)

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        super().check(table, ctx)
        for name, dtype in table.schema().items():
            if dtype.is_nested():
                raise ConfigError(
                    f"column {name!r} holds {type(dtype).__name__.lower()} values, which a CSV "
                    "cell cannot hold; flatten or select what you need first, or write JSON or "
                    "Parquet", field="path")

    def file_request(self, staging_dir: object) -> dict[str, object]:
        c = self.config
        return {"csv_delimiter": c.delimiter, "csv_header": c.header,
                "compression": None if c.compression == "none" else c.compression}
