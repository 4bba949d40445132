"""HTTP for modules: auth from a connection, rate limiting, retries with backoff and jitter.

``HttpSession`` wraps one ``httpx.Client`` (kept-alive connections). Auth comes only from
the connection (``{"type": "http", "base_url": ..., "auth": {...}}``):

- ``{"type": "bearer", "token": "..."}``
- ``{"type": "basic", "username": "...", "password": "..."}``
- ``{"type": "api_key", "name": "X-API-Key", "value": "...", "in": "header" | "query"}``
- ``{"type": "oauth2", "token_url": "...", "client_id": "...", "client_secret": "...",
  "scope": "...", "client_auth": "basic" | "post"}`` (client-credentials grant; the token is
  renewed on expiry or a 401)
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ecluse.sdk.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from ecluse.sdk.connections import Connection

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5
    backoff: float = 0.5
    """First wait in seconds; doubles at each attempt (full jitter)."""
    max_backoff: float = 60.0
    max_retry_after: float = 300.0


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RateLimiter:
    """At most ``per_second`` request starts per second (evenly spaced)."""

    def __init__(self, per_second: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            if self._next > now:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


class HttpError(ConfigError):
    """A request failed for good (after retries); the message names the request."""


class HttpSession:
    def __init__(self, connection: Connection | None, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, rate_limit: float | None = None,
                 headers: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import httpx

        self.connection = connection
        self.base_url = str(connection.get("base_url") or "") if connection else ""
        self.auth: dict[str, Any] = dict(connection.get("auth") or {}) if connection else {}
        self.retry = retry or RetryPolicy()
        self.limiter = RateLimiter(rate_limit, sleep=sleep)
        self.sleep = sleep
        self.requests = 0
        self.retried = 0
        base_headers = {"Accept": "application/json", "User-Agent": "ecluse"}
        if connection and isinstance(connection.get("headers"), Mapping):
            base_headers.update({str(k): str(v) for k, v in connection["headers"].items()})
        base_headers.update(headers or {})
        self.client = httpx.Client(timeout=httpx.Timeout(timeout), headers=base_headers,
                                   follow_redirects=True, verify=bool(
                                       connection.get("verify_tls", True)) if connection else True)
        self._token: str | None = None
        self._token_expiry = 0.0
        kind = self.auth.get("type", "none")
        if kind not in ("none", "bearer", "basic", "api_key", "oauth2"):
            raise ConfigError(f"connection {connection.name if connection else ''!r}: unknown auth "
                              f"type {kind!r} (none, bearer, basic, api_key, oauth2)",
                              field="connection")

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve(self, url: str) -> str:
        if "://" in url:
            return url
        if not self.base_url:
            raise ConfigError(f"the URL {url!r} is relative but the connection has no base_url",
                              field="url")
        return urljoin(self.base_url.rstrip("/") + "/", url.lstrip("/"))

    # -- auth ------------------------------------------------------------------------------
    def _apply_auth(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        a = self.auth
        kind = a.get("type", "none")
        if kind == "bearer":
            headers["Authorization"] = f"Bearer {a.get('token', '')}"
        elif kind == "basic":
            import base64

            raw = f"{a.get('username', '')}:{a.get('password', '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        elif kind == "api_key":
            name, value = str(a.get("name") or "X-API-Key"), str(a.get("value") or a.get("key") or "")
            if a.get("in", "header") == "query":
                params[name] = value
            else:
                headers[name] = value
        elif kind == "oauth2":
            headers["Authorization"] = f"Bearer {self._oauth_token()}"

    def _oauth_token(self, *, force: bool = False) -> str:
        if self._token and not force and time.monotonic() < self._token_expiry:
            return self._token
        a = self.auth
        if not a.get("token_url"):
            raise ConfigError("oauth2 auth needs a token_url in the connection", field="connection")
        data = {"grant_type": "client_credentials"}
        if a.get("scope"):
            data["scope"] = str(a["scope"])
        if a.get("audience"):
            data["audience"] = str(a["audience"])
        client_id, secret = str(a.get("client_id", "")), str(a.get("client_secret", ""))
        extra: dict[str, Any] = {"auth": (client_id, secret)}
        if a.get("client_auth") == "post":  # credentials in the form instead of Basic auth
            data.update(client_id=client_id, client_secret=secret)
            extra = {}
        response = self._send("POST", self.resolve(str(a["token_url"])),
                              what="the OAuth2 token request", data=data, **extra)
        if response.status_code >= 400:
            raise HttpError(f"the OAuth2 token request failed with HTTP {response.status_code}",
                            field="connection")
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise HttpError("the OAuth2 token endpoint did not return an access_token",
                            field="connection") from exc
        self._token = token
        self._token_expiry = time.monotonic() + max(0.0, float(body.get("expires_in") or 3600) - 30)
        return token

    # -- requests --------------------------------------------------------------------------
    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, json: Any = None,
                what: str = "the request") -> httpx.Response:
        """Send with auth, rate limit and retries; raise HttpError on a final failure."""
        import httpx

        hdrs = dict(headers or {})
        target = httpx.URL(url)
        # httpx replaces a URL's query by ``params``: keep both (next links carry their own)
        prms: dict[str, Any] = {**dict(target.params.multi_items()), **dict(params or {})}
        url = str(target.copy_with(query=None)) if target.query else url
        self._apply_auth(hdrs, prms)
        response = self._send(method, url, what=what, params=prms, headers=hdrs, json=json)
        if response.status_code == 401 and self.auth.get("type") == "oauth2":
            hdrs["Authorization"] = f"Bearer {self._oauth_token(force=True)}"
            response = self._send(method, url, what=what, params=prms, headers=hdrs, json=json)
        if response.status_code >= 400:
            snippet = response.text[:200].replace("\n", " ")
            raise HttpError(f"{what} ({method} {_redact(str(response.request.url))}) failed with "
                            f"HTTP {response.status_code}: {snippet}", field="url")
        return response

    def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        import httpx

        attempt = 0
        while True:
            self.limiter.wait()
            self.requests += 1
            try:
                response = self.client.request(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt >= self.retry.retries:
                    raise HttpError(f"{what} ({method} {_redact(url)}) failed after "
                                    f"{attempt + 1} attempt(s): {type(exc).__name__}: {exc}",
                                    field="url") from exc
                self._backoff(attempt, None)
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retry.retries:
                self._backoff(attempt, retry_after_seconds(response.headers.get("Retry-After")))
                attempt += 1
                continue
            return response

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        self.retried += 1
        if retry_after is not None:
            wait = min(retry_after, self.retry.max_retry_after)
        else:
            wait = random.uniform(0, min(self.retry.max_backoff, self.retry.backoff * 2 ** attempt))  # noqa: S311
        self.sleep(wait)


def _redact(url: str) -> str:
    """A URL for messages: query values dropped (they may hold an API key)."""
    base, sep, query = url.partition("?")
    if not sep:
        return url
    names = [part.split("=", 1)[0] for part in query.split("&") if part]
    return base + "?" + "&".join(f"{n}=…" for n in names)


def get_path(data: Any, path: str | None) -> Any:
    """``data.items`` / ``results.0.rows`` in a parsed JSON document; None when absent."""
    if not path:
        return data
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return None
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return None
            current = current[index]
        else:
            return None
    return current
