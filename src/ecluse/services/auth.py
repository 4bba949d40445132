"""Login, refresh-token rotation with reuse detection, logout, users."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ecluse.observability.logging import get_logger
from ecluse.security.passwords import hash_password, verify_password
from ecluse.security.roles import Role
from ecluse.security.tokens import TokenError
from ecluse.services import apikeys
from ecluse.services.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized
from ecluse.services.platform import Actor, Platform, audit
from ecluse.store.models import ApiKey, RefreshToken, User, utcnow

log = get_logger("ecluse.auth")


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class LoginLimiter:
    """Failed logins per (client address, username) in a sliding window, counted by this
    instance."""

    def __init__(self, attempts: int, window: float) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, ip: str, username: str) -> None:
        now = time.monotonic()
        with self._lock:
            q = self._failures.get((ip, username.lower()))
            while q and now - q[0] > self.window:
                q.popleft()
            if q and len(q) >= self.attempts:
                self._refuse(self.window - (now - q[0]))

    def failed(self, ip: str, username: str) -> None:
        with self._lock:
            self._failures.setdefault((ip, username.lower()), deque()).append(time.monotonic())

    def succeeded(self, ip: str, username: str) -> None:
        with self._lock:
            self._failures.pop((ip, username.lower()), None)

    @staticmethod
    def _refuse(wait: float) -> NoReturn:
        retry = int(wait) + 1
        raise TooManyRequests(f"Too many failed logins; try again in {retry} s.", retry_after=retry)


class SharedLoginLimiter(LoginLimiter):
    """The same window kept in Redis, so that every API instance behind a load balancer counts
    the same failures (one sorted set of failure times per address and username). Should Redis
    be unreachable, each instance goes on counting alone rather than refusing every login."""

    PREFIX = "ecluse:login-failures:"

    def __init__(self, attempts: int, window: float, redis_url: str) -> None:
        super().__init__(attempts, window)
        import redis

        self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    def _key(self, ip: str, username: str) -> str:
        return f"{self.PREFIX}{ip}:{username.lower()}"

    def check(self, ip: str, username: str) -> None:
        import redis

        key, now = self._key(ip, username), time.time()
        try:
            pipe = self._redis.pipeline()
            pipe.zremrangebyscore(key, 0, now - self.window)
            pipe.zrange(key, 0, 0, withscores=True)
            pipe.zcard(key)
            _, oldest, count = pipe.execute()
        except redis.RedisError as exc:
            log.warning("login limiter: Redis unreachable, counting locally", error=str(exc))
            super().check(ip, username)
            return
        if count >= self.attempts and oldest:
            self._refuse(self.window - (now - float(oldest[0][1])))

    def failed(self, ip: str, username: str) -> None:
        import redis

        key, now = self._key(ip, username), time.time()
        try:
            pipe = self._redis.pipeline()
            pipe.zadd(key, {uuid.uuid4().hex: now})
            pipe.expire(key, int(self.window) + 1)
            pipe.execute()
        except redis.RedisError:
            super().failed(ip, username)

    def succeeded(self, ip: str, username: str) -> None:
        import redis

        super().succeeded(ip, username)
        with contextlib.suppress(redis.RedisError):
            self._redis.delete(self._key(ip, username))


def login_limiter(attempts: int, window: float, redis_url: str | None) -> LoginLimiter:
    return (SharedLoginLimiter(attempts, window, redis_url) if redis_url
            else LoginLimiter(attempts, window))


def _issue(platform: Platform, s: Session, user: User, family: str) -> TokenPair:
    jti = uuid.uuid4().hex
    refresh, expires = platform.tokens.refresh(user.id, user.role, family, jti)
    s.add(RefreshToken(jti=jti, user_id=user.id, family=family, expires_at=expires))
    return TokenPair(platform.tokens.access(user.id, user.role), refresh,
                     int(platform.tokens.access_ttl.total_seconds()))


def login(platform: Platform, limiter: LoginLimiter, username: str, password: str,
          ip: str) -> TokenPair:
    limiter.check(ip, username)
    with platform.db.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or user.disabled:
            limiter.failed(ip, username)
            audit(s, Actor(None, username, "", ip), "auth.login_failed", "user",
                  user.id if user else None)
            raise Unauthorized("Wrong username or password.")
        limiter.succeeded(ip, username)
        audit(s, Actor(user.id, user.username, user.role, ip), "auth.login", "user", user.id)
        return _issue(platform, s, user, uuid.uuid4().hex)


def refresh(platform: Platform, token: str, ip: str) -> TokenPair:
    try:
        claims = platform.tokens.decode(token, "refresh")
    except TokenError as exc:
        raise Unauthorized(f"Refresh refused: {exc}.") from exc
    reused = False
    with platform.db.session() as s:
        row = s.get(RefreshToken, claims.jti, with_for_update=True)
        if row is None:
            raise Unauthorized("Refresh refused: unknown token.")
        now = utcnow()
        if row.used_at is None and row.revoked_at is not None:
            raise Unauthorized("Refresh refused: this session was revoked; log in again.")
        if row.used_at is not None:
            # A refresh token presented twice: someone holds a stolen copy. Revoke the family.
            s.execute(update(RefreshToken).where(RefreshToken.family == row.family,
                                                 RefreshToken.revoked_at.is_(None))
                      .values(revoked_at=now))
            audit(s, Actor(row.user_id, row.user_id, "", ip), "auth.refresh_reuse", "user",
                  row.user_id, family=row.family)
            reused = True
        else:
            user = s.get(User, row.user_id)
            if user is None or user.disabled:
                raise Unauthorized("Refresh refused: the user no longer exists or is disabled.")
            row.used_at = now
            return _issue(platform, s, user, row.family)
    assert reused
    raise Unauthorized("Refresh refused: this refresh token was already used; every session of "
                       "this login has been revoked.")


def logout(platform: Platform, token: str, actor: Actor) -> None:
    if actor.api_key_id is not None:
        raise Invalid("An API key has no login session to end; revoke the key instead.")
    try:
        claims = platform.tokens.decode(token, "refresh")
    except TokenError as exc:
        raise Unauthorized(f"Logout refused: {exc}.") from exc
    with platform.db.session() as s:
        row = s.get(RefreshToken, claims.jti)
        if row is None or row.user_id != actor.user_id:
            raise Unauthorized("Logout refused: unknown token.")
        s.execute(update(RefreshToken).where(RefreshToken.family == row.family,
                                             RefreshToken.revoked_at.is_(None))
                  .values(revoked_at=utcnow()))
        audit(s, actor, "auth.logout", "user", actor.user_id)


_USER_TTL = 2.0
"""Seconds a looked-up user is trusted without asking the database again (a change made on
this instance applies at once; one made on another instance within this delay)."""
_users: dict[str, tuple[float, str, str] | None] = {}
_users_lock = threading.Lock()


def _forget(user_id: str) -> None:
    with _users_lock:
        _users.pop(user_id, None)


def authenticate(platform: Platform, token: str, ip: str | None) -> Actor:
    """Who sends this credential: a user's access token (JWT) or an API key."""
    if apikeys.is_api_key(token):
        return apikeys.authenticate(platform, token, ip)
    try:
        claims = platform.tokens.decode(token, "access")
    except TokenError as exc:
        raise Unauthorized(f"Authentication failed: {exc}.") from exc
    key = f"{id(platform)}:{claims.subject}"
    now = time.monotonic()
    with _users_lock:
        cached = _users.get(key)
    if cached is None or cached[0] < now:
        with platform.db.session() as s:
            user = s.get(User, claims.subject)
            found = None if user is None or user.disabled else (user.username, user.role)
        cached = (now + _USER_TTL, *found) if found else None
        with _users_lock:
            if cached is not None:
                _users[key] = cached
            if len(_users) > 10_000:
                _users.clear()
    if cached is None:
        raise Unauthorized("Authentication failed: the user no longer exists or is disabled.")
    return Actor(claims.subject, cached[1], cached[2], ip)


