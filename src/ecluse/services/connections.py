"""Named connections; secret parts encrypted at rest, write-only, masked on read."""

from __future__ import annotations

import datetime as dt
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select

from ecluse.sdk.connection_types import connection_type_schemas, secret_fields, validate_fields
from ecluse.sdk.connections import Connection as EngineConnection
from ecluse.sdk.connections import parse_connection
from ecluse.sdk.probe import test_connection
from ecluse.services.errors import Conflict, Invalid, NotFound
from ecluse.services.platform import Actor, Platform, audit
from ecluse.store.models import Connection, utcnow

MASK = "********"
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|private|auth|signature", re.I)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def _mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:{MASK}@{host}", parts.path, parts.query,
                       parts.fragment))


def mask(value: Any, key: str = "") -> Any:
    """The value with every secret part replaced by ``********``."""
    if isinstance(value, dict):
        return {k: mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if key and _SECRET_KEY.search(key) and value not in (None, "") and not isinstance(value, bool):
        return MASK if not isinstance(value, dict) else value
    if isinstance(value, str) and "://" in value:
        return _mask_url(value)
    return value


def _masked(kind: str, data: dict[str, Any]) -> Any:
    """Masked by name (``password``, ``token``...) and by the type's schema (its secret fields,
    e.g. an API key's ``auth.value``)."""
    out = mask(data)
    for dotted in secret_fields(kind):
        *parents, leaf = dotted.split(".")
        target = out
        for p in parents:
            target = target.get(p) if isinstance(target, dict) else None
        if isinstance(target, dict) and target.get(leaf) not in (None, ""):
            target[leaf] = MASK
    return out


def _merge_kept(new: Any, old: Any) -> Any:
    """Where the client sent the mask back, keep the stored secret."""
    if new == MASK:
        return old
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: _merge_kept(v, old.get(k)) for k, v in new.items()}
    if (isinstance(new, str) and isinstance(old, str) and MASK in new and "://" in new
            and _mask_url(old) == new):
        return old
    return new


@dataclass
class ConnectionView:
    id: str
    name: str
    type: str
    fields: dict[str, Any]
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _view(c: Connection) -> ConnectionView:
    return ConnectionView(c.id, c.name, c.type, dict(c.masked), c.description, c.created_at,
                          c.updated_at)


def types() -> list[dict[str, Any]]:
    """The connection types the engine knows, each with the JSON Schema of its fields."""
    return connection_type_schemas()


def _parse(name: str, body: dict[str, Any]) -> EngineConnection:
    if not isinstance(name, str) or not _NAME.match(name):
        raise Invalid("A connection name is 1-200 letters, digits, '-', '_' or '.', starting "
                      "with a letter or digit.", errors=[{"pointer": "/name", "detail": "bad name"}])
    try:
        if "type" not in body and isinstance(body.get("url"), str):
            conn = parse_connection(name, body["url"])
        else:
            conn = parse_connection(name, body)
    except ValueError as exc:
        raise Invalid(str(exc), errors=[{"pointer": "/type", "detail": str(exc)}]) from exc
    problems = validate_fields(conn.type, dict(conn.fields))
    if problems:
        summary = "; ".join(f"{p['pointer'][1:]}: {p['detail']}" for p in problems[:5])
        raise Invalid(f"The connection's fields are not valid: {summary}", errors=problems)
    return conn


def create(platform: Platform, actor: Actor, body: dict[str, Any]) -> ConnectionView:
    name = body.get("name")
    description = body.get("description")
    fields = {k: v for k, v in body.items() if k not in ("name", "description")}
    conn = _parse(str(name) if name is not None else "", fields)
    data = dict(conn.fields)
    with platform.db.session() as s:
        if s.scalar(select(Connection).where(Connection.name == conn.name)) is not None:
            raise Conflict(f"A connection named {conn.name!r} already exists.")
        row = Connection(name=conn.name, type=conn.type, masked=_masked(conn.type, data),
                         secret=platform.secrets.encrypt(data, aad=conn.name),
                         description=description)
        s.add(row)
        s.flush()
        audit(s, actor, "connection.create", "connection", row.id, name=conn.name, type=conn.type)
        return _view(row)


def _get(s: Any, connection_id: str) -> Connection:
    row = s.get(Connection, connection_id)
    if row is None:
        row = s.scalar(select(Connection).where(Connection.name == connection_id))
    if row is None:
        raise NotFound(f"No connection with id or name {connection_id!r}.")
    assert isinstance(row, Connection)
    return row


def get(platform: Platform, connection_id: str) -> ConnectionView:
    with platform.db.session() as s:
        return _view(_get(s, connection_id))


