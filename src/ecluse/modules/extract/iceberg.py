"""Extractor ``iceberg``: an Apache Iceberg table from its catalog, at the current snapshot or
a chosen one (by id or by time), streamed to the engine as Arrow batches."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import ibis.expr.types as ir
from pydantic import Field, model_validator

from ecluse.sdk import ConfigError, Extractor, ModuleConfig, NodeContext, connection_field
from ecluse.sdk.iceberg import catalog_from_connection, split_identifier


class IcebergExtractConfig(ModuleConfig):
    connection: str = connection_field("Iceberg catalog connection (SQL or REST catalog).",
                                       kinds=("iceberg",))
    table: str = Field(description="Table identifier `namespace.table`.", examples=["sales.orders"])
    snapshot_id: int | None = Field(None, description="Read this snapshot; default: the current one.")
    as_of: dt.datetime | None = Field(None, description="Read the snapshot current at this time "
                                      "(ISO 8601).")
    columns: list[str] = Field(default_factory=list, description="Only these columns (all when empty).")
    row_filter: str | None = Field(None, description="Filter pushed into the scan (Iceberg "
                                   "expression syntax), e.g. `country = 'FR' and amount > 10`.")

    @model_validator(mode="after")
    def _one(self) -> IcebergExtractConfig:
        if self.snapshot_id is not None and self.as_of is not None:
            raise ValueError("give `snapshot_id` or `as_of`, not both")
        return self


class IcebergExtractor(Extractor):
    name = "iceberg"
    title = "Iceberg table"
    description = "Read an Apache Iceberg table (SQL or REST catalog), optionally at a past snapshot."
    category = "Lakehouse"
    icon = "ac_unit"
    Config = IcebergExtractConfig
    config: IcebergExtractConfig
    examples: ClassVar = ({"connection": "catalog", "table": "sales.orders"},
                          {"connection": "catalog", "table": "sales.orders", "as_of": "2024-06-01T00:00:00Z"})

    def read(self, ctx: NodeContext) -> ir.Table:
        from pyiceberg.exceptions import NoSuchTableError

        c = self.config
        split_identifier(c.table)
        catalog = catalog_from_connection(ctx, c.connection)
        try:
            table = catalog.load_table(c.table)
        except NoSuchTableError as exc:
            raise ConfigError(f"no Iceberg table {c.table!r} in the catalog", field="table") from exc
        snapshot_id = c.snapshot_id
        if snapshot_id is not None and table.snapshot_by_id(snapshot_id) is None:
            raise ConfigError(f"table {c.table} has no snapshot {snapshot_id}", field="snapshot_id")
        if c.as_of is not None:
            ts = c.as_of if c.as_of.tzinfo else c.as_of.replace(tzinfo=dt.UTC)
            snap = table.snapshot_as_of_timestamp(int(ts.timestamp() * 1000))
            if snap is None:
                raise ConfigError(f"table {c.table} had no snapshot at {ts.isoformat()}", field="as_of")
            snapshot_id = snap.snapshot_id
        kwargs: dict[str, Any] = {"snapshot_id": snapshot_id}
        if c.columns:
            kwargs["selected_fields"] = tuple(c.columns)
        if c.row_filter:
            kwargs["row_filter"] = c.row_filter
        if ctx.mode != "run":
            kwargs["limit"] = 0 if ctx.mode == "schema" else (ctx.sample_rows or 1000)
            return ctx.backend.from_arrow(table.scan(**kwargs).to_arrow(), name="iceberg")
        current = table.current_snapshot()
        ctx.metrics["snapshot_id"] = snapshot_id or (current.snapshot_id if current else None)
        return ctx.backend.from_arrow(table.scan(**kwargs).to_arrow_batch_reader(), name="iceberg")
