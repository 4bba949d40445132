"""What the file loaders (parquet, csv, json) share: target, mode, partitions, atomic publish."""

from __future__ import annotations

from pathlib import PurePath
from typing import ClassVar, Literal

import ibis.expr.types as ir
from pydantic import Field

from ecluse.sdk import Loader, LoadResult, ModuleConfig, NodeContext, columns_field, path_field
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.files import FileFormat, FileWrite, directory_size, staged_output
from ecluse.sdk.relational import require_columns


class FileLoaderConfig(ModuleConfig):
    path: str = path_field("Output file (`out/orders.parquet`) or folder (`out/orders`).")
    mode: Literal["overwrite", "append", "error_if_exists"] = Field(
        "overwrite", description="Replace what is there, add new files beside it, or refuse to "
        "write when the path exists.")
    partition_by: list[str] = columns_field(
        "Write one folder per value (Hive layout `country=FR/`).", default_factory=list)


class FileLoader(Loader):
    """Writes into a staging folder, then moves the result into place in one rename."""

    format: ClassVar[FileFormat]
    category = "Files"
    config: FileLoaderConfig

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        c = self.config
        require_columns(table, c.partition_by, field="partition_by")
        if c.mode == "append" and PurePath(c.path).suffix and not c.partition_by:
            folder = PurePath(c.path).with_suffix("")
            raise ConfigError(f"mode 'append' adds a file to a folder at each run, but {c.path!r} "
                              f"names one file, which the next run could not add to; give a "
                              f"folder such as {str(folder)!r}", field="path")

    def file_request(self, staging_dir: object) -> dict[str, object]:
        """Format options of this loader, merged into the write request."""
        return {}

    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        c = self.config
        target = ctx.resolve_path(c.path)
        single = target.suffix != "" and not c.partition_by
        with staged_output(target, c.mode) as staging:
            request = FileWrite(directory=staging, format=self.format,
                                partition_by=tuple(c.partition_by),
                                single_file_name=target.name if single else None,
                                **self.file_request(staging))  # type: ignore[arg-type]
            rows = ctx.backend.write_files(table, request)
            ctx.progress(rows)
        return LoadResult(rows_written=rows, bytes_written=directory_size(target),
                          location=str(target))
