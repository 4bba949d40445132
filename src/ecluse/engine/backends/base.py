"""What every backend shares: naming, transcoding, delimiter sniffing."""

from __future__ import annotations

import codecs
import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecluse.engine.backends.pump import Pump
from ecluse.sdk import csv_sniff
from ecluse.sdk.errors import ConfigError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend

    from ecluse.sdk.backend import ScanHandle
    from ecluse.sdk.files import CsvReadOptions, FileWrite

_UTF8_NAMES = {"utf-8", "utf8", "utf-8-sig", "utf8-sig"}


@dataclass
class WatchedStream:
    """A one-shot Arrow stream bound into the engine, and the error it raised, if any."""

    pump: Pump
    node_id: str | None = None
    failure: BaseException | None = None
    read_to_end: bool = False


class EngineBackend(ABC):
    name: Any
    con: BaseBackend

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self._names = itertools.count()
        self.last_scan_rows: list[int] | None = None
        """Rows each source scan read during the last write, when the engine can tell."""
        self.streams: list[WatchedStream] = []
        """The one-shot Arrow streams bound so far (the engine materialises those it fans out)."""

    def watch(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """``reader``, bound as a one-shot stream whose failure is kept, pulled by a thread of
        its own (see ``pump``). An engine that reads a stream lazily reads it inside whichever
        query uses it, and reports a module's error in producing batches as its own query's
        failure: the kept error names the source."""
        import pyarrow as pa

        def ended() -> None:
            watched.read_to_end = True

        def failed(exc: Exception) -> None:
            watched.failure = exc

        watched = WatchedStream(Pump(reader, on_end=ended, on_failure=failed))
        self.streams.append(watched)
        return pa.RecordBatchReader.from_batches(reader.schema, watched.pump.batches())

    def release_streams(self) -> None:
        """Stop the threads pulling streams the run did not read to their end (a failed
        loader, a limit): before modules finish, whose cleanup closes those streams."""
        for watched in self.streams:
            watched.pump.stop(wait_s=10)

    def fresh_name(self, prefix: str) -> str:
        return f"_ecluse_{prefix}_{next(self._names)}"

    def to_utf8(self, paths: Sequence[str], encoding: str) -> list[str]:
        """Paths of UTF-8 copies of ``paths`` (streamed, so memory stays bounded)."""
        if encoding.lower() in _UTF8_NAMES:
            return list(paths)
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise ConfigError(f"unknown encoding {encoding!r}", field="encoding") from exc
        out = []
        for path in paths:
            target = self.work_dir / f"{self.fresh_name('utf8')}.csv"
            with Path(path).open(encoding=encoding, newline="") as src, \
                    target.open("w", encoding="utf-8", newline="") as dst:
                while chunk := src.read(1 << 22):
                    dst.write(chunk)
            out.append(str(target))
        return out

    detect_encoding = staticmethod(csv_sniff.detect_encoding)
    sniff_delimiter = staticmethod(csv_sniff.sniff_delimiter)

    @abstractmethod
    def scan_csv(self, paths: Sequence[str], options: CsvReadOptions, *,
                 reject_dir: str | None = None) -> tuple[ir.Table, ScanHandle]: ...

    def describe_read_error(self, exc: BaseException) -> str | None:
        return None

    @abstractmethod
    def scan_parquet(self, paths: Sequence[str], *, hive_partitioning: bool) -> ir.Table: ...

    @abstractmethod
    def scan_json(self, paths: Sequence[str], *, lines: bool | None) -> ir.Table: ...

    @abstractmethod
    def from_arrow(self, data: pa.Table | pa.RecordBatchReader, *, name: str) -> ir.Table: ...

    @abstractmethod
    def materialize(self, table: ir.Table) -> ir.Table:
        """Compute the relation once (it feeds several branches, or is a one-shot stream)."""

    @abstractmethod
    def write_files(self, table: ir.Table, request: FileWrite) -> int: ...

    def create_view(self, name: str, table: ir.Table) -> None:
        """Name a relation in the engine's catalog (a lazy view, nothing executes). The Python
        functions it calls are registered now: queries over the view name only the view."""
        self.con._run_pre_execute_hooks(table)
        self.con.create_view(name, table, overwrite=True)

    def to_batches(self, table: ir.Table, *, batch_size: int = 100_000) -> pa.RecordBatchReader:
        return table.to_pyarrow_batches(chunk_size=batch_size)

    def to_arrow(self, table: ir.Table, *, limit: int | None = None) -> pa.Table:
        return (table.limit(limit) if limit is not None else table).to_pyarrow()

    def count(self, table: ir.Table) -> int:
        return int(table.count().to_pyarrow().as_py())

    def interrupt(self) -> None:  # noqa: B027
        """Stop the query running now, from another thread (cancellation)."""

    def close(self) -> None:
        self.release_streams()


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
