"""What a module may ask of the engine that runs it.

Modules stay engine-agnostic: they describe *what* to read or write, and the backend
(DuckDB, Polars, PySpark) decides *how*. Transforms only use Ibis expressions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, get_args

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend

    from ecluse.sdk.files import CsvReadOptions, FileWrite, ScanReport

EngineName = Literal["duckdb", "polars", "pyspark"]
ENGINES: tuple[EngineName, ...] = get_args(EngineName)


class Backend(Protocol):
    name: EngineName
    con: BaseBackend
    last_scan_rows: list[int] | None

    def scan_csv(self, paths: Sequence[str], options: CsvReadOptions, *,
                 reject_dir: str | None = None) -> tuple[ir.Table, ScanHandle]:
        """A lazy relation over CSV files, and a handle to what the scan rejected."""
        ...

    def describe_read_error(self, exc: BaseException) -> str | None:
        """A file reader's failure while a query ran (a value its column's type cannot hold, a
        broken row past the sample), in one sentence naming the file and line where the engine
        tells them, the column and the value; None when ``exc`` is no such failure."""
        ...

    def scan_parquet(self, paths: Sequence[str], *, hive_partitioning: bool) -> ir.Table: ...

    def scan_json(self, paths: Sequence[str], *, lines: bool | None) -> ir.Table:
        """``lines``: JSON lines (True), one JSON array (False) or auto-detect (None)."""
        ...

    def from_arrow(self, data: pa.Table | pa.RecordBatchReader, *, name: str) -> ir.Table:
        """Bind Arrow data (a stream is consumed once, lazily where the engine can)."""
        ...

    def write_files(self, table: ir.Table, request: FileWrite) -> int:
        """Write the relation as files; return the number of rows written."""
        ...

    def create_view(self, name: str, table: ir.Table) -> None:
        """Name a relation in the engine's catalog, so that SQL text can query it (lazy)."""
        ...

    def materialize(self, table: ir.Table) -> ir.Table:
        """The relation computed once into the engine's own storage: a one-shot stream it reads
        can then be scanned again."""
        ...

    def to_batches(self, table: ir.Table, *, batch_size: int = 100_000) -> pa.RecordBatchReader: ...

    def to_arrow(self, table: ir.Table, *, limit: int | None = None) -> pa.Table: ...

    def count(self, table: ir.Table) -> int: ...


class ScanHandle(Protocol):
    def report(self) -> ScanReport:
        """What the scan rejected so far (call after the relation was executed)."""
        ...
