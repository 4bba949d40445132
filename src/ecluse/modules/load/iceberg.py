"""Loader ``iceberg``: append to or overwrite an Apache Iceberg table through its catalog
(SQL catalog on SQLite/PostgreSQL by default, REST when configured), with PyIceberg.

Batches stream from the engine into one Iceberg transaction: a new table is created in the
same transaction as its first rows, so a failed run leaves no table and no snapshot."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ecluse.sdk import (
    ConfigError,
    Loader,
    LoadResult,
    ModuleConfig,
    NodeContext,
    column_field,
    connection_field,
)
from ecluse.sdk.iceberg import catalog_from_connection, split_identifier
from ecluse.sdk.relational import require_columns


class PartitionField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str = column_field("Source column.")
    transform: str = Field("identity", description="identity, year, month, day, hour, "
                           "bucket[N] or truncate[W].", examples=["identity", "day", "bucket[16]"])

    @field_validator("transform")
    @classmethod
    def _transform(cls, value: str) -> str:
        if not re.fullmatch(r"identity|year|month|day|hour|bucket\[\d+\]|truncate\[\d+\]", value):
            raise ValueError(f"unknown partition transform {value!r}")
        return value


class IcebergLoadConfig(ModuleConfig):
    connection: str = connection_field("Iceberg catalog connection (SQL or REST catalog).",
                                       kinds=("iceberg",))
    table: str = Field(description="Table identifier `namespace.table` (the namespace is created "
                       "when missing).", examples=["sales.orders"])
    mode: Literal["append", "overwrite"] = Field("append", description="Add rows, or replace "
                                                 "every row of the table (one snapshot).")
    partition_by: list[PartitionField] = Field(
        default_factory=list, description="Partition spec of a new table, e.g. "
        "`[{\"column\": \"order_ts\", \"transform\": \"day\"}]`.")
    merge_schema: bool = Field(False, description="Add new columns of the input to the table.")

    @field_validator("table")
    @classmethod
    def _ident(cls, value: str) -> str:
        plain = value.replace(".", "").replace("_", "").replace("-", "")
        if "." not in value.strip(".") or not plain.isalnum():
            raise ValueError("the table must be `namespace.table` (letters, digits, _ and -)")
        return value


class IcebergLoader(Loader):
    name = "iceberg"
    title = "Iceberg table"
    description = "Append to or overwrite an Apache Iceberg table (SQL or REST catalog), one snapshot a run."
    category = "Lakehouse"
    icon = "ac_unit"
    Config = IcebergLoadConfig
    config: IcebergLoadConfig
    examples: ClassVar = ({"connection": "catalog", "table": "sales.orders", "mode": "append",
                           "partition_by": [{"column": "order_date", "transform": "month"}]},)

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        require_columns(table, [p.column for p in self.config.partition_by], field="partition_by")

    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        import pyarrow as pa
        from pyiceberg.exceptions import NoSuchTableError

        c = self.config
        self.check(table, ctx)
        catalog = catalog_from_connection(ctx, c.connection)
        namespace, _ = split_identifier(c.table)
        catalog.create_namespace_if_not_exists(namespace)
        source = ctx.backend.to_batches(table, batch_size=131_072)
        schema = _iceberg_arrow_schema(source.schema)
        rows = 0

        def batches() -> Any:
            nonlocal rows
            for batch in source:
                ctx.cancel.raise_if_cancelled()
                rows += batch.num_rows
                ctx.progress(rows)
                yield batch.cast(schema) if batch.schema != schema else batch

        stream = pa.RecordBatchReader.from_batches(schema, batches())
        try:
            existing = catalog.load_table(c.table)
        except NoSuchTableError:
            existing = None
        try:
            if existing is None:
                with catalog.create_table_transaction(c.table, schema=schema) as tx:
                    if c.partition_by:
                        with tx.update_spec() as spec:
                            for p in c.partition_by:
                                spec.add_field(p.column, p.transform, f"{p.column}_{_suffix(p.transform)}"
                                               if p.transform != "identity" else p.column)
                    _put(tx, stream, partitioned=bool(c.partition_by), overwrite=False)
            else:
                with existing.transaction() as tx:
                    if c.merge_schema:
                        with tx.update_schema() as update:
                            update.union_by_name(schema)
                    _put(tx, stream, partitioned=not existing.spec().is_unpartitioned(),
                         overwrite=c.mode == "overwrite")
        except ConfigError:
            raise
        except ValueError as exc:
            text = str(exc)
            if "schema" in text.lower() or "mismatch" in text.lower():
                raise ConfigError(f"the input's columns do not match Iceberg table {c.table}: "
                                  f"{text.splitlines()[0][:300]} (set merge_schema to add new "
                                  "columns)", field="merge_schema") from exc
            raise
        loaded = catalog.load_table(c.table)
        snap = loaded.current_snapshot()
        return LoadResult(rows_written=rows, location=c.table,
                          extra={"snapshot_id": snap.snapshot_id if snap else None})


CHUNK_BYTES = 64 * 1024 * 1024


def _put(tx: Any, stream: Any, *, partitioned: bool, overwrite: bool) -> None:
    """Stream into the transaction; PyIceberg takes a stream only for unpartitioned tables, so
    partitioned ones get bounded chunks (about 64 MB of Arrow data each)."""
    import pyarrow as pa

    if not partitioned:
        (tx.overwrite if overwrite else tx.append)(stream)
        return
    chunk: list[Any] = []
    size = 0
    first = True

    def flush() -> None:
        nonlocal chunk, size, first
        data = pa.Table.from_batches(chunk, schema=stream.schema)
        (tx.overwrite if overwrite and first else tx.append)(data)
        chunk, size, first = [], 0, False

    for batch in stream:
        chunk.append(batch)
        size += batch.nbytes
        if size >= CHUNK_BYTES:
            flush()
    if chunk or first:
        flush()


def _suffix(transform: str) -> str:
    return re.sub(r"\W+", "_", transform).strip("_")


def _iceberg_arrow_schema(schema: Any) -> Any:
    """Arrow types Iceberg stores: timestamps in microseconds, no unsigned integers."""
    import pyarrow as pa

    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_timestamp(t) and t.unit != "us":
            t = pa.timestamp("us", tz=t.tz)
        elif pa.types.is_unsigned_integer(t):
            t = pa.int64()
        elif pa.types.is_large_string(t):
            t = pa.string()
        fields.append(pa.field(f.name, t, nullable=True))
    return pa.schema(fields)
