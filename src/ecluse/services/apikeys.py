"""API keys: credentials for scripts and orchestrators (Airflow). A key is shown once, at
creation; the store keeps its SHA-256 hash. Sent as ``Authorization: Bearer <key>`` or
``X-API-Key: <key>``, it acts with its own role through the same check as a user's token."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from ecluse.security.roles import Role
from ecluse.services.errors import Conflict, Invalid, NotFound, Unauthorized
from ecluse.services.platform import Actor, Platform, audit
from ecluse.store.models import ApiKey, utcnow

PREFIX = "ecl_"
"""Every key starts with this: it tells a key from a JWT, and secret scanners can spot it."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_CACHE_TTL = 2.0
"""Seconds a checked key is trusted without asking the database (revocation on this instance
applies at once; on another instance within this delay)."""
_TOUCH_EVERY = dt.timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key (not on every request)."""


@dataclass(frozen=True)
class ApiKeyView:
    id: str
    name: str
    prefix: str
    role: str
    created_by: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def _view(k: ApiKey) -> ApiKeyView:
    return ApiKeyView(k.id, k.name, k.prefix, k.role, k.created_by, k.created_at, k.expires_at,
                      k.last_used_at, k.revoked_at)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def is_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


def create(platform: Platform, actor: Actor, name: str, role: str,
           expires_days: float | None = None) -> tuple[ApiKeyView, str]:
    """A new key: its record, and the key itself (returned this once, never stored)."""
    if not _NAME.match(name):
        raise Invalid(f"API key name {name!r}: 1-100 letters, digits, '-', '_' or '.'.",
                      errors=[{"pointer": "/name", "detail": "bad name"}])
    if role not in {r.value for r in Role}:
        raise Invalid(f"Unknown role {role!r}: admin, developer or viewer.",
                      errors=[{"pointer": "/role", "detail": "admin, developer or viewer"}])
    if expires_days is not None and expires_days <= 0:
        raise Invalid("expires_days must be positive.",
                      errors=[{"pointer": "/expires_days", "detail": "must be > 0"}])
    key = PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=expires_days) if expires_days else None
    with platform.db.session() as s:
        if s.scalar(select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))):
            raise Conflict(f"An active API key named {name!r} already exists; revoke it first or "
                           "choose another name.")
        row = ApiKey(name=name, prefix=key[:len(PREFIX) + 6], key_hash=_hash(key), role=role,
                     created_by=actor.username, expires_at=expires)
        s.add(row)
        s.flush()
        audit(s, actor, "apikey.create", "api_key", row.id, name=name, role=role,
              expires_at=expires.isoformat() if expires else None)
        return _view(row), key


def list_keys(platform: Platform, *, include_revoked: bool = False) -> list[ApiKeyView]:
    with platform.db.session() as s:
        query = select(ApiKey).order_by(ApiKey.name, ApiKey.created_at)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        return [_view(k) for k in s.scalars(query)]


def revoke(platform: Platform, actor: Actor, id_or_name: str) -> ApiKeyView:
    """Revoke by id, or by the name of an active key."""
    with platform.db.session() as s:
        row = s.get(ApiKey, id_or_name) or s.scalar(
            select(ApiKey).where(ApiKey.name == id_or_name, ApiKey.revoked_at.is_(None)))
        if row is None:
            raise NotFound(f"No API key with id or active name {id_or_name!r}.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit(s, actor, "apikey.revoke", "api_key", row.id, name=row.name)
        with _cache_lock:
            _cache.pop(_cache_key(platform, row.key_hash), None)
        return _view(row)


_cache: dict[str, tuple[float, ApiKeyView]] = {}
_cache_lock = threading.Lock()


def _cache_key(platform: Platform, key_hash: str) -> str:
    return f"{id(platform)}:{key_hash}"


def _lookup(platform: Platform, key_hash: str) -> ApiKeyView | None:
    now = time.monotonic()
    cache_key = _cache_key(platform, key_hash)
    with _cache_lock:
        cached = _cache.get(cache_key)
    if cached is not None and cached[0] > now:
        return cached[1]
    with platform.db.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
        if row is None:
            return None
        stamp = utcnow()
        if row.revoked_at is None and (row.last_used_at is None
                                       or stamp - row.last_used_at > _TOUCH_EVERY):
            row.last_used_at = stamp
        found = _view(row)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[cache_key] = (now + _CACHE_TTL, found)
    return found


def authenticate(platform: Platform, key: str, ip: str | None) -> Actor:
    found = _lookup(platform, _hash(key))
    if found is None:
        raise Unauthorized("Authentication failed: unknown API key.")
    if found.revoked_at is not None:
        raise Unauthorized(f"Authentication failed: the API key {found.name!r} was revoked.")
    if found.expires_at is not None and found.expires_at <= utcnow():
        raise Unauthorized(f"Authentication failed: the API key {found.name!r} has expired.")
    return Actor(None, f"apikey:{found.name}", found.role, ip, api_key_id=found.id)
