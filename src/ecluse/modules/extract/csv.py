"""Extractor ``csv``: delimited text files, read by the engine in parallel."""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path
from typing import ClassVar, Literal

import ibis.expr.types as ir
from pydantic import Field, field_validator

from ecluse.sdk import Extractor, ModuleConfig, NodeContext, TypeName, path_field
from ecluse.sdk.backend import ScanHandle
from ecluse.sdk.csv_sniff import (
    GROUP_SEPARATORS,
    GROUPED_NUMBER,
    NumberStyle,
    detect_encoding,
    header_names,
    sniff_delimiter,
    sniff_numbers,
)
from ecluse.sdk.errors import ConfigError, NodeError
from ecluse.sdk.files import CsvReadOptions, expand_paths
from ecluse.sdk.suggest import did_you_mean


class CsvConfig(ModuleConfig):
    path: str = path_field("A file, a folder or a glob such as `in/*.csv`.")
    delimiter: str | None = Field(None, min_length=1, max_length=1,
                                  description="Field separator; detected from the file when empty.")
    encoding: str | None = Field(
        None, description="Text encoding: utf-8 (with or without BOM), latin-1, cp1252, utf-16...; "
        "detected from the file when empty.", examples=["utf-8", "latin-1", "cp1252"])
    header: bool = Field(True, description="The first line holds the column names.")
    quote: str | None = Field('"', max_length=1, description="Quote character.")
    decimal: Literal[".", ","] | None = Field(
        None, description="Decimal separator of numbers; detected from the file when empty (a "
        "comma when numbers such as 12,50 appear in a file not separated by commas). With a "
        "comma, numbers grouping thousands (1 234,50 or 1.234,50) are read as numbers too.",
        json_schema_extra={"x-null-label": "Detect from the file"})
    null_values: list[str] = Field(default_factory=list,
                                   description="Texts read as missing values, e.g. `NA`, `-`.")
    columns: dict[str, TypeName] = Field(
        default_factory=dict, description="Explicit types for some columns (others are detected), "
        "e.g. `{\"amount\": \"decimal(12,2)\"}`.")
    on_error: Literal["fail", "skip", "quarantine"] = Field(
        "fail", description="What to do with a malformed row: stop the run, skip it (counted), "
        "or set it aside in a quarantine file (counted and reported).")
    skip_rows: int = Field(0, ge=0, description="Lines to skip before the header.")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value


