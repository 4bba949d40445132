"""Everything a use-case needs, built once per server process."""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ecluse.sdk.registry import Registry, default_registry
from ecluse.security.crypto import SecretBox, derive_key, load_master_key
from ecluse.security.tokens import TokenIssuer
from ecluse.services.config import PlatformSettings
from ecluse.store.db import Database, database_url
from ecluse.store.models import AuditEvent, NodeState


def build_registry(extra_modules: list[str]) -> Registry:
    registry = Registry(default_registry().all())
    registry.load_errors = list(default_registry().load_errors)
    for name in extra_modules:
        registry.register_classes_of(importlib.import_module(name))
    return registry


@dataclass(frozen=True)
class Actor:
    """Who asks (for permission checks and the audit trail)."""

    user_id: str | None
    username: str
    role: str
    ip: str | None = None
    api_key_id: str | None = None
    """Set when the request came with an API key rather than a user's token."""


SYSTEM = Actor(None, "system", "admin")


class Publisher(Protocol):
    def publish(self, event: dict[str, Any]) -> None: ...


class _NoPublisher:
    def publish(self, event: dict[str, Any]) -> None:
        return None


class Platform:
    def __init__(self, settings: PlatformSettings) -> None:
        self.bus: Publisher = _NoPublisher()
        self.wake: Any = lambda: None
        """Called after a run is queued (the executor looks for work at once)."""
        self.on_cancel: Any = lambda run_id: None
        """Called after a cancel is recorded (the Celery executor revokes the run's message)."""
        self.settings = settings
        self.db = Database(database_url(settings.database_url, settings.data_dir))
        master = load_master_key(settings.secret_key, settings.data_dir)
        self.secrets = SecretBox(master)
        self.tokens = TokenIssuer(derive_key(master, "ecluse-jwt-v1"),
                                  access_ttl=dt.timedelta(minutes=settings.access_token_minutes),
                                  refresh_ttl=dt.timedelta(days=settings.refresh_token_days))
        self.registry = build_registry(settings.extra_modules)
        self.base_dir = Path.cwd()
        """Relative paths in pipeline documents resolve from here."""


def audit(session: Session, actor: Actor, action: str, target_type: str, target_id: str | None,
          **detail: Any) -> None:
    session.add(AuditEvent(actor=actor.username, action=action, target_type=target_type,
                           target_id=target_id, source_ip=actor.ip, detail=detail))


class DatabaseStateStore:
    """The engine's per pipeline and node state, kept in the metadata database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, pipeline_id: str, node_id: str) -> dict[str, Any] | None:
        with self._db.session() as s:
            row = s.get(NodeState, (pipeline_id, node_id))
            return dict(row.value) if row else None

    def put(self, pipeline_id: str, node_id: str, value: dict[str, Any]) -> None:
        with self._db.session() as s:
            row = s.get(NodeState, (pipeline_id, node_id))
            if row is None:
                s.add(NodeState(pipeline_id=pipeline_id, node_id=node_id, value=value))
            else:
                row.value = value
                row.updated_at = dt.datetime.now(dt.UTC)

    def delete(self, pipeline_id: str, node_id: str) -> None:
        with self._db.session() as s:
            row = s.get(NodeState, (pipeline_id, node_id))
            if row is not None:
                s.delete(row)

    def all(self, pipeline_id: str) -> dict[str, dict[str, Any]]:
        with self._db.session() as s:
            rows = s.scalars(select(NodeState).where(NodeState.pipeline_id == pipeline_id))
            return {r.node_id: dict(r.value) for r in rows}