def me(platform: Platform, actor: Actor) -> dict[str, object]:
    """Who is asking: the user, or the API key the request came with."""
    with platform.db.session() as s:
        if actor.api_key_id is not None:
            key = s.get(ApiKey, actor.api_key_id)
            if key is None:
                raise Unauthorized("Authentication failed: unknown API key.")
            return {"id": key.id, "username": actor.username, "role": key.role,
                    "disabled": key.revoked_at is not None, "created_at": key.created_at}
        user = s.get(User, actor.user_id)
        if user is None:
            raise Unauthorized("Authentication failed: the user no longer exists.")
        return {"id": user.id, "username": user.username, "role": user.role,
                "disabled": user.disabled, "created_at": user.created_at}


# --- users ------------------------------------------------------------------------------

def _check_password(password: str) -> None:
    if len(password) < 8:
        raise Invalid("The password needs at least 8 characters.",
                      errors=[{"pointer": "/password", "detail": "at least 8 characters"}])


def create_user(platform: Platform, actor: Actor, username: str, password: str, role: str) -> User:
    _check_password(password)
    if role not in {r.value for r in Role}:
        raise Invalid(f"Unknown role {role!r}: admin, developer or viewer.",
                      errors=[{"pointer": "/role", "detail": "admin, developer or viewer"}])
    with platform.db.session() as s:
        if s.scalar(select(User).where(User.username == username)) is not None:
            raise Conflict(f"A user named {username!r} already exists.")
        user = User(username=username, password_hash=hash_password(password), role=role)
        s.add(user)
        s.flush()
        audit(s, actor, "user.create", "user", user.id, username=username, role=role)
        return user


