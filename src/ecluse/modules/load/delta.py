"""Loader ``delta``: a Delta Lake table (local or in S3/GCS/Azure) written with delta-rs.

Batches stream from the engine into ``write_deltalake`` (or a Delta MERGE) without the whole
table in Python memory. Each run is one Delta commit: if anything fails before the commit,
the table is exactly as before (files written without a commit are never read, and
``vacuum`` removes them). ``optimize`` and ``vacuum`` add their own commits after it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import ibis.expr.types as ir
from pydantic import Field, model_validator

from ecluse.sdk import (
    ConfigError,
    Loader,
    LoadResult,
    ModuleConfig,
    NodeContext,
    columns_field,
    connection_field,
)
from ecluse.sdk.lake import delta_error, table_location
from ecluse.sdk.relational import require_columns


class DeltaLoadConfig(ModuleConfig):
    path: str = Field(description="Table location: a local folder, or `s3://bucket/path`, "
                      "`gs://bucket/path`, `az://container/path` with a connection.",
                      json_schema_extra={"x-widget": "path"},
                      examples=["lake/orders", "s3://lake/orders"])
    connection: str | None = connection_field(
        "Connection for a table in object storage (type s3, gcs or azure_blob); empty for a "
        "local folder.", kinds=("s3", "gcs", "azure_blob"), default=None)
    mode: Literal["append", "overwrite", "merge"] = Field(
        "append", description="Add rows, replace the table's rows, or upsert on `keys` (a Delta "
        "MERGE: matching rows updated, others inserted).")
    keys: list[str] = columns_field("Columns identifying a row (merge).", default_factory=list)
    partition_by: list[str] = columns_field("Partition columns, when the table is created.",
                                            default_factory=list)
    merge_schema: bool = Field(False, description="Add new columns of the input to the table "
                               "(schema evolution); otherwise a different schema is an error.")
    optimize: bool = Field(False, description="Compact small files after the write (one more commit).")
    vacuum_retention_hours: int | None = Field(
        None, ge=0, description="After the write, delete files no longer referenced and older "
        "than this many hours (time travel before that point is then impossible).")
    target_file_size_mb: int | None = Field(None, ge=1, le=10_000,
                                            description="Target size of the data files (MB).")

    @model_validator(mode="after")
    def _keys(self) -> DeltaLoadConfig:
        if self.mode == "merge" and not self.keys:
            raise ValueError("mode 'merge' needs `keys`")
        return self


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DeltaLoader(Loader):
    name = "delta"
    title = "Delta Lake table"
    description = "Append, overwrite or merge into a Delta table (local or object storage); one commit a run."
    category = "Lakehouse"
    icon = "change_history"
    Config = DeltaLoadConfig
    config: DeltaLoadConfig
    examples: ClassVar = ({"path": "s3://lake/orders", "connection": "lake", "mode": "merge",
                           "keys": ["order_id"], "merge_schema": True},
                          {"path": "lake/events", "mode": "append", "partition_by": ["day"]})

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        c = self.config
        require_columns(table, c.keys, field="keys")
        require_columns(table, c.partition_by, field="partition_by")

    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        from deltalake import DeltaTable, write_deltalake
        from deltalake.exceptions import TableNotFoundError

        c = self.config
        self.check(table, ctx)
        uri, options = table_location(ctx, c.path, c.connection)
        try:
            existing: Any = DeltaTable(uri, storage_options=options or None)
        except TableNotFoundError:
            existing = None
        except Exception as exc:
            raise (delta_error(exc, c.path, c.connection) or exc) from exc
        before = existing.version() if existing is not None else -1
        reader = ctx.backend.to_batches(table, batch_size=131_072)
        counted = _Counting(reader, ctx)
        stream = counted.reader()
        result = LoadResult(location=c.path)
        try:
            if c.mode == "merge" and existing is not None:
                predicate = " AND ".join(f"target.{_quote(k)} = source.{_quote(k)}" for k in c.keys)
                metrics = (existing.merge(stream, predicate, source_alias="source",
                                          target_alias="target", merge_schema=c.merge_schema)
                           .when_matched_update_all().when_not_matched_insert_all().execute())
                result.rows_inserted = int(metrics.get("num_target_rows_inserted", 0))
                result.rows_updated = int(metrics.get("num_target_rows_updated", 0))
            else:
                mode: Any = "overwrite" if c.mode == "overwrite" else "append"
                schema_mode: Any = "merge" if c.merge_schema else None
                if c.mode == "overwrite" and c.merge_schema:
                    schema_mode = "overwrite"
                write_deltalake(existing if existing is not None else uri, stream, mode=mode,
                                partition_by=c.partition_by or None, schema_mode=schema_mode,
                                storage_options=options or None,
                                target_file_size=c.target_file_size_mb * 1024 * 1024
                                if c.target_file_size_mb else None)
        except ConfigError:
            raise
        except Exception as exc:
            clear = delta_error(exc, c.path, c.connection)
            if clear is not None:
                raise clear from exc
            if "schema" in str(exc).lower() and "merge_schema" not in str(exc):
                raise ConfigError(f"the input's columns do not match the Delta table {c.path}: "
                                  f"{str(exc).splitlines()[0][:300]} (set merge_schema to add new "
                                  "columns)", field="merge_schema") from exc
            raise
        written = DeltaTable(uri, storage_options=options or None)
        if c.optimize:
            written.optimize.compact()
        if c.vacuum_retention_hours is not None:
            written.vacuum(retention_hours=c.vacuum_retention_hours, dry_run=False,
                           enforce_retention_duration=False)
        result.rows_written = counted.rows
        result.extra = {"version_before": before, "version": written.version()}
        return result


class _Counting:
    """Pass batches through, counting rows and honouring cancellation."""

    def __init__(self, reader: Any, ctx: NodeContext) -> None:
        self.source, self.ctx, self.rows = reader, ctx, 0

    def reader(self) -> Any:
        import pyarrow as pa

        def batches() -> Any:
            for batch in self.source:
                self.ctx.cancel.raise_if_cancelled()
                self.rows += batch.num_rows
                self.ctx.progress(self.rows)
                yield batch

        return pa.RecordBatchReader.from_batches(self.source.schema, batches())