def list_connections(platform: Platform, *, q: str | None, type_: str | None, limit: int,
                     offset: int) -> tuple[list[ConnectionView], int]:
    with platform.db.session() as s:
        where: list[Any] = []
        if q:
            where.append(Connection.name.ilike(f"%{q}%"))
        if type_:
            where.append(Connection.type == type_)
        total = s.scalar(select(func.count()).select_from(Connection).where(*where)) or 0
        rows = s.scalars(select(Connection).where(*where).order_by(Connection.name)
                         .limit(limit).offset(offset))
        return [_view(r) for r in rows], total


def update(platform: Platform, actor: Actor, connection_id: str, body: dict[str, Any]
           ) -> ConnectionView:
    with platform.db.session() as s:
        row = _get(s, connection_id)
        old = platform.secrets.decrypt(row.secret, aad=row.name)
        fields = {k: v for k, v in body.items() if k not in ("name", "description")}
        fields = _merge_kept(fields, {"type": row.type, **old})
        conn = _parse(row.name, fields)
        data = dict(conn.fields)
        row.type, row.masked = conn.type, _masked(conn.type, data)
        row.secret = platform.secrets.encrypt(data, aad=row.name)
        if "description" in body:
            row.description = body["description"]
        row.updated_at = utcnow()
        changed = sorted(k for k in set(data) | set(old) if data.get(k) != old.get(k))
        audit(s, actor, "connection.update", "connection", row.id, name=row.name,
              fields_changed=changed)
        return _view(row)


def delete(platform: Platform, actor: Actor, connection_id: str) -> None:
    with platform.db.session() as s:
        row = _get(s, connection_id)
        s.delete(row)
        audit(s, actor, "connection.delete", "connection", row.id, name=row.name)


class StoredConnections:
    """The engine's connection resolver over the encrypted store (decrypts on demand)."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def get(self, name: str) -> EngineConnection | None:
        with self._platform.db.session() as s:
            row = s.scalar(select(Connection).where(Connection.name == name))
            if row is None:
                return None
            data = self._platform.secrets.decrypt(row.secret, aad=row.name)
            return EngineConnection(row.name, row.type, data)

    def names(self) -> list[str]:
        with self._platform.db.session() as s:
            return list(s.scalars(select(Connection.name).order_by(Connection.name)))


def resolver(platform: Platform) -> StoredConnections:
    return StoredConnections(platform)


@dataclass
class TestResult:
    ok: bool
    message: str
    duration_ms: float


def _host_port(conn: EngineConnection) -> tuple[str, int] | None:
    defaults = {"postgres": 5432, "mysql": 3306, "mongodb": 27017, "redis": 6379,
                "clickhouse": 9000, "http": 443}
    url = conn.get("url") or conn.get("base_url") or conn.get("endpoint_url")
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.hostname:
            port = parts.port or (80 if parts.scheme == "http" else defaults.get(conn.type, 0))
            return (parts.hostname, port) if port else None
    host = conn.get("host")
    if isinstance(host, str):
        return host, int(conn.get("port") or defaults.get(conn.type, 0))
    return None


PROBED_TYPES = frozenset({"postgres", "http", "s3"})


def test(platform: Platform, actor: Actor, connection_id: str) -> TestResult:
    """Can the platform use it? PostgreSQL, HTTP APIs and S3 get a real request (log in, call,
    head the bucket); other types a network reach. Never says why in secret terms."""
    with platform.db.session() as s:
        row = _get(s, connection_id)
        data = platform.secrets.decrypt(row.secret, aad=row.name)
        conn = EngineConnection(row.name, row.type, data)
        audit(s, actor, "connection.test", "connection", row.id, name=row.name)
    t0 = time.perf_counter()
    if conn.type in PROBED_TYPES:  # a real request: log in, call the API, head the bucket
        check = test_connection(conn, timeout=5)
        return TestResult(check.ok, check.message, round(check.seconds * 1000, 1))
    target = _host_port(conn)  # other types: can the platform reach the server at all?
    if target is None:
        return TestResult(False, f"No network address to test for a {conn.type!r} connection.", 0.0)
    try:
        with socket.create_connection(target, timeout=5):
            pass
        return TestResult(True, f"Reached {target[0]}:{target[1]}.",
                          round((time.perf_counter() - t0) * 1000, 1))
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        for secret in _secrets_in(data):
            text = text.replace(secret, MASK)
        return TestResult(False, f"Failed: {text}", round((time.perf_counter() - t0) * 1000, 1))


def _secrets_in(data: Any) -> list[str]:
    out: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, str) and _SECRET_KEY.search(k):
                out.append(v)
            elif isinstance(v, str) and "://" in v:
                try:
                    pw = urlsplit(v).password
                except ValueError:
                    pw = None
                if pw:
                    out.append(pw)
            else:
                out.extend(_secrets_in(v))
    return [x for x in out if x]
