"""Extractor ``delta``: a Delta Lake table (local or in S3/GCS/Azure), optionally as of a
version or a timestamp (time travel), streamed to the engine as Arrow batches."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import ibis.expr.types as ir
from pydantic import Field, model_validator

from ecluse.sdk import ConfigError, Extractor, ModuleConfig, NodeContext, connection_field
from ecluse.sdk.lake import delta_error, table_location


class DeltaExtractConfig(ModuleConfig):
    path: str = Field(description="Table location: a local folder, or `s3://bucket/path`, "
                      "`gs://bucket/path`, `az://container/path` with a connection.",
                      json_schema_extra={"x-widget": "path"})
    connection: str | None = connection_field(
        "Connection for a table in object storage (type s3, gcs or azure_blob); empty for a "
        "local folder.", kinds=("s3", "gcs", "azure_blob"), default=None)
    version: int | None = Field(None, ge=0, description="Read the table as of this version "
                                "(time travel); default: the latest.")
    timestamp: dt.datetime | None = Field(None, description="Read the table as it was at this "
                                          "time (ISO 8601, e.g. `2024-06-01T00:00:00Z`).")
    columns: list[str] = Field(default_factory=list, description="Only these columns (all when empty).")

    @model_validator(mode="after")
    def _one(self) -> DeltaExtractConfig:
        if self.version is not None and self.timestamp is not None:
            raise ValueError("give `version` or `timestamp`, not both")
        return self


class DeltaExtractor(Extractor):
    name = "delta"
    title = "Delta Lake table"
    description = "Read a Delta table (local or object storage), optionally at a past version or time."
    category = "Lakehouse"
    icon = "change_history"
    Config = DeltaExtractConfig
    config: DeltaExtractConfig
    examples: ClassVar = ({"path": "s3://lake/orders", "connection": "lake"},
                          {"path": "lake/orders", "version": 3})

    def _table(self, ctx: NodeContext) -> Any:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        c = self.config
        uri, options = table_location(ctx, c.path, c.connection)
        try:
            table = DeltaTable(uri, storage_options=options or None)
            if c.version is not None:
                table.load_as_version(c.version)
            elif c.timestamp is not None:
                ts = c.timestamp if c.timestamp.tzinfo else c.timestamp.replace(tzinfo=dt.UTC)
                table.load_as_version(ts)
        except TableNotFoundError as exc:
            raise ConfigError(f"no Delta table at {c.path}", field="path") from exc
        except Exception as exc:
            clear = delta_error(exc, c.path, c.connection)
            if clear is not None:
                raise clear from exc
            if c.version is not None or c.timestamp is not None:
                raise ConfigError(f"{c.path} has no version "
                                  f"{c.version if c.version is not None else c.timestamp}: "
                                  f"{str(exc).splitlines()[0][:200]}", field="version") from exc
            raise
        return table

    def read(self, ctx: NodeContext) -> ir.Table:
        table = self._table(ctx)
        dataset = table.to_pyarrow_dataset()
        columns = self.config.columns or None
        if columns:
            missing = [col for col in columns if col not in dataset.schema.names]
            if missing:
                raise ConfigError(f"the table has no column(s) {missing}", field="columns")
        ctx.metrics["version"] = table.version()
        if ctx.mode == "schema":
            schema = dataset.schema if not columns else dataset.schema.empty_table().select(columns).schema
            return ctx.backend.from_arrow(schema.empty_table(), name="delta")
        if ctx.mode == "preview":
            rows = dataset.head(ctx.sample_rows or 1000, columns=columns)
            return ctx.backend.from_arrow(rows, name="delta")
        reader = dataset.scanner(columns=columns, batch_size=131_072).to_reader()
        return ctx.backend.from_arrow(reader, name="delta")
