"""The default engine: DuckDB through Ibis. Files are scanned and written by DuckDB itself
(parallel, spilling to disk past the memory limit)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import ibis.expr.operations as ops
import ibis.expr.schema as sch
import ibis.expr.types as ir
from ibis.backends.sql.datatypes import DuckDBType

from ecluse.engine.backends.base import EngineBackend, sql_identifier, sql_literal
from ecluse.sdk.csv_sniff import first_malformed_line
from ecluse.sdk.duckdb_ext import duckdb_config
from ecluse.sdk.errors import ConfigError, shown
from ecluse.sdk.files import CsvReadOptions, FileWrite, ScanReport
from ecluse.sdk.ibis_sql import executable_sql
from ecluse.sdk.sqltext import interval_microseconds
from ecluse.sdk.types import to_ibis_type

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from ibis.backends import BaseBackend

_NATIVE_ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "utf8-sig": "utf-8",
                     "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1",
                     "utf-16": "utf-16", "cp1252": "CP1252", "windows-1252": "CP1252"}


class DuckDBBackend(EngineBackend):
    name = "duckdb"

    def __init__(self, *, work_dir: Path, memory_limit: str | None = None,
                 threads: int | None = None, database: str = ":memory:") -> None:
        super().__init__(work_dir)
        config = duckdb_config(temp_directory=str(work_dir / "spill"))
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = threads
        self._connect_args = (database, config)
        self._results: list[pa.RecordBatchReader] = []
        """Streamed results handed out: closed with the backend (a failed loader leaves one)."""

    @functools.cached_property
    def con(self) -> BaseBackend:  # type: ignore[override]
        """Opened on first use: a run whose chains are all pushed down into warehouses never
        imports Ibis's DuckDB backend nor starts DuckDB."""
        database, config = self._connect_args
        return ibis.duckdb.connect(database, **config)

    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        return self.con.con  # type: ignore[attr-defined,no-any-return]

    def _view(self, select_sql: str) -> ir.Table:
        name = self.fresh_name("scan")
        self.raw.execute(f"CREATE OR REPLACE TEMP VIEW {sql_identifier(name)} AS {select_sql}")
        return self._table(name)

    def _table(self, name: str) -> ir.Table:
        """``con.table(name)`` without Ibis's schema query, which reads the description through
        PyArrow: a run of file sources and file loaders then never imports PyArrow (70 ms)."""
        described = self.raw.execute(f"DESCRIBE {sql_identifier(name)}").fetchall()
        schema = sch.Schema({column: DuckDBType.from_string(dtype, nullable=null == "YES")
                             for column, dtype, null, *_ in described})
        return ops.DatabaseTable(name, schema=schema, source=self.con,  # type: ignore[no-any-return]
                                 namespace=ops.Namespace()).to_expr()

    def scan_csv(self, paths: Sequence[str], options: CsvReadOptions, *,
                 reject_dir: str | None = None) -> tuple[ir.Table, _DuckDBRejects]:
        encoding = (options.encoding or self.detect_encoding(paths[0])).lower()
        if encoding in _NATIVE_ENCODINGS:
            native = _NATIVE_ENCODINGS[encoding]
        else:
            paths, native = self.to_utf8(paths, encoding), "utf-8"
        args = [f"[{', '.join(sql_literal(p) for p in paths)}]",
                f"header = {str(options.header).lower()}", f"encoding = {sql_literal(native)}",
                "union_by_name = true" if len(paths) > 1 else "auto_detect = true"]
        delimiter = options.delimiter or self.sniff_delimiter(paths[0], native.replace("-", "_"))
        args += [f"delim = {sql_literal(delimiter)}", "strict_mode = true"]
        if options.quote:
            args.append(f"quote = {sql_literal(options.quote)}")
        if options.decimal == ",":
            args.append("decimal_separator = ','")
        if options.null_values:  # an empty field stays missing, as without the option
            nulls = dict.fromkeys(("", *options.null_values))
            args.append(f"nullstr = [{', '.join(sql_literal(v) for v in nulls)}]")
        # always given: left to guess, DuckDB's sniffer takes a footer with one field too
        # many (TOTAL,,,60) for the header and skips every line above it
        args.append(f"skip = {int(options.skip_rows)}")
        if options.columns:
            types = ", ".join(f"{sql_literal(col)}: {sql_literal(_duck_type(t))}"
                              for col, t in options.columns.items())
            args.append(f"types = {{{types}}}")
        rejects = _DuckDBRejects(self, reject_dir, paths)
        if options.on_error != "fail":
            args += ["store_rejects = true", f"rejects_table = {sql_literal(rejects.table)}",
                     f"rejects_scan = {sql_literal(rejects.scan)}"]
        try:
            table = self._view(f"SELECT * FROM read_csv({', '.join(args)})")
        except Exception as exc:
            bad = first_malformed_line(paths, delimiter, native, options.quote, options.skip_rows,
                                       rows_set_aside=options.on_error != "fail")
            reason = bad or _first_line(exc)
            if bad and "never closed" in bad:
                reason += ("; no on_error setting can set it aside: close the quote, or set "
                           "quote to empty when the file quotes nothing")
            elif bad and options.on_error == "fail":
                reason += "; set on_error to 'skip' or 'quarantine' to set such rows aside"
            raise ConfigError(f"cannot read CSV: {reason}", field="path") from exc
        return table, rejects

    def scan_parquet(self, paths: Sequence[str], *, hive_partitioning: bool) -> ir.Table:
        files = ", ".join(sql_literal(p) for p in paths)
        return self._view(f"SELECT * FROM read_parquet([{files}], hive_partitioning = "
                          f"{str(hive_partitioning).lower()}, union_by_name = true)")

    def scan_json(self, paths: Sequence[str], *, lines: bool | None) -> ir.Table:
        files = ", ".join(sql_literal(p) for p in paths)
        fmt = {True: "newline_delimited", False: "array", None: "auto"}[lines]
        try:
            return self._view(f"SELECT * FROM read_json([{files}], format = {sql_literal(fmt)}, "
                              "union_by_name = true)")
        except Exception as exc:
            reason = self.describe_read_error(exc) or _first_line(exc)
            raise ConfigError(f"cannot read JSON: {reason}", field="path") from exc

    def from_arrow(self, data: pa.Table | pa.RecordBatchReader, *, name: str) -> ir.Table:
        import pyarrow as pa

        view = self.fresh_name(name)
        if isinstance(data, pa.RecordBatchReader):
            data = _CStream(self.watch(data))
        self.raw.register(view, data)
        return self._table(view)

    def materialize(self, table: ir.Table) -> ir.Table:
        name = self.fresh_name("cache")
        sql = executable_sql(self.con, table)
        self.raw.execute(f"CREATE TEMP TABLE {sql_identifier(name)} AS {sql}")
        return self._table(name)

    def write_files(self, table: ir.Table, request: FileWrite) -> int:
        options = [f"FORMAT {request.format}"]
        if request.format == "csv":
            options += [f"DELIMITER {sql_literal(request.csv_delimiter)}",
                        f"HEADER {str(request.csv_header).lower()}"]
        if request.compression:
            options.append(f"COMPRESSION {sql_literal(request.compression)}")
        sql = self.conformed_sql(_finite_floats(table) if request.format == "json" else table)
        if request.partition_by:
            cols = ", ".join(sql_identifier(c) for c in request.partition_by)
            options += [f"PARTITION_BY ({cols})", "OVERWRITE_OR_IGNORE true"]
            target = request.directory
            if request.format == "json":
                sql, options = _json_lines_as_text(sql, table.columns, request, options)
        else:
            suffix = {"csv": ".csv", "parquet": ".parquet", "json": ".jsonl"}[request.format]
            target = request.directory / (request.single_file_name or f"part-0{suffix}")
        profile = self.work_dir / f"{self.fresh_name('profile')}.json"
        self.raw.execute("PRAGMA enable_profiling = 'json'")
        self.raw.execute(f"PRAGMA profiling_output = {sql_literal(str(profile))}")
        try:
            result = self.raw.execute(
                f"COPY ({sql}) TO {sql_literal(str(target))} ({', '.join(options)})").fetchone()
        finally:
            self.raw.execute("PRAGMA disable_profiling")
        self.last_scan_rows = _scan_cardinalities(profile)
        return int(result[0]) if result else 0

    def _arrow_sql(self, table: ir.Table) -> str:
        """The query whose Arrow result is ``table``'s schema: DuckDB hands intervals over as
        month-day-nano values, which the schema's durations are not."""
        sql = self.conformed_sql(table)
        intervals = [n for n, t in table.schema().items() if t.is_interval()]
        if intervals:
            sql = f"SELECT * REPLACE ({', '.join(map(interval_microseconds, intervals))}) FROM ({sql})"
        return sql

    def to_batches(self, table: ir.Table, *, batch_size: int = 100_000) -> pa.RecordBatchReader:
        import pyarrow as pa

        reader = self.raw.execute(self._arrow_sql(table)).fetch_record_batch(batch_size)
        self._results.append(reader)
        schema = table.schema().to_pyarrow()
        if reader.schema.equals(schema):
            return reader
        return pa.RecordBatchReader.from_batches(
            schema, (_null_columns_typed(batch, schema) for batch in reader))

    # Ibis's own ``to_pyarrow`` imports pandas for its type converter: 0.3 s of every preview.
    def to_arrow(self, table: ir.Table, *, limit: int | None = None) -> pa.Table:
        import pyarrow as pa

        limited = table.limit(limit) if limit is not None else table
        result = self.raw.execute(self._arrow_sql(limited)).fetch_arrow_table()
        schema = table.schema().to_pyarrow()
        if result.schema.equals(schema):
            return result
        return pa.Table.from_batches(
            [_null_columns_typed(b, schema) for b in result.to_batches()], schema)

    def count(self, table: ir.Table) -> int:
        row = self.raw.execute(f"SELECT count(*) FROM ({executable_sql(self.con, table)})").fetchone()
        return int(row[0]) if row else 0

    def describe_read_error(self, exc: BaseException) -> str | None:
        text = str(exc)
        json_error = re.search(r'Malformed JSON in file "(.+?)", at byte \d+ in '
                               r'(line|record/value) (\d+): ([^.\n]+)', text)
        if json_error:
            file, unit, number, reason = json_error.groups()
            where = f" line {number}" if unit == "line" else ""  # its record count is no place
            return f"{Path(file).name}{where} is not valid JSON ({reason.strip()})"
        found = re.search(r"CSV Error on Line: (\d+)\s*\nOriginal Line: (.*?)\n(.*?)\n", text)
        if not found:
            return None
        line, original, reason = found.groups()
        converting = re.match(r'Error when converting column "(.+)"\. Could not convert string '
                              r'"(.*)" to \'(.+)\'', reason)
        if converting:
            column, value, type_name = converting.groups()
            reason = f"column {column!r} cannot hold {value!r} (read as {type_name.lower()})"
        file = _error_file(text)
        return f"{file + ' ' if file else ''}line {line}: {reason}: {shown(original)}"

    def conformed_sql(self, table: ir.Table) -> str:
        """The relation's SQL with every column cast to the type its schema promises (DuckDB
        may return a narrower type, e.g. DATE for a month truncation of a TIMESTAMP)."""
        casts = ", ".join(
            f"NULL AS {sql_identifier(name)}" if dtype.is_null() else
            f"CAST({sql_identifier(name)} AS {DuckDBType.from_ibis(dtype).sql('duckdb')}) "
            f"AS {sql_identifier(name)}" for name, dtype in table.schema().items())
        return f"SELECT {casts} FROM ({executable_sql(self.con, table)})"

    def interrupt(self) -> None:
        if "con" in self.__dict__:
            self.raw.interrupt()

    def close(self) -> None:
        """Stop the queries still reading streams (they get an error), then the streams."""
        for watched in self.streams:
            watched.pump.halt()
        for result in self._results:
            result.close()
        self._results.clear()
        if "con" in self.__dict__:
            self.con.disconnect()
        self.release_streams()


