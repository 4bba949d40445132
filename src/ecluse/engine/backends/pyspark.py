"""The cluster engine (``engine: "pyspark"``): the same Ibis relations, compiled to Spark SQL.

Spark reads and writes files itself; Arrow streams are spilled to a Parquet file first so
that memory stays bounded whatever their size. The master comes from
``ECLUSE_SPARK_MASTER`` (``local[*]`` by default; any ``spark://`` or other master URL).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from ecluse.engine.backends.base import EngineBackend
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.files import CsvReadOptions, FileWrite, ScanReport
from ecluse.sdk.types import to_ibis_type

_SPARK_CHARSETS = {"utf-8": "UTF-8", "utf8": "UTF-8", "utf-8-sig": "UTF-8", "latin-1": "ISO-8859-1",
                   "latin1": "ISO-8859-1", "iso-8859-1": "ISO-8859-1", "utf-16": "UTF-16"}
_session_lock = threading.Lock()


def spark_session() -> Any:
    """The process's Spark session, created once (starting one takes seconds)."""
    from pyspark.sql import SparkSession

    with _session_lock:
        master = os.environ.get("ECLUSE_SPARK_MASTER", "local[*]")
        builder = (SparkSession.builder.appName("ecluse").master(master)
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.session.timeZone", "UTC")
                   .config("spark.sql.shuffle.partitions",
                           os.environ.get("ECLUSE_SPARK_SHUFFLE_PARTITIONS", "8"))
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
        if master.startswith("local"):
            builder = (builder.config("spark.driver.host", "127.0.0.1")
                       .config("spark.driver.bindAddress", "127.0.0.1"))
            # Python workers (UDFs) import ecluse: they run this interpreter, not the first
            # python3 on the PATH (PySpark reads the variable when the session starts).
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        return session


class PySparkBackend(EngineBackend):
    name = "pyspark"

    def __init__(self, *, work_dir: Path) -> None:
        super().__init__(work_dir)
        self.spark = spark_session()
        self.con = ibis.pyspark.connect(self.spark)
        self._views: list[str] = []

    def _view(self, frame: Any, prefix: str) -> ir.Table:
        name = self.fresh_name(prefix)
        frame.createOrReplaceTempView(name)
        self._views.append(name)
        return self.con.table(name)

    def frame(self, table: ir.Table) -> Any:
        """The Spark DataFrame of a relation, with exactly the columns and types its Ibis
        schema promises (Spark may answer with a wider type, e.g. a timestamp for a month
        truncation of a date, and Ibis's emulation of OFFSET adds a row-number column)."""
        self.con._run_pre_execute_hooks(table)  # registers the Python UDFs it calls
        frame = self.spark.sql(self.con.compile(table))
        actual = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
        schema = table.schema()
        exprs, conformed = [], list(actual) == list(schema)
        for name, dtype in schema.items():
            quoted = f"`{name.replace('`', '``')}`"
            target = _spark_type(dtype).simpleString()
            if actual[name] != target:
                exprs.append(f"CAST({quoted} AS {target}) AS {quoted}")
                conformed = False
            else:
                exprs.append(quoted)
        return frame if conformed else frame.selectExpr(*exprs)

    def scan_csv(self, paths: Sequence[str], options: CsvReadOptions, *,
                 reject_dir: str | None = None) -> tuple[ir.Table, _NoReport]:
        if options.on_error == "quarantine":
            raise ConfigError("on_error 'quarantine' needs the duckdb engine; use 'skip' or 'fail' "
                              "on pyspark", field="on_error")
        encoding = (options.encoding or self.detect_encoding(paths[0])).lower()
        charset = _SPARK_CHARSETS.get(encoding)
        if charset is None:
            paths, charset = self.to_utf8(paths, encoding), "UTF-8"
        delimiter = options.delimiter or self.sniff_delimiter(paths[0], encoding.replace("-", "_"))
        reader = (self.spark.read.option("header", options.header).option("sep", delimiter)
                  .option("encoding", charset).option("inferSchema", True)
                  .option("mode", "DROPMALFORMED" if options.on_error == "skip" else "FAILFAST")
                  .option("timestampFormat", "yyyy-MM-dd[ ]['T']HH:mm:ss[.SSSSSS][XXX]"))
        if options.quote:
            reader = reader.option("quote", options.quote)
        if len(options.null_values) == 1:
            reader = reader.option("nullValue", options.null_values[0])
        try:
            frame = reader.csv(list(paths))
        except Exception as exc:
            raise ConfigError(f"cannot read CSV: {str(exc).splitlines()[0]}", field="path") from exc
        table = self._view(frame, "scan")
        changes: dict[str, ir.Value] = {}
        if len(options.null_values) > 1:
            nulls = list(options.null_values)
            for name, dtype in table.schema().items():
                if dtype.is_string():
                    changes[name] = ibis.cases((table[name].isin(nulls), ibis.null()),
                                               else_=table[name])
        if options.decimal == ",":
            for name in _decimal_comma_columns(frame, exclude=set(options.columns)):
                changes[name] = table[name].re_replace(r"\.", "").replace(",", ".").cast("float64")
        for name, type_name in options.columns.items():
            changes[name] = table[name].cast(to_ibis_type(type_name))
        return (table.mutate(**changes) if changes else table), _NoReport()

    def scan_parquet(self, paths: Sequence[str], *, hive_partitioning: bool) -> ir.Table:
        reader = self.spark.read
        if hive_partitioning:
            reader = reader.option("basePath", _partition_base(paths))
        return self._view(reader.parquet(*paths), "scan")

    def scan_json(self, paths: Sequence[str], *, lines: bool | None) -> ir.Table:
        if lines is None:
            with Path(paths[0]).open("rb") as f:
                lines = not f.read(4096).lstrip().startswith(b"[")
        frame = self.spark.read.option("multiLine", not lines).json(list(paths))
        return self._view(frame, "scan")

    def from_arrow(self, data: pa.Table | pa.RecordBatchReader, *, name: str) -> ir.Table:
        # Spark skips files whose names start with "_" or "." (it takes them for metadata).
        target = self.work_dir / f"{self.fresh_name(name).lstrip('_')}.parquet"
        if isinstance(data, pa.Table):
            pq.write_table(data, target)
        else:
            with pq.ParquetWriter(target, data.schema) as writer:
                for batch in data:
                    writer.write_batch(batch)
        return self._view(self.spark.read.parquet(str(target)), name)

    def create_view(self, name: str, table: ir.Table) -> None:
        super().create_view(name, table)
        self._views.append(name)

    def materialize(self, table: ir.Table) -> ir.Table:
        frame = self.frame(table).cache()
        frame.count()
        return self._view(frame, "cache")

    def write_files(self, table: ir.Table, request: FileWrite) -> int:
        frame = self.frame(table)
        out = request.directory / "_spark"
        single = request.single_file_name is not None
        if single:
            frame = frame.coalesce(1)
        writer = frame.write.mode("overwrite").format(request.format)
        if request.partition_by:
            writer = writer.partitionBy(*request.partition_by)
        if request.compression:
            writer = writer.option("compression", request.compression)
        if request.format == "csv":
            writer = writer.option("header", request.csv_header).option("sep", request.csv_delimiter)
        writer.save(str(out))
        rows = int(self.spark.read.format(request.format).option("header", request.csv_header)
                   .option("sep", request.csv_delimiter).load(str(out)).count()) \
            if request.format == "csv" else int(self.spark.read.format(request.format)
                                                 .load(str(out)).count())
        _move_spark_output(out, request)
        return rows

    def to_batches(self, table: ir.Table, *, batch_size: int = 100_000) -> pa.RecordBatchReader:
        arrow = self.frame(table).toArrow()
        return pa.RecordBatchReader.from_batches(arrow.schema, arrow.to_batches(batch_size))

    def to_arrow(self, table: ir.Table, *, limit: int | None = None) -> pa.Table:
        frame = self.frame(table.limit(limit) if limit is not None else table)
        result: pa.Table = frame.toArrow()
        return result

    def count(self, table: ir.Table) -> int:
        return int(self.frame(table).count())

    def interrupt(self) -> None:
        self.spark.sparkContext.cancelAllJobs()

    def close(self) -> None:
        for name in self._views:
            self.spark.catalog.dropTempView(name)
        self._views.clear()


def _spark_type(dtype: dt.DataType) -> Any:
    """The Spark type of an Ibis type; a timestamp without time zone stays without one (Ibis
    maps it to Spark's session-zoned TIMESTAMP)."""
    from ibis.backends.pyspark.datatypes import PySparkType
    from pyspark.sql.types import TimestampNTZType

    if isinstance(dtype, dt.Timestamp) and dtype.timezone is None:
        return TimestampNTZType()
    return PySparkType.from_ibis(dtype)


def _decimal_comma_columns(frame: Any, exclude: set[str], sample: int = 1000) -> list[str]:
    """Text columns whose sampled values are all numbers written with a decimal comma
    (Spark's CSV reader cannot parse those itself)."""
    import pyarrow.compute as pc

    text = [f.name for f in frame.schema.fields
            if f.dataType.typeName() == "string" and f.name not in exclude]
    if not text:
        return []
    rows = frame.select(*text).limit(sample).toArrow()
    found = []
    for name in text:
        values = rows.column(name).drop_null()
        if len(values) and pc.all(pc.match_substring_regex(
                values, r"^\s*-?[0-9]{1,3}(\.?[0-9]{3})*(,[0-9]+)?\s*$")).as_py():
            found.append(name)
    return found


def _partition_base(paths: Sequence[str]) -> str:
    """The folder above the first ``key=value`` level shared by all files."""
    common = Path(os.path.commonpath([str(Path(p).parent) for p in paths]))
    while "=" in common.name:
        common = common.parent
    return str(common)


def _move_spark_output(out: Path, request: FileWrite) -> None:
    """Spark writes a folder of part files with bookkeeping; keep only the data files,
    under the names the loader asked for."""
    for junk in [*out.rglob("_SUCCESS"), *out.rglob(".*.crc")]:
        junk.unlink()
    if request.single_file_name is not None:
        part = next(p for p in out.iterdir() if p.is_file())
        part.rename(request.directory / request.single_file_name)
    else:
        for item in out.iterdir():
            shutil.move(str(item), request.directory / item.name)
    shutil.rmtree(out, ignore_errors=True)


class _NoReport:
    def report(self) -> ScanReport:
        return ScanReport()


