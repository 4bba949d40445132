"""The guarantee that a run never executes twice at once: a PostgreSQL session advisory lock
on the run, held on a connection of its own for as long as one process executes the run.

PostgreSQL drops the lock the moment that process dies (its connection closes), so a worker
can take over a run whose worker was SIGKILLed at once, and never while that worker still
runs it, however late its heartbeat is. The heartbeat goes through the same connection: a
worker that cannot write it may have lost the lock, and stops."""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, Engine, select, text, update

from ecluse.store.models import Run, utcnow

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def require_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise ValueError("The Celery executor needs the metadata database on PostgreSQL, shared "
                         "by the API and every worker: set ECLUSE_DATABASE_URL=postgresql://… "
                         f"(this one is {engine.dialect.name}).")


def lock_key(run_id: str) -> int:
    """A signed 64-bit key of the run (advisory lock keys are bigint)."""
    digest = hashlib.blake2b(f"ecluse-run:{run_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class RunLock:
    def __init__(self, engine: Engine, run_id: str) -> None:
        require_postgresql(engine)
        self.engine, self.run_id, self.key = engine, run_id, lock_key(run_id)
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        """True when this process now holds the run; False while another one does."""
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if conn.execute(_TRY_LOCK, {"key": self.key}).scalar():
            self._conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(_UNLOCK, {"key": self.key})
            conn.close()
        except Exception:
            conn.invalidate()  # never hand a connection that may still hold the lock to the pool

    def heartbeat(self, owner: str) -> bool:
        """Refresh the run's heartbeat; False when ``owner`` no longer holds the run."""
        assert self._conn is not None
        changed = self._conn.execute(update(Run).where(
            Run.id == self.run_id, Run.instance == owner, Run.status == "running")
            .values(heartbeat_at=utcnow())).rowcount
        return changed == 1

    def cancel_requested(self) -> bool:
        assert self._conn is not None
        return bool(self._conn.execute(select(Run.cancel_requested).where(
            Run.id == self.run_id)).scalar())