class CsvExtractor(Extractor):
    name = "csv"
    title = "CSV file"
    description = "Read delimited text files (a file, a folder or a glob)."
    category = "Files"
    icon = "description"
    Config = CsvConfig
    config: CsvConfig
    examples: ClassVar = ({"path": "in/*.csv", "delimiter": ";", "encoding": "latin-1",
                           "decimal": ",", "on_error": "quarantine"},)

    def read(self, ctx: NodeContext) -> ir.Table:
        c = self.config
        paths = self._non_empty(expand_paths(c.path, base_dir=ctx.base_dir), ctx)
        encoding, delimiter, numbers = c.encoding, c.delimiter, NumberStyle(".")
        if encoding and codecs.lookup(encoding).name == "iso8859-1" \
                and detect_encoding(paths[0]) == "cp1252":
            raise ConfigError(f"{Path(paths[0]).name} holds bytes that latin-1 reads as control "
                              "characters (0x80-0x9F, where cp1252 keeps €, Œ and curly quotes): it is "
                              "most likely cp1252; set encoding to cp1252", field="encoding")
        if c.decimal != "." or (c.columns and c.header):  # sniffed once, here, for the reader
            encoding = encoding or detect_encoding(paths[0])
            delimiter = delimiter or sniff_delimiter(paths[0], encoding)
            if c.decimal != ".":
                numbers = sniff_numbers(paths[0], encoding, delimiter, header=c.header,
                                        decimal=c.decimal)
            if c.columns and c.header:
                self._check_typed_columns(paths, encoding, delimiter)
        options = CsvReadOptions(delimiter=delimiter, encoding=encoding, header=c.header,
                                 quote=c.quote, decimal=numbers.decimal, null_values=tuple(c.null_values),
                                 columns=dict(c.columns), on_error=c.on_error, skip_rows=c.skip_rows)
        reject_dir = str(ctx.artifacts_dir) if c.on_error == "quarantine" else None
        table, handle = ctx.backend.scan_csv(paths, options, reject_dir=reject_dir)
        ctx.scratch["rejects"] = handle
        ctx.metrics["files"] = len(paths)
        return self._grouped_numbers(table, numbers.grouped, ctx)

    def _non_empty(self, paths: list[str], ctx: NodeContext) -> list[str]:
        """An empty file has no header and no rows: readers would invent a column for it."""
        kept = [p for p in paths if os.path.getsize(p) > 0] if "://" not in paths[0] else paths
        if not kept:
            raise ConfigError(f"{'every file matching ' if len(paths) > 1 else ''}"
                              f"{self.config.path!r} is empty", field="path")
        if len(kept) < len(paths):
            empty = [Path(p).name for p in sorted(set(paths) - set(kept))]
            ctx.log(f"{len(empty)} empty file(s) left out: {', '.join(empty[:5])}",
                    level="warning")
        return kept

    def _check_typed_columns(self, paths: list[str], encoding: str, delimiter: str) -> None:
        if "://" in paths[0]:
            return
        names = {n for p in paths for n in header_names(p, encoding, delimiter,
                                                         skip_rows=self.config.skip_rows)}
        for name in self.config.columns:
            if name not in names:
                raise ConfigError(f"columns: the file has no column {name!r}."
                                  f"{did_you_mean(name, names)}", field="columns")

    def _grouped_numbers(self, table: ir.Table, columns: tuple[str, ...],
                         ctx: NodeContext) -> ir.Table:
        """``1 234,50`` → 1234.5 for the columns the reader had to leave as text."""
        schema = table.schema()
        grouped = [name for name in columns if name in schema and schema[name].is_string()
                   and name not in self.config.columns]
        ctx.scratch["grouped"] = (table, grouped)  # what explain_failure looks into
        if not grouped:
            return table
        return table.mutate(**{name: _number(table[name]).cast("float64") for name in grouped})

    def explain_failure(self, ctx: NodeContext, cause: BaseException) -> NodeError | None:
        """A row the reader could not read past its sample, or a value of a column converted
        after reading that is not a number."""
        read_error = ctx.backend.describe_read_error(cause)
        if read_error is not None:
            aside = "'skip' or 'quarantine'" if ctx.backend.name == "duckdb" else "'skip'"
            typed = " give the column another type in `columns`, or" \
                if "cannot hold" in read_error else ""
            hint = (f"; fix the file,{typed} set on_error to {aside} to set such rows aside"
                    if self.config.on_error == "fail" else "")
            return NodeError(self.node_id, f"cannot read CSV: {read_error}{hint}", field="path")
        table, grouped = ctx.scratch.get("grouped", (None, []))
        for name in grouped:
            value = table[name]
            bad = value.notnull() & _number(value).try_cast("float64").isnull()
            rows = ctx.backend.to_arrow(table.filter(bad).relocate(name), limit=5).to_pylist()
            if rows:
                return NodeError(
                    self.node_id, f"column {name!r} holds numbers written with thousands "
                    f"separators (1 234,50), but {rows[0][name]!r} is not a number; fix the "
                    f"value, or read the column as text with columns: {json.dumps({name: 'string'})}",
                    field="columns", sample_rows=rows)
        return None

    def finish(self, ctx: NodeContext, *, succeeded: bool) -> None:
        handle: ScanHandle | None = ctx.scratch.get("rejects")
        if handle is None or self.config.on_error == "fail":
            return
        report = handle.report()
        ctx.metrics["rows_rejected"] = report.rows_rejected
        if report.rejected_path:
            ctx.metrics["rejected_path"] = report.rejected_path
        if report.rows_rejected:
            ctx.log(f"{report.rows_rejected} malformed row(s) "
                    f"{'quarantined' if report.rejected_path else 'skipped'}",
                    level="warning", path=report.rejected_path, sample=report.rejected_sample)


def _number(text: ir.StringValue) -> ir.StringValue:
    """A number of a decimal-comma file as text a cast reads: ``1 234,50`` → ``1234.50``. Only
    a value grouped by thousands loses its separators, so ``10.0.0.1`` stays no number."""
    grouped = text.re_search(GROUPED_NUMBER)
    return grouped.ifelse(text.re_replace(GROUP_SEPARATORS, ""), text).replace(",", ".")
