"""Loader ``duckdb``: append, replace or upsert into a `.duckdb` file, in one transaction."""

from __future__ import annotations

from ecluse.sdk.dbfile import DbFileLoadConfig, DbFileLoader


class DuckDBLoader(DbFileLoader):
    name = "duckdb"
    title = "DuckDB file"
    description = "Write into a DuckDB database file (append, replace, upsert), atomically."
    file_kind = "duckdb"
    Config = DbFileLoadConfig
