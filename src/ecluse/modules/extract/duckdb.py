"""Extractor ``duckdb``: a table or a query of a `.duckdb` file, streamed as Arrow."""

from __future__ import annotations

from ecluse.sdk.dbfile import DbFileExtractor, DbFileReadConfig


class DuckDBExtractor(DbFileExtractor):
    name = "duckdb"
    title = "DuckDB file"
    description = "Read a table or a query from a DuckDB database file."
    file_kind = "duckdb"
    Config = DbFileReadConfig
