"""PostgreSQL through ADBC's low-level API: one driver database, its connections, statements.

ADBC's DB-API layer imports pandas, polars and pyarrow.dataset when it loads (half a second)
and every ``connect`` builds a new driver database, whose set-up reads the server's type
catalog (a round trip and ~60 ms). Here one :class:`PgDatabase` serves every connection of a
read or of a pushed-down chain, results arrive as Arrow C streams read by pyarrow, and
statements report the rows they affected (the command tag), so nothing counts rows again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecluse.sdk.arrow_pg import first_line, qualified
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.warehouse import SqlWarehouse

if TYPE_CHECKING:
    import ibis.expr.schema as sch
    import pyarrow as pa

Params = Sequence[str | None]

_INGEST_MODE = {"append": "adbc.ingest.mode.append", "create": "adbc.ingest.mode.create"}


class PgDatabase:
    """A driver database for one URI; cheap to open connections from. Holds no server
    connection itself."""

    _db: Any = None

    def __init__(self, uri: str, *, name: str) -> None:
        import adbc_driver_manager._lib as lib
        import adbc_driver_postgresql

        self.name = name
        try:
            self._db = lib.AdbcDatabase(driver=adbc_driver_postgresql._driver_path(), uri=uri)
        except Exception as exc:
            raise ConfigError(f"cannot connect to {name!r}: {first_line(exc)}",
                              field="connection") from exc

    def session(self) -> PgSession:
        return PgSession(self)

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):  # a connection still open: kept for __del__
                self._db.close()
                self._db = None

    def __del__(self) -> None:
        self.close()


class PgSession:
    """One server connection in autocommit mode; ``begin``/``commit``/``rollback`` are SQL."""

    _conn: Any = None
    _owns_database = False

    def __init__(self, database: PgDatabase) -> None:
        import adbc_driver_manager._lib as lib

        self._lib = lib
        self.database = database
        self._streams: dict[int, Callable[[], None]] = {}
        """Results still being read, released before the connection is."""
        try:
            self._conn: Any = lib.AdbcConnection(database._db)
        except Exception as exc:
            raise ConfigError(f"cannot connect to {database.name!r}: {first_line(exc)}",
                              field="connection") from exc
        # as the engine and the MySQL modules do: a naive timestamp cast to timestamptz (a
        # load into an existing column), and SQL on times (pushdown, queries), in UTC, not in
        # the zone the server or the database was set up with
        self.execute("SET TIME ZONE 'UTC'")

    @classmethod
    def open(cls, uri: str, *, name: str) -> PgSession:
        """A connection with a database of its own (closed with it)."""
        session = cls(PgDatabase(uri, name=name))
        session._owns_database = True
        return session

    def _statement(self, sql: str, params: Params | None) -> Any:
        stmt = self._lib.AdbcStatement(self._conn)
        try:
            stmt.set_sql_query(sql)
            if params:
                stmt.bind(_param_batch(params))
        except BaseException:
            stmt.close()
            raise
        return stmt

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement; the rows it affected (-1 when the server does not say)."""
        stmt = self._statement(sql, params)
        try:
            return int(stmt.execute_update())
        finally:
            stmt.close()

    def reader(self, sql: str, params: Params | None = None) -> pa.RecordBatchReader:
        """The result as a stream of Arrow batches (binary COPY); the statement is released
        when the stream ends or is dropped."""
        import pyarrow as pa

        stmt = self._statement(sql, params)
        try:
            handle, _ = stmt.execute_query()
            source = pa.RecordBatchReader.from_stream(handle)
        except BaseException:
            stmt.close()
            raise

        def release() -> None:
            if self._streams.pop(id(stmt), None) is not None:
                source.close()
                stmt.close()
        self._streams[id(stmt)] = release

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from source
            finally:
                release()
        return pa.RecordBatchReader.from_batches(source.schema, batches())

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        return self.reader(sql, params).read_all()

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        table = self.query(sql, params)
        return list(zip(*(c.to_pylist() for c in table.columns), strict=True))

    def ingest(self, table: str, data: pa.RecordBatchReader, *, mode: str,
               db_schema: str | None = None, temporary: bool = False) -> int:
        """Binary COPY of a stream into ``table`` (``mode`` append or create)."""
        stmt = self._lib.AdbcStatement(self._conn)
        try:
            options: dict[str, str] = {"adbc.ingest.target_table": table,
                                       "adbc.ingest.mode": _INGEST_MODE[mode],
                                       "adbc.ingest.temporary": "true" if temporary else "false"}
            if db_schema is not None:
                options["adbc.ingest.target_db_schema"] = db_schema
            stmt.set_options(**options)
            stmt.bind_stream(data)
            return int(stmt.execute_update())
        finally:
            stmt.close()

    def begin(self, options: str = "") -> None:
        self.execute(f"BEGIN {options}".strip())

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    def cancel(self) -> None:
        with contextlib.suppress(Exception):  # cancelling is best effort
            self._conn.cancel()

    def close(self) -> None:
        for release in list(self._streams.values()):
            with contextlib.suppress(Exception):
                release()
        if self._conn is not None:
            with contextlib.suppress(Exception):  # the server may already be gone
                self._conn.close()
            self._conn = None
        if self._owns_database:
            self.database.close()


