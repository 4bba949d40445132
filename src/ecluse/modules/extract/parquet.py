"""Extractor ``parquet``: Parquet files or Hive-partitioned folders."""

from __future__ import annotations

import ibis.expr.types as ir
from pydantic import Field

from ecluse.sdk import ConfigError, Extractor, ModuleConfig, NodeContext, path_field
from ecluse.sdk.files import expand_paths


class ParquetConfig(ModuleConfig):
    path: str = path_field("A file, a folder (searched recursively) or a glob such as "
                           "`lake/orders/**/*.parquet`.")
    hive_partitioning: bool = Field(True, description="Read `key=value` folder names as columns.")


class ParquetExtractor(Extractor):
    name = "parquet"
    title = "Parquet files"
    description = "Read Parquet files, with Hive partitions as columns."
    category = "Files"
    icon = "view_column"
    Config = ParquetConfig
    config: ParquetConfig

    def read(self, ctx: NodeContext) -> ir.Table:
        paths = [p for p in expand_paths(self.config.path, base_dir=ctx.base_dir)
                 if not p.endswith((".crc", ".json", ".txt"))]
        if not paths:
            raise ConfigError(f"no Parquet file found at {self.config.path!r}", field="path")
        ctx.metrics["files"] = len(paths)
        return ctx.backend.scan_parquet(paths, hive_partitioning=self.config.hive_partitioning)
