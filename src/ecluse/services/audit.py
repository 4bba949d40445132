"""The audit trail (read side; every change writes its event through platform.audit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ecluse.services.platform import Platform
from ecluse.store.models import AuditEvent


def list_events(platform: Platform, *, action: str | None, target_id: str | None, limit: int,
                offset: int) -> tuple[list[dict[str, Any]], int]:
    where = []
    if action:
        where.append(AuditEvent.action == action)
    if target_id:
        where.append(AuditEvent.target_id == target_id)
    with platform.db.session() as s:
        total = s.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
        rows = s.scalars(select(AuditEvent).where(*where).order_by(AuditEvent.id.desc())
                         .limit(limit).offset(offset))
        return [{"id": r.id, "at": r.at, "actor": r.actor, "action": r.action,
                 "target_type": r.target_type, "target_id": r.target_id,
                 "source_ip": r.source_ip, "detail": r.detail} for r in rows], total