def list_users(platform: Platform) -> list[User]:
    with platform.db.session() as s:
        return list(s.scalars(select(User).order_by(User.username)))


def update_user(platform: Platform, actor: Actor, user_id: str, *, role: str | None,
                password: str | None, disabled: bool | None) -> User:
    with platform.db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"No user with id {user_id!r}.")
        changes: dict[str, object] = {}
        if role is not None:
            if role not in {r.value for r in Role}:
                raise Invalid(f"Unknown role {role!r}.", errors=[{"pointer": "/role",
                                                                   "detail": "unknown role"}])
            user.role = changes["role"] = role
        if password is not None:
            _check_password(password)
            user.password_hash = hash_password(password)
            changes["password"] = "changed"  # noqa: S105
        if disabled is not None:
            user.disabled = changes["disabled"] = disabled
        user.updated_at = utcnow()
        _forget(f"{id(platform)}:{user.id}")
        if role is not None or disabled:
            s.execute(update(RefreshToken).where(RefreshToken.user_id == user.id,
                                                 RefreshToken.revoked_at.is_(None))
                      .values(revoked_at=utcnow()))
        audit(s, actor, "user.update", "user", user.id, **changes)
        return user


def delete_user(platform: Platform, actor: Actor, user_id: str) -> None:
    if user_id == actor.user_id:
        raise Conflict("You cannot delete your own account.")
    with platform.db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"No user with id {user_id!r}.")
        s.delete(user)
        _forget(f"{id(platform)}:{user_id}")
        audit(s, actor, "user.delete", "user", user_id, username=user.username)


def ensure_admin(platform: Platform, username: str, password: str) -> bool:
    """Create the first admin (environment variables, ``make run``) when no user exists."""
    with platform.db.session() as s:
        if (s.scalar(select(func.count()).select_from(User)) or 0) > 0:
            return False
    create_user(platform, Actor(None, "bootstrap", "admin"), username, password, Role.admin.value)
    return True
