"""The Polars engine (``engine: "polars"``): lazy frames through Ibis, streaming sinks."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import polars as pl
import pyarrow as pa

# Translations for Polars, registered on import: text casts as DuckDB reads them, array maps
# (the cleaner's title case), DuckDB's replacement syntax (\1), the cleaner's trim, distinct
# counts without nulls.
import ecluse.sdk.polars_casts
import ecluse.sdk.polars_counts
import ecluse.sdk.polars_lists
import ecluse.sdk.polars_regex
import ecluse.sdk.polars_trim  # noqa: F401
from ecluse.engine.backends.base import EngineBackend
from ecluse.sdk.csv_sniff import first_malformed_line
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.files import CsvReadOptions, FileWrite, ScanReport
from ecluse.sdk.types import to_ibis_type


class PolarsBackend(EngineBackend):
    name = "polars"

    def __init__(self, *, work_dir: Path) -> None:
        super().__init__(work_dir)
        self.con = ibis.polars.connect()
        self._csv_scans: list[tuple[list[str], list[str], str, CsvReadOptions]] = []
        """(files given, files read (UTF-8 copies), delimiter, options) of each CSV scan."""
        self._json_lines: list[str] = []
        """JSON-lines files scanned lazily: where a syntax error met at run time may be."""

    def _register(self, frame: pl.LazyFrame | pl.DataFrame, prefix: str) -> ir.Table:
        name = self.fresh_name(prefix)
        self.con.create_table(name, frame)
        return self.con.table(name)

    def scan_csv(self, paths: Sequence[str], options: CsvReadOptions, *,
                 reject_dir: str | None = None) -> tuple[ir.Table, _Dropped]:
        if options.on_error == "quarantine":
            raise ConfigError("on_error 'quarantine' needs the duckdb engine; use 'skip' or 'fail' "
                              "on polars", field="on_error")
        files = self.to_utf8(paths, options.encoding or self.detect_encoding(paths[0]))
        delimiter = options.delimiter or self.sniff_delimiter(files[0])
        dropped = 0
        self._csv_scans.append((list(paths), files, delimiter, options))
        if options.on_error == "skip":
            files, dropped = self._drop_ragged(files, delimiter, options)
        overrides = {col: ibis.dtype(to_ibis_type(t)).to_polars() for col, t in options.columns.items()}
        read: dict[str, Any] = {
            "separator": delimiter, "has_header": options.header, "quote_char": options.quote,
            "null_values": list(options.null_values) or None,
            "decimal_comma": options.decimal == ",", "ignore_errors": options.on_error == "skip",
            "skip_rows": 0 if options.on_error == "skip" else options.skip_rows,
            "with_column_names": _duckdb_names if options.header else _duckdb_positions}
        try:
            dates = _date_columns(files[0], read, overrides)
            strings: dict[str, pl.DataType] = {col: pl.String() for col in dates or {}}
            frame = pl.scan_csv(
                files, **read, schema_overrides={**overrides, **strings} or None,
                try_parse_dates=dates is None, infer_schema_length=_INFER_ROWS,
                missing_columns="insert" if len(files) > 1 else None)
            if dates:
                frame = frame.with_columns(parse(pl.col(col), strict=options.on_error != "skip")
                                           for col, parse in dates.items())
            frame.collect_schema()
        except Exception as exc:
            raise ConfigError(f"cannot read CSV: {exc}", field="path") from exc
        return self._register(frame, "scan"), _Dropped(dropped)

    def _drop_ragged(self, paths: Sequence[str], delimiter: str,
                     options: CsvReadOptions) -> tuple[list[str], int]:
        """Copies of ``paths`` without the rows whose field count differs from the header's
        (Polars cannot skip those itself); streamed, so memory stays bounded."""
        out, dropped = [], 0
        quoting: Literal[0, 3] = csv.QUOTE_MINIMAL if options.quote else csv.QUOTE_NONE
        for path in paths:
            target = self.work_dir / f"{self.fresh_name('clean')}.csv"
            with Path(path).open(encoding="utf-8", newline="") as src, \
                    target.open("w", encoding="utf-8", newline="") as dst:
                for _ in range(options.skip_rows):
                    src.readline()
                reader = csv.reader(src, delimiter=delimiter, quotechar=options.quote or '"',
                                    quoting=quoting)
                writer = csv.writer(dst, delimiter=delimiter, quotechar=options.quote or '"',
                                    quoting=quoting, lineterminator="\n")
                expected = None
                for row in reader:
                    if expected is None:
                        expected = len(row)
                    elif len(row) != expected:
                        dropped += 1
                        continue
                    writer.writerow(row)
            out.append(str(target))
        return out, dropped

    def describe_read_error(self, exc: BaseException) -> str | None:
        text = str(exc)
        if "found more fields than defined in 'Schema'" in text:  # Polars says not where
            for given, read, delimiter, options in self._csv_scans:
                bad = first_malformed_line(read, delimiter, "utf-8", options.quote,
                                           options.skip_rows)
                if bad:
                    for original, copy in zip(given, read, strict=True):
                        bad = bad.replace(Path(copy).name, Path(original).name, 1)
                    return bad
            return "a row has more fields than the header"
        if text.startswith("Syntax at character"):  # Polars does not say in which file
            return next(filter(None, map(_first_bad_json_line, self._json_lines)), None)
        found = re.search(r"could not parse `(.*?)` as dtype `(.+?)` at column '(.+?)'", text)
        if not found:
            return None
        value, type_name, column = found.groups()
        return f"column {column!r} cannot hold {value!r} (read as {type_name})"

    def scan_parquet(self, paths: Sequence[str], *, hive_partitioning: bool) -> ir.Table:
        return self._register(pl.scan_parquet(list(paths), hive_partitioning=hive_partitioning,
                                              missing_columns="insert"), "scan")

    def scan_json(self, paths: Sequence[str], *, lines: bool | None) -> ir.Table:
        frames = []
        for path in paths:
            if lines if lines is not None else _looks_like_json_lines(path):
                self._json_lines.append(path)
                frames.append(pl.scan_ndjson(path))
                continue
            try:
                frames.append(pl.read_json(path).lazy())
            except pl.exceptions.ComputeError as exc:
                raise ConfigError(f"cannot read JSON: {_json_error(path, exc) or exc}",
                                  field="path") from exc
        return self._register(pl.concat(frames, how="diagonal_relaxed"), "scan")

    def from_arrow(self, data: pa.Table | pa.RecordBatchReader, *, name: str) -> ir.Table:
        table = data.read_all() if isinstance(data, pa.RecordBatchReader) else data
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return self._register(frame, name)

    def materialize(self, table: ir.Table) -> ir.Table:
        return self._register(self.con.compile(table).collect(), "cache")

    def write_files(self, table: ir.Table, request: FileWrite) -> int:
        frame: pl.LazyFrame = self.con.compile(table)
        suffix = {"csv": ".csv", "parquet": ".parquet", "json": ".jsonl"}[request.format]
        target: Any
        if request.partition_by:
            target = pl.PartitionBy(str(request.directory), key=list(request.partition_by),
                                    include_key=False)
        else:
            target = str(request.directory / (request.single_file_name or f"part-0{suffix}"))
        if request.format == "parquet":
            frame.sink_parquet(target, compression=request.compression or "zstd",  # type: ignore[call-overload]
                               mkdir=True)
        elif request.format == "csv":
            frame.sink_csv(target, separator=request.csv_delimiter,
                           include_header=request.csv_header, mkdir=True)
        else:
            frame.sink_ndjson(target, mkdir=True)
        return _count_written(request)


_INFER_ROWS = 10_000
_DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_FORMATS: tuple[tuple[str, Any], ...] = (
    # Whole seconds before fractions: Polars parses a fixed-width format ~2x faster than %.f.
    ("%Y-%m-%d", pl.Date), ("%Y-%m-%dT%H:%M:%S", pl.Datetime), ("%Y-%m-%d %H:%M:%S", pl.Datetime),
    ("%Y-%m-%dT%H:%M:%S%.f", pl.Datetime), ("%Y-%m-%d %H:%M:%S%.f", pl.Datetime),
    ("%Y-%m-%dT%H:%M", pl.Datetime), ("%Y-%m-%d %H:%M", pl.Datetime))

_Parse = Callable[..., pl.Expr]


def _date_columns(path: str, read: dict[str, Any],
                  overrides: dict[str, pl.DataType]) -> dict[str, _Parse] | None:
    """How to parse each text column of the first rows that holds ISO dates or timestamps.

    Polars' own date inference (``try_parse_dates``) guesses a pattern per column and value:
    on the benchmark it costs more CPU than the rest of the scan (0.7 s for 10,000 rows),
    while a known format parses at string-copy speed. ``None`` when a column looks like dates
    in another format: then the scan infers as before.
    """
    head = _head(path, _INFER_ROWS + 1 + read["skip_rows"])
    try:
        sample = pl.read_csv(head, **read, infer_schema_length=_INFER_ROWS,
                             schema_overrides=overrides or None)
    except pl.exceptions.PolarsError:
        return None  # a sample cut inside a quoted line break, say: let the scan infer
    parsers: dict[str, _Parse] = {}
    for col, dtype in sample.schema.items():
        values = sample[col].drop_nulls()
        if col in overrides or not isinstance(dtype, pl.String) or values.is_empty() \
                or not _DATE_LIKE.match(values[0]):
            continue
        parser = _matching_parser(values)
        if parser is None:
            return None
        parsers[col] = parser
    return parsers


def _head(path: str, lines: int) -> bytes:
    """The first ``lines`` complete lines of the file (at most 8 MiB of them)."""
    with Path(path).open("rb") as f:
        head = f.read(8 << 20)
    cut, start = len(head), 0
    for _ in range(lines):
        newline = head.find(b"\n", start)
        if newline < 0:
            break
        cut = start = newline + 1
    return head[:cut] if start else head


def _parser(fmt: str, dtype: Any) -> _Parse:
    if dtype is pl.Date:
        return lambda e, *, strict: e.str.to_date(fmt, strict=strict)
    return lambda e, *, strict: e.str.to_datetime(fmt, time_unit="us", strict=strict)


def _matching_parser(values: pl.Series) -> _Parse | None:
    """The first ISO format that parses every value (dates as Date, timestamps in µs)."""
    for fmt, dtype in _FORMATS:
        parse = _parser(fmt, dtype)
        try:
            pl.select(parse(pl.lit(values), strict=True))
        except pl.exceptions.PolarsError:
            continue
        return parse
    return None


def _count_written(request: FileWrite) -> int:
    """Rows in what was just written (polars sinks do not return a count)."""
    pattern = "**/*" if request.partition_by else "*"
    files = [str(p) for p in request.directory.glob(pattern) if p.is_file()]
    if not files:
        return 0
    if request.format == "parquet":
        return int(pl.scan_parquet(files, hive_partitioning=False).select(pl.len()).collect().item())
    if request.format == "csv":
        return int(pl.scan_csv(files, separator=request.csv_delimiter, has_header=request.csv_header,
                               infer_schema=False).select(pl.len()).collect().item())
    return int(pl.scan_ndjson(files).select(pl.len()).collect().item())


def _duckdb_names(names: list[str]) -> list[str]:
    """Column names as DuckDB gives them, so that a pipeline reads the same columns on both
    engines: ``name_1`` for a second ``name`` (Polars: ``name_duplicated_0``)."""
    return [re.sub(r"^(.*)_duplicated_(\d+)$", lambda m: f"{m[1]}_{int(m[2]) + 1}", name)
            for name in names]


def _duckdb_positions(names: list[str]) -> list[str]:
    """``column0``... for a file without a header, as DuckDB names them (Polars: ``column_0``)."""
    return [f"column{i}" for i in range(len(names))]


def _json_error(path: str, exc: Exception) -> str | None:
    """Polars' ``Syntax at character N`` as the file's line."""
    found = re.match(r"Syntax at character (\d+)", str(exc))
    if not found:
        return None
    with Path(path).open("rb") as f:
        line = f.read(int(found.group(1))).count(b"\n") + 1
    return f"{Path(path).name} line {line} is not valid JSON ({exc})"


def _first_bad_json_line(path: str, max_lines: int = 1_000_000) -> str | None:
    with Path(path).open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if number > max_lines:
                break
            try:
                if line.strip():
                    json.loads(line)
            except ValueError as exc:
                return f"{Path(path).name} line {number} is not valid JSON ({exc.args[0]})"
    return None


def _looks_like_json_lines(path: str) -> bool:
    with Path(path).open("rb") as f:
        head = f.read(4096).lstrip()
    return not head.startswith(b"[")


class _Dropped:
    def __init__(self, rows: int) -> None:
        self.rows = rows

    def report(self) -> ScanReport:
        return ScanReport(rows_rejected=self.rows)
