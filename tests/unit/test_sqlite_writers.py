"""SQLite metadata store: the writers of one process queue for each other instead of polling
in SQLite's busy handler (and failing past its timeout); readers do not wait."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ecluse.store.db import Database, migrate
from ecluse.store.models import AuditEvent

WRITERS = 16


def _write(db: Database, i: int) -> str:
    """One transaction that keeps SQLite's write lock for a while (two inserts, 50 ms apart)."""
    try:
        with db.session() as s:
            s.add(AuditEvent(action="test.first", target_type="test", target_id=str(i)))
            s.flush()
            time.sleep(0.05)
            s.add(AuditEvent(action="test.second", target_type="test", target_id=str(i)))
    except Exception as exc:
        return str(exc)
    return "ok"


def _database(tmp_path: Path, queue_writers: bool) -> Database:
    # a busy timeout far below what 16 writers holding the lock 50 ms each need in total
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}", busy_timeout=0.2,
                  queue_writers=queue_writers)
    migrate(db.engine)
    return db


@pytest.mark.parametrize("queue_writers", [True, False])
def test_concurrent_writers_all_commit_only_when_queued(tmp_path: Path,
                                                        queue_writers: bool) -> None:
    db = _database(tmp_path, queue_writers)
    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            outcomes = list(pool.map(lambda i: _write(db, i), range(WRITERS)))
        with db.session() as s:
            rows = s.scalar(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.target_type == "test"))
    finally:
        db.dispose()
    locked = [o for o in outcomes if "database is locked" in o]
    if queue_writers:
        assert outcomes == ["ok"] * WRITERS
        assert rows == 2 * WRITERS
    else:  # what the queue is for: without it, SQLite gives up on some of them
        assert locked
        assert rows == 2 * (WRITERS - len(locked))


def test_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    db = _database(tmp_path, queue_writers=True)
    writing, done = threading.Event(), threading.Event()

    def writer() -> None:
        with db.session() as s:
            s.add(AuditEvent(action="test.slow", target_type="test"))
            s.flush()
            writing.set()
            done.wait(30)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert writing.wait(30)
        with db.session() as s:  # would block until ``done`` if readers queued too
            seen = s.scalar(select(func.count()).select_from(AuditEvent))
        assert seen == 0  # the writer has not committed yet
        assert t.is_alive()
    finally:
        done.set()
        t.join(30)
        db.dispose()