class _CStream:
    """A one-shot stream DuckDB reads through Arrow's C interface. A RecordBatchReader itself it
    would read through a pyarrow dataset scanner, whose own thread reads ahead inside Python's
    code and, left alone when a loader fails, hangs or aborts the process at exit."""

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self.reader = reader

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.reader.__arrow_c_stream__(requested_schema)


def _null_columns_typed(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """DuckDB hands a column of bare NULLs to Arrow as int32, and an interval as Arrow's
    month-day-nano one; the relation says ``null`` and a duration."""
    import pyarrow as pa

    arrays = [pa.nulls(batch.num_rows) if field.type == pa.null() else
              batch.column(i).cast(field.type) if pa.types.is_duration(field.type) else
              batch.column(i) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class _DuckDBRejects:
    """Rows the CSV scan rejected (``store_rejects``), turned into a report and a side file."""

    def __init__(self, backend: DuckDBBackend, reject_dir: str | None, paths: Sequence[str]) -> None:
        self.backend = backend
        self.table = backend.fresh_name("rejects")
        self.scan = backend.fresh_name("rejects_scan")
        self.reject_dir = reject_dir
        self.paths = paths

    def report(self) -> ScanReport:
        raw = self.backend.raw
        try:
            rel = raw.execute(
                f"SELECT s.file_path AS file, e.line, any_value(e.csv_line) AS raw_line, "
                f"string_agg(DISTINCT e.error_type, ', ') AS error_types, "
                f"string_agg(e.error_message, '; ') AS errors "
                f"FROM {sql_identifier(self.table)} e "
                f"JOIN {sql_identifier(self.scan)} s USING (scan_id, file_id) "
                f"GROUP BY ALL ORDER BY file, line")
            rejected = rel.fetch_arrow_table()
        except Exception:  # the scan never ran, so DuckDB made no rejects table
            return ScanReport()
        if rejected.num_rows == 0:
            return ScanReport()
        path = None
        if self.reject_dir is not None:
            import pyarrow.csv as pacsv

            out = Path(self.reject_dir)
            out.mkdir(parents=True, exist_ok=True)
            path = str(out / "rejected_rows.csv")
            pacsv.write_csv(rejected, path)
        sample = [json.loads(json.dumps(r, default=str)) for r in rejected.slice(0, 5).to_pylist()]
        return ScanReport(rows_rejected=rejected.num_rows, rejected_path=path, rejected_sample=sample)


def _scan_cardinalities(profile: Path) -> list[int] | None:
    """Rows read by each source scan of the last query, from DuckDB's profile; None when one is
    unknown. A scan that runs a filter itself gives the rows it kept: its rows read are the
    rows it scanned, which DuckDB counts for files, not for Arrow streams."""
    try:
        tree = json.loads(profile.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        profile.unlink(missing_ok=True)
    rows: list[int] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.get("operator_type") == "TABLE_SCAN":
            if "Filters" not in (node.get("extra_info") or {}):
                rows.append(int(node.get("operator_cardinality", 0)))
            elif scanned := int(node.get("operator_rows_scanned", 0)):
                rows.append(scanned)
            else:
                return None
        stack.extend(node.get("children", []))
    return rows


def _duck_type(name: str) -> str:
    return str(DuckDBType.from_ibis(to_ibis_type(name)).sql("duckdb"))


def _finite_floats(table: ir.Table) -> ir.Table:
    """JSON has no Infinity or NaN (DuckDB's writer emits them bare): null, as Polars writes."""
    floats = [name for name, dtype in table.schema().items() if dtype.is_floating()]
    return table.mutate(**{name: (table[name].isinf() | table[name].isnan()).ifelse(
        ibis.null(), table[name]) for name in floats}) if floats else table


def _json_lines_as_text(sql: str, columns: Sequence[str], request: FileWrite,
                        options: list[str]) -> tuple[str, list[str]]:
    """DuckDB's JSON writer cannot partition, but its CSV writer can: each row becomes one
    ``to_json`` text field (what DuckDB's own JSON COPY writes), the only field of its line."""
    fields = ", ".join(f"{sql_identifier(c)} := {sql_identifier(c)}" for c in columns
                       if c not in request.partition_by)
    keys = ", ".join(sql_identifier(c) for c in request.partition_by)
    text = f"SELECT to_json(struct_pack({fields})) AS _ecluse_json, {keys} FROM ({sql})"
    return text, [*(o for o in options if o != "FORMAT json"), "FORMAT csv", "HEADER false",
                  "QUOTE ''", "ESCAPE ''", "DELIMITER '\n'", "FILE_EXTENSION 'jsonl'"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    too_long = re.search(r"Original Line: (.{0,40}).*?Maximum line size of (\d+) bytes exceeded\. "
                         r"Actual Size:\s*(\d+)", text, re.DOTALL)
    if too_long:  # DuckDB's line number there counts from its last sniffed buffer: not shown
        start, limit, size = too_long.group(1), int(too_long.group(2)), int(too_long.group(3))
        file = _error_file(text)
        return (f"{file + ': ' if file else ''}a line is {size:,} bytes long, "
                f"more than the reader's limit of {limit:,} bytes; it starts with {start + '...'!r} "
                "(a quote left open makes one line of the rest of the file)")
    return text.splitlines()[0] if text else type(exc).__name__


def _error_file(text: str) -> str | None:
    """The file a DuckDB CSV error names in its dialect listing (``  file = in.csv``)."""
    found = re.search(r"^\s*file = (.+)$", text, re.MULTILINE)
    return Path(found.group(1)).name if found else None
