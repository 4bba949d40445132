"""Loader ``parquet``: Parquet files, optionally Hive-partitioned, published atomically."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ecluse.modules.load.files import FileLoader, FileLoaderConfig


class ParquetLoaderConfig(FileLoaderConfig):
    compression: Literal["zstd", "snappy", "gzip", "lz4", "uncompressed"] = Field(
        "zstd", description="Compression codec of the Parquet files.")


class ParquetLoader(FileLoader):
    name = "parquet"
    title = "Parquet files"
    description = "Write Parquet files (optionally partitioned), replaced atomically."
    icon = "view_column"
    format = "parquet"
    Config = ParquetLoaderConfig
    config: ParquetLoaderConfig
    examples: ClassVar = ({"path": "out/orders", "mode": "overwrite", "partition_by": ["country"]},)

    def file_request(self, staging_dir: object) -> dict[str, object]:
        return {"compression": self.config.compression}
