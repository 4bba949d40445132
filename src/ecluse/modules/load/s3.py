"""Loader ``s3``: Parquet, CSV or JSON-lines objects in S3 or any S3-compatible store (MinIO...).

Batches stream from the engine into rolling local files (one writer per partition, a new
file past the target size), each uploaded (multipart past the chunk size) under a temporary
prefix beside the dataset. Only when everything is uploaded are the objects copied into
place, old objects removed (overwrite) and a manifest written; on any failure the temporary
objects are deleted and the dataset is untouched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import ibis.expr.types as ir
from pydantic import Field, field_validator

from ecluse.sdk import (
    ConfigError,
    Loader,
    LoadResult,
    ModuleConfig,
    NodeContext,
    column_field,
    connection_field,
)
from ecluse.sdk.relational import require_columns
from ecluse.sdk.s3 import s3_client

MANIFEST = "_ecluse_manifest.json"
DatePart = Literal["year", "month", "day", "hour"]


class DerivedPartitions(ModuleConfig):
    column: str = column_field("Timestamp or date column the partition values come from.")
    parts: list[DatePart] = Field(min_length=1, description="Parts of the date, in folder order, "
                                  "e.g. `[\"year\", \"month\"]` -> `year=2024/month=3/`.")


class S3LoaderConfig(ModuleConfig):
    connection: str = connection_field(
        "S3 connection: access key, secret, region, and `endpoint_url` for MinIO and other "
        "S3-compatible stores.", kinds=("s3",))
    bucket: str = Field(min_length=3, max_length=63, description="Bucket name.")
    prefix: str = Field("", description="Folder (key prefix) of the dataset, e.g. `orders`.")
    format: Literal["parquet", "csv", "json"] = Field("parquet", description="File format "
                                                      "(json is JSON lines).")
    partition_by: list[str] | DerivedPartitions = Field(
        default_factory=list, description="Existing columns (one folder per value, "
        "`country=FR/`), or parts derived from a timestamp: "
        "`{\"column\": \"order_ts\", \"parts\": [\"year\", \"month\"]}`.",
        json_schema_extra={"x-widget": "columns"})
    mode: Literal["overwrite", "append"] = Field(
        "overwrite", description="Replace the dataset under the prefix, or add new files beside it.")
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] | None = Field(
        None, description="Codec; defaults to zstd for Parquet and none for CSV/JSON "
        "(which accept gzip).")
    target_file_size_mb: int = Field(128, ge=1, le=5_000, description="Start a new file past this "
                                     "size (MB, compressed).")
    multipart_chunk_mb: int = Field(16, ge=5, le=5_000, description="Upload in parts of this size.")

    @field_validator("prefix")
    @classmethod
    def _clean_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if any(part in (".", "..") for part in value.split("/")):
            raise ValueError("the prefix may not contain '.' or '..' folders")
        return value


@dataclass
class _Open:
    path: Path
    key: str
    writer: Any
    rows: int = 0


@dataclass
class _Upload:
    """Everything put under the temporary prefix, so a failure can remove it all."""

    client: Any
    bucket: str
    temp_prefix: str
    chunk: int
    keys: list[tuple[str, str]] = field(default_factory=list)  # (temp key, final key)
    bytes: int = 0

    def put(self, path: Path, final_key: str) -> None:
        from boto3.s3.transfer import TransferConfig

        temp_key = f"{self.temp_prefix}/{final_key}"
        size = path.stat().st_size
        self.keys.append((temp_key, final_key))  # before: a half upload is cleaned up too
        self.client.upload_file(str(path), self.bucket, temp_key, Config=TransferConfig(
            multipart_threshold=self.chunk, multipart_chunksize=self.chunk, use_threads=False))
        self.bytes += size


class S3Loader(Loader):
    name = "s3"
    title = "S3 / MinIO"
    description = "Write Parquet, CSV or JSON files to S3 or MinIO, partitioned, published atomically."
    category = "Cloud storage"
    icon = "cloud_upload"
    Config = S3LoaderConfig
    config: S3LoaderConfig
    examples: ClassVar = ({"connection": "lake", "bucket": "data-lake", "prefix": "orders",
                           "format": "parquet", "partition_by": ["year", "month"]},
                          {"connection": "lake", "bucket": "data-lake", "prefix": "orders",
                           "partition_by": {"column": "order_ts", "parts": ["year", "month"]}})

    # -- design time ------------------------------------------------------------------------
    def _prepare(self, table: ir.Table) -> tuple[ir.Table, list[str]]:
        """The relation to write (derived partition columns added) and the partition columns."""
        import ibis.expr.datatypes as idt

        p = self.config.partition_by
        if isinstance(p, DerivedPartitions):
            require_columns(table, [p.column], field="partition_by")
            dtype = table.schema()[p.column]
            if not isinstance(dtype, idt.Timestamp | idt.Date):
                raise ConfigError(f"column {p.column!r} is {dtype}, not a timestamp or date: "
                                  "partition parts cannot be derived from it", field="partition_by")
            if "hour" in p.parts and isinstance(dtype, idt.Date):
                raise ConfigError(f"column {p.column!r} is a date: it has no hour", field="partition_by")
            col = table[p.column]
            clash = [part for part in p.parts if part in table.columns]
            if clash:
                raise ConfigError(f"the input already has column(s) {clash}; partition by them "
                                  "directly with a list", field="partition_by")
            derived = {part: getattr(col, part)() for part in p.parts}  # type: ignore[attr-defined]
            return table.mutate(**derived), list(p.parts)
        require_columns(table, p, field="partition_by")
        if p and len(p) == len(table.columns):
            raise ConfigError("every column is a partition column: nothing would be left in the "
                              "files", field="partition_by")
        return table, list(p)

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        self._prepare(table)
        c = self.config
        if c.format != "parquet" and c.compression not in (None, "none", "gzip"):
            raise ConfigError(f"{c.format} files can be compressed with gzip only", field="compression")

    # -- run --------------------------------------------------------------------------------
    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        c = self.config
        self.check(table, ctx)
        relation, parts = self._prepare(table)
        client = s3_client(ctx.connection(c.connection))
        _check_bucket(client, c.bucket)
        run = uuid.uuid4().hex[:12]
        base = f"{c.prefix}/" if c.prefix else ""
        # beside the dataset, never inside it: a reader of `prefix/` never sees a half write
        temp_prefix = f"{c.prefix}.ecluse-tmp-{run}" if c.prefix else f"_ecluse-tmp-{run}"
        upload = _Upload(client, c.bucket, temp_prefix, c.multipart_chunk_mb * 1024 * 1024)
        local = Path(tempfile.mkdtemp(prefix="s3-", dir=ctx.work_dir if ctx.work_dir.exists() else None))
        try:
            rows = self._write_files(ctx, relation, parts, upload, local, run, base)
            ctx.cancel.raise_if_cancelled()
            self._publish(upload, base, run, rows)
        except BaseException:
            _delete(client, c.bucket, [k for k, _ in upload.keys])
            _abort_multipart(client, c.bucket, temp_prefix)
            raise
        finally:
            for f in local.glob("*"):
                f.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                local.rmdir()
        _delete(client, c.bucket, [k for k, _ in upload.keys])
        return LoadResult(rows_written=rows, bytes_written=upload.bytes,
                          location=f"s3://{c.bucket}/{c.prefix}",
                          extra={"files": len(upload.keys)})

    def _write_files(self, ctx: NodeContext, relation: ir.Table, parts: list[str], upload: _Upload,
                     local: Path, run: str, base: str) -> int:
        import pyarrow as pa
        import pyarrow.compute as pc

        c = self.config
        target = c.target_file_size_mb * 1024 * 1024
        reader = ctx.backend.to_batches(relation, batch_size=65_536)
        data_cols = [n for n in reader.schema.names if n not in parts]
        data_schema = pa.schema([reader.schema.field(n) for n in data_cols])
        writers: dict[tuple[Any, ...], _Open] = {}
        seq = 0
        rows = 0

        def close(key: tuple[Any, ...]) -> None:
            w = writers.pop(key)
            w.writer.close()
            upload.put(w.path, w.key)
            w.path.unlink(missing_ok=True)

        def open_writer(values: tuple[Any, ...]) -> _Open:
            nonlocal seq
            seq += 1
            folder = "".join(f"{n}={_part_text(v)}/" for n, v in zip(parts, values, strict=True))
            ext = {"parquet": ".parquet", "csv": ".csv", "json": ".jsonl"}[c.format]
            if c.format != "parquet" and c.compression == "gzip":
                ext += ".gz"
            path = local / f"{seq:06d}{ext}"
            return _Open(path, f"{base}{folder}part-{run}-{seq:05d}{ext}",
                         _file_writer(c.format, path, data_schema, c.compression))

        try:
            for batch in reader:
                ctx.cancel.raise_if_cancelled()
                groups: list[tuple[tuple[Any, ...], pa.RecordBatch]]
                if parts:
                    keys_table = pa.Table.from_batches([batch]).select(parts)
                    uniques = keys_table.group_by(parts).aggregate([]).to_pylist()
                    groups = []
                    for u in uniques:
                        mask = None
                        for n in parts:
                            col = batch.column(batch.schema.get_field_index(n))
                            m = pc.is_null(col) if u[n] is None else pc.equal(col, pa.scalar(u[n], col.type))
                            mask = m if mask is None else pc.and_(mask, m)
                        groups.append((tuple(u[n] for n in parts), batch.filter(mask)))
                else:
                    groups = [((), batch)]
                for values, part in groups:
                    if part.num_rows == 0:
                        continue
                    # slices of at most a quarter of the target (uncompressed), so files
                    # roll over close to the target size even for one huge batch
                    row_bytes = max(1, part.nbytes // part.num_rows)
                    step = max(1, target // 4 // row_bytes)
                    for offset in range(0, part.num_rows, step):
                        w = writers.get(values)
                        if w is None:
                            if len(writers) >= 64:  # bound open files: flush the oldest
                                close(next(iter(writers)))
                            w = writers[values] = open_writer(values)
                        piece = part.slice(offset, step)
                        w.writer.write(piece.select(data_cols))
                        w.rows += piece.num_rows
                        if w.path.stat().st_size >= target:
                            close(values)
                rows += batch.num_rows
                ctx.progress(rows)
            for key in list(writers):
                close(key)
        finally:
            for w in writers.values():
                with contextlib.suppress(Exception):
                    w.writer.close()
        return rows

    def _publish(self, upload: _Upload, base: str, run: str, rows: int) -> None:
        c = self.config
        client = upload.client
        old = [k for k in _list(client, c.bucket, base) if c.mode == "overwrite"
               and not k.startswith(("_ecluse-tmp-", upload.temp_prefix + "/"))]
        previous: list[str] = []
        if c.mode == "append":
            with contextlib.suppress(Exception):
                body = client.get_object(Bucket=c.bucket, Key=f"{base}{MANIFEST}")["Body"].read()
                previous = list(json.loads(body).get("files", []))
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=upload.chunk, multipart_chunksize=upload.chunk,
                                use_threads=False)
        for temp_key, final_key in upload.keys:  # server-side copies, multipart when large
            client.copy({"Bucket": c.bucket, "Key": temp_key}, c.bucket, final_key, Config=config)
        files = [f for _, f in upload.keys]
        manifest = {"run": run, "written_at": dt.datetime.now(dt.UTC).isoformat(),
                    "format": c.format, "rows": rows, "files": previous + files}
        client.put_object(Bucket=c.bucket, Key=f"{base}{MANIFEST}",
                          Body=json.dumps(manifest, indent=1).encode(), ContentType="application/json")
        new = set(files) | {f"{base}{MANIFEST}"}
        _delete(client, c.bucket, [k for k in old if k not in new])


def _file_writer(fmt: str, path: Path, schema: Any, compression: str | None) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt == "parquet":
        codec = "zstd" if compression is None else compression
        return pq.ParquetWriter(str(path), schema, compression=codec)
    sink = pa.CompressedOutputStream(str(path), "gzip") if compression == "gzip" else \
        pa.OSFile(str(path), "wb")
    if fmt == "csv":
        return _Closing(pacsv.CSVWriter(sink, schema), sink)
    return _JsonLines(sink)


class _Closing:
    def __init__(self, writer: Any, sink: Any) -> None:
        self.writer, self.sink = writer, sink

    def write(self, batch: Any) -> None:
        self.writer.write(batch)

    def close(self) -> None:
        self.writer.close()
        self.sink.close()


class _JsonLines:
    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def write(self, batch: Any) -> None:
        lines = "".join(json.dumps(r, default=_json_default, ensure_ascii=False) + "\n"
                        for r in batch.to_pylist())
        self.sink.write(lines.encode())

    def close(self) -> None:
        self.sink.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return str(value)


def _part_text(value: Any) -> str:
    from urllib.parse import quote

    if value is None:
        return "__HIVE_DEFAULT_PARTITION__"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return quote(text, safe="")


def _check_bucket(client: Any, bucket: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        reason = "does not exist" if code in ("404", "NoSuchBucket") else f"is not reachable ({code})"
        raise ConfigError(f"bucket {bucket!r} {reason}", field="bucket") from exc
    except BotoCoreError as exc:
        raise ConfigError(f"cannot reach the S3 endpoint: {exc}", field="connection") from exc


def _list(client: Any, bucket: str, prefix: str) -> Iterator[str]:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield str(item["Key"])


def _delete(client: Any, bucket: str, keys: list[str]) -> None:
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        if chunk:
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk],
                                                         "Quiet": True})


def _abort_multipart(client: Any, bucket: str, prefix: str) -> None:
    with contextlib.suppress(Exception):
        uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
        for u in uploads:
            client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])

