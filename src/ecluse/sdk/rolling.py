"""Rolling files for the object-storage loaders.

Batches stream into local files, one open writer per partition value; a file is closed
past the target size (a new one follows) and handed to ``done`` (an upload), then removed,
so the local disk only holds the files being written."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ecluse.sdk.context import NodeContext

EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "json": ".jsonl"}
MAX_OPEN = 64  # open writers (partitions written at once); past it the oldest file is closed


@dataclass
class _Open:
    path: Path
    relative: str
    writer: Any


def write_rolling(reader: pa.RecordBatchReader, ctx: NodeContext, *, partition_by: Sequence[str],
                  fmt: str, compression: str | None, target_bytes: int, folder: Path, run: str,
                  done: Callable[[Path, str], None]) -> int:
    """Write every batch of ``reader`` into files of about ``target_bytes`` under ``folder``;
    each closed file goes to ``done(path, relative_key)`` with the key
    ``col=value/.../part-<run>-<seq>.<ext>`` (partition columns are left out of the files).
    Returns the number of rows written."""
    data_cols = [n for n in reader.schema.names if n not in partition_by]
    data_schema = pa.schema([reader.schema.field(n) for n in data_cols])
    ext = EXTENSIONS[fmt] + (".gz" if fmt != "parquet" and compression == "gzip" else "")
    writers: dict[tuple[Any, ...], _Open] = {}
    seq = 0
    rows = 0

    def close(values: tuple[Any, ...]) -> None:
        w = writers.pop(values)
        w.writer.close()
        done(w.path, w.relative)
        w.path.unlink(missing_ok=True)

    def open_writer(values: tuple[Any, ...]) -> _Open:
        nonlocal seq
        seq += 1
        prefix = "".join(f"{n}={part_text(v)}/" for n, v in zip(partition_by, values, strict=True))
        path = folder / f"{seq:06d}{ext}"
        return _Open(path, f"{prefix}part-{run}-{seq:05d}{ext}",
                     file_writer(fmt, path, data_schema, compression))

    try:
        for batch in reader:
            ctx.cancel.raise_if_cancelled()
            for values, part in _split(batch, partition_by):
                # slices of at most a quarter of the target (uncompressed), so files roll
                # over close to the target size even for one huge batch
                step = max(1, target_bytes // 4 // max(1, part.nbytes // part.num_rows))
                for offset in range(0, part.num_rows, step):
                    w = writers.get(values)
                    if w is None:
                        if len(writers) >= MAX_OPEN:
                            close(next(iter(writers)))
                        w = writers[values] = open_writer(values)
                    w.writer.write(part.slice(offset, step).select(data_cols))
                    if w.path.stat().st_size >= target_bytes:
                        close(values)
            rows += batch.num_rows
            ctx.progress(rows)
        for values in list(writers):
            close(values)
    finally:
        for w in writers.values():
            with contextlib.suppress(Exception):
                w.writer.close()
    return rows


def _split(batch: pa.RecordBatch,
           partition_by: Sequence[str]) -> list[tuple[tuple[Any, ...], pa.RecordBatch]]:
    """The non-empty slices of a batch, one per distinct value of the partition columns."""
    import pyarrow.compute as pc

    if batch.num_rows == 0:
        return []
    if not partition_by:
        return [((), batch)]
    uniques = pa.Table.from_batches([batch]).select(list(partition_by)).group_by(
        list(partition_by)).aggregate([]).to_pylist()
    out = []
    for u in uniques:
        mask = None
        for n in partition_by:
            col = batch.column(batch.schema.get_field_index(n))
            m = pc.is_null(col) if u[n] is None else pc.equal(col, pa.scalar(u[n], col.type))
            mask = m if mask is None else pc.and_(mask, m)
        out.append((tuple(u[n] for n in partition_by), batch.filter(mask)))
    return out


def part_text(value: Any) -> str:
    """A partition value as a folder name (Hive's name for null)."""
    from urllib.parse import quote

    if value is None:
        return "__HIVE_DEFAULT_PARTITION__"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return quote(text, safe="")


def file_writer(fmt: str, path: Path, schema: pa.Schema, compression: str | None) -> Any:
    """A writer with ``write(batch)`` and ``close()`` for one local file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt == "parquet":
        return pq.ParquetWriter(str(path), schema, compression=compression or "zstd")
    sink = pa.CompressedOutputStream(str(path), "gzip") if compression == "gzip" else \
        pa.OSFile(str(path), "wb")
    if fmt == "csv":
        return _Closing(pacsv.CSVWriter(sink, schema), sink)
    return _JsonLines(sink)


class _Closing:
    def __init__(self, writer: Any, sink: Any) -> None:
        self.writer, self.sink = writer, sink

    def write(self, batch: pa.RecordBatch) -> None:
        self.writer.write(batch)

    def close(self) -> None:
        self.writer.close()
        self.sink.close()


class _JsonLines:
    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def write(self, batch: pa.RecordBatch) -> None:
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
