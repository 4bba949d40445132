"""Named connections: where a module's secrets come from.

In the server they come from the encrypted store. Outside it, a connection ``prod-db``
resolves from ``ECLUSE_CONN_PROD_DB``: a URL (``postgresql://user:pw@host/db``) or a JSON
object with a ``type`` and that type's fields.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from ecluse.sdk.errors import ConnectionNotFound

_SCHEME_TYPES = {
    "postgresql": "postgres", "postgres": "postgres", "postgresql+psycopg": "postgres",
    "mysql": "mysql", "mariadb": "mysql", "mysql+pymysql": "mysql",
    "mongodb": "mongodb", "mongodb+srv": "mongodb",
    "clickhouse": "clickhouse", "sqlite": "sqlite", "duckdb": "duckdb",
    "redis": "redis", "http": "http", "https": "http", "s3": "s3",
}


def url_schemes(kind: str) -> tuple[str, ...]:
    """The URL schemes that name connections of type ``kind``, the usual spelling first."""
    return tuple(scheme for scheme, k in _SCHEME_TYPES.items() if k == kind)


@dataclass(frozen=True)
class Connection:
    """A resolved connection: its name, its type and every field (secrets included)."""

    name: str
    type: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


class ConnectionResolver(Protocol):
    def get(self, name: str) -> Connection | None: ...

    def names(self) -> list[str]: ...


def env_var_name(connection_name: str) -> str:
    return "ECLUSE_CONN_" + re.sub(r"[-.]", "_", connection_name).upper()


def parse_connection(name: str, raw: str | Mapping[str, Any]) -> Connection:
    """Parse a connection given as a URL or as a JSON object (text or mapping)."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("{"):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"connection {name!r}: invalid JSON ({exc.msg} at char {exc.pos})") from exc
        else:
            scheme = urlsplit(text).scheme.lower()
            kind = _SCHEME_TYPES.get(scheme)
            if kind is None:
                raise ValueError(f"connection {name!r}: unsupported URL scheme {scheme!r}")
            fields: dict[str, Any] = {"url": text}
            if kind == "http":
                fields = {"base_url": text}
            return Connection(name, kind, fields)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
        raise ValueError(f"connection {name!r}: a JSON connection needs a string 'type'")
    data = {k: v for k, v in raw.items() if k not in ("type", "name")}
    return Connection(name, str(raw["type"]), data)


class EnvConnections:
    """Connections from ``ECLUSE_CONN_*`` environment variables."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else os.environ

    def get(self, name: str) -> Connection | None:
        variable = env_var_name(name)
        raw = self._environ.get(variable)
        if raw is None:
            return None
        try:
            return parse_connection(name, raw)
        except ValueError as exc:
            raise ValueError(f"{exc} (in the environment variable {variable})") from exc

    def names(self) -> list[str]:
        prefix = "ECLUSE_CONN_"
        return sorted(k[len(prefix):].lower().replace("_", "-")
                      for k in self._environ if k.startswith(prefix))


class StaticConnections:
    """Connections held in memory (tests, and the server once it has decrypted them)."""

    def __init__(self, connections: Mapping[str, Connection] | None = None) -> None:
        self._connections = dict(connections or {})

    def add(self, connection: Connection) -> None:
        self._connections[connection.name] = connection

    def get(self, name: str) -> Connection | None:
        return self._connections.get(name)

    def names(self) -> list[str]:
        return sorted(self._connections)


class ChainedConnections:
    """First resolver that knows the name wins."""

    def __init__(self, *resolvers: ConnectionResolver) -> None:
        self._resolvers = resolvers

    def get(self, name: str) -> Connection | None:
        for resolver in self._resolvers:
            if (found := resolver.get(name)) is not None:
                return found
        return None

    def names(self) -> list[str]:
        return sorted({n for r in self._resolvers for n in r.names()})


def require(resolver: ConnectionResolver, name: str) -> Connection:
    found = resolver.get(name)
    if found is None:
        raise ConnectionNotFound(name)
    return found