def _param_batch(params: Params) -> pa.RecordBatch:
    """Parameters travel as text (each placeholder carries its own CAST)."""
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([_text_array(v) for v in params],
                                      names=[str(i) for i in range(len(params))])


def _text_array(value: str | None) -> pa.Array:
    """A one-value string array built from its buffers: ``pa.array`` imports pandas (0.4 s)
    the first time it sees a Python list."""
    import struct

    import pyarrow as pa

    if value is None:
        return pa.Array.from_buffers(pa.string(), 1, [pa.py_buffer(b"\x00"),
                                                      pa.py_buffer(struct.pack("<ii", 0, 0)),
                                                      pa.py_buffer(b"")], null_count=1)
    data = value.encode()
    return pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(struct.pack("<ii", 0, len(data))),
                                                  pa.py_buffer(data)])


# --- the catalog, one round trip for every table a chain needs -------------------------------


@dataclass
class PgTable:
    columns: list[tuple[str, str, bool, bool]]
    """(name, type as ``format_type`` spells it, is an enum, nullable), in column order."""
    referenced: bool
    """Another table's foreign key points at this one (TRUNCATE would be refused)."""
    kind: str = "r"
    """``pg_class.relkind``: r (a table), p (a partitioned one), v (a view), m (a materialized
    view), f (a foreign table)."""

    def types(self) -> dict[str, str]:
        return {name: pg_type for name, pg_type, _, _ in self.columns}


_CATALOG = """SELECT r.i, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod),
  t.typtype = 'e', NOT a.attnotnull,
  EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
          WHERE c.contype = 'f' AND c.confrelid = to_regclass(r.name)),
  (SELECT k.relkind::text FROM pg_catalog.pg_class k WHERE k.oid = to_regclass(r.name))
FROM unnest(ARRAY[{names}]::text[]) WITH ORDINALITY AS r(name, i)
LEFT JOIN pg_catalog.pg_attribute a
  ON a.attrelid = to_regclass(r.name) AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
ORDER BY r.i, a.attnum"""


def read_catalog(session: PgSession, names: Sequence[str]) -> dict[str, PgTable | None]:
    """Columns of the tables ``names`` (qualified, quoted); None for a table that is missing."""
    sql = _CATALOG.format(names=", ".join(f"CAST(${i + 1} AS text)" for i in range(len(names))))
    found: dict[str, PgTable | None] = dict.fromkeys(names)
    for i, column, pg_type, enum, nullable, referenced, kind in session.rows(sql, list(names)):
        name = names[int(i) - 1]
        if column is None:
            continue
        table = found[name] or PgTable([], bool(referenced), str(kind or "r"))
        table.columns.append((str(column), str(pg_type), bool(enum), bool(nullable)))
        found[name] = table
    return found


class PgWarehouse(SqlWarehouse):
    """Pushed-down chains compiled to PostgreSQL's SQL and run on one session, which the
    loader writes through too. Table columns come from one catalog query that also fetches
    the tables announced with :meth:`prefetch` (the loader's target)."""

    def __init__(self, session: PgSession, compiler: Any) -> None:
        super().__init__(compiler, self._describe, session.close)
        self.session = session
        self._catalog: dict[str, PgTable | None] = {}
        self._wanted: list[str] = []

    def prefetch(self, schema: str | None, table: str) -> None:
        self._wanted.append(qualified(schema, table))

    def columns(self, schema: str | None, table: str, *, keep: bool = True) -> PgTable | None:
        """A table's columns (None when missing); ``keep=False`` forgets them once read (a
        loader's target changes under it)."""
        name = qualified(schema, table)
        if name not in self._catalog:
            names = list(dict.fromkeys([name, *self._wanted]))
            self._wanted = []
            self._catalog.update(read_catalog(self.session, names))
        return self._catalog[name] if keep else self._catalog.pop(name)

    def _describe(self, schema: str | None, table: str) -> sch.Schema:
        import ibis
        from ibis.backends.sql.compilers.postgres import compiler

        found = self.columns(schema, table)
        if found is None:
            raise ConfigError(f"table {qualified(schema, table)} does not exist", field="table")
        mapper = compiler.type_mapper
        return ibis.Schema({name: mapper.from_string("enum" if enum else pg_type, nullable=nullable)
                            for name, pg_type, enum, nullable in found.columns})


def open_warehouse(uri: str, *, name: str) -> PgWarehouse:
    """Compiles pushed-down chains to PostgreSQL's SQL without importing and connecting Ibis's
    PostgreSQL backend (psycopg, pandas): tables are typed as that backend types them.

    The driver reads the server's type catalog (without the GIL) while Ibis's compiler
    module loads: both take ~0.1-0.3 s, one after the other they would add up."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="ecluse-pg-connect") as pool:
        opening = pool.submit(PgSession.open, uri, name=name)
        try:
            from ibis.backends.sql.compilers.postgres import compiler
        except BaseException:
            if opening.exception() is None:
                opening.result().close()
            raise
        return PgWarehouse(opening.result(), compiler)
