"""One SQLite writer at a time per process; readers stay free.

SQLite allows a single writer. A second connection that wants to write waits in SQLite's busy
handler, which polls with growing sleeps (up to 100 ms each): under 50 concurrent requests the
tail of a write grew to seconds and, past the busy timeout, failed with "database is locked".
Here the connections of one process queue on a condition instead and the next writer goes as
soon as the previous one commits. Other processes (run workers) still meet SQLite's own lock.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event

_READS = ("SELECT", "PRAGMA", "EXPLAIN")


class WriterQueue:
    """Held by one DBAPI connection from its first write statement to its commit/rollback."""

    def __init__(self, wait_seconds: float = 60.0) -> None:
        self._cond = threading.Condition()
        self._holder: Any = None
        self._holder_thread: int | None = None
        self.wait_seconds = wait_seconds
        """Past this, go on without the queue (SQLite's busy handler decides): a safety net,
        never reached unless a transaction is left open."""

    def acquire(self, conn: Any) -> None:
        dbapi_conn, me = _raw(conn), threading.get_ident()
        with self._cond:
            if self._holder is dbapi_conn:
                return
            if self._holder is not None and self._holder_thread == me:
                return  # a nested transaction of the same thread: waiting would deadlock
            if self._cond.wait_for(lambda: self._holder is None, timeout=self.wait_seconds):
                self._holder, self._holder_thread = dbapi_conn, me

    def release(self, conn: Any) -> None:
        dbapi_conn = _raw(conn)
        with self._cond:
            if self._holder is dbapi_conn:
                self._holder, self._holder_thread = None, None
                self._cond.notify()


def _raw(conn: Any) -> Any:
    """The DBAPI connection (SQLAlchemy hands the dialect its pool's proxy of it)."""
    return getattr(conn, "dbapi_connection", conn)


def _writes(statement: str, context: Any) -> bool:
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    return not statement.lstrip().upper().startswith(_READS)


def queue_writers(engine: Engine) -> WriterQueue:
    """Make the writers of ``engine`` (SQLite) queue in this process; the queue is returned."""
    writers = WriterQueue()
    dialect: Any = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
                _many: bool) -> None:
        if _writes(statement, context):
            writers.acquire(conn.connection.dbapi_connection)

    # released after the database has committed (the engine's commit event comes before it)
    def do_commit(dbapi_conn: Any) -> None:
        try:
            commit(dbapi_conn)
        finally:
            writers.release(dbapi_conn)

    def do_rollback(dbapi_conn: Any) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            writers.release(dbapi_conn)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_conn: Any, _record: Any) -> None:
        writers.release(dbapi_conn)

    return writers
