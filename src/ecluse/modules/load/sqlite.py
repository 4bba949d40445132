"""Loader ``sqlite``: append, replace or upsert into a SQLite file, in one transaction."""

from __future__ import annotations

from ecluse.sdk.dbfile import DbFileLoadConfig, DbFileLoader


class SqliteLoader(DbFileLoader):
    name = "sqlite"
    title = "SQLite file"
    description = "Write into a SQLite database file (append, replace, upsert), atomically."
    file_kind = "sqlite"
    Config = DbFileLoadConfig
