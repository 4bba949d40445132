"""Extractor ``sqlite``: a table or a query of a SQLite file, typed from declared affinities."""

from __future__ import annotations

from ecluse.sdk.dbfile import DbFileExtractor, DbFileReadConfig


class SqliteExtractor(DbFileExtractor):
    name = "sqlite"
    title = "SQLite file"
    description = "Read a table or a query from a SQLite database file."
    file_kind = "sqlite"
    Config = DbFileReadConfig
