"""Iceberg catalogs from connections of type ``iceberg``.

Fields: ``catalog`` = ``sql`` (default: a SQL catalog on SQLite or PostgreSQL, ``uri`` such
as ``sqlite:////data/catalog.db`` or ``postgresql+psycopg://...``) or ``rest`` (``uri`` of the
REST catalog, ``token`` or ``credential``); ``warehouse`` (where data files go: a local
folder, ``s3://bucket/path``...); ``properties``: any other PyIceberg catalog property
(``s3.endpoint``, ``s3.access-key-id``...); ``catalog_name`` (a SQL catalog keys its tables by
catalog name: default, the connection's name). The name of an ``s3`` connection in
``s3_connection`` fills the ``s3.*`` properties from it.
"""

from __future__ import annotations

from typing import Any

from ecluse.sdk.connections import Connection
from ecluse.sdk.context import NodeContext
from ecluse.sdk.errors import ConfigError, ConnectionNotFound


def catalog_from_connection(ctx: NodeContext, name: str) -> Any:
    from pyiceberg.catalog import load_catalog

    conn = ctx.connection(name)
    if conn.type != "iceberg":
        raise ConfigError(f"connection {name!r} is of type {conn.type!r}, not iceberg", field="connection")
    kind = str(conn.get("catalog") or "sql")
    if kind not in ("sql", "rest"):
        raise ConfigError(f"connection {name!r}: catalog must be 'sql' or 'rest', not {kind!r}",
                          field="connection")
    props: dict[str, Any] = {"type": kind}
    if conn.get("uri"):
        props["uri"] = conn.get("uri")
    elif kind == "sql":
        raise ConfigError(f"connection {name!r}: a SQL catalog needs a `uri` (sqlite:///... or "
                          "postgresql+psycopg://...)", field="connection")
    warehouse = conn.get("warehouse")
    if warehouse:
        props["warehouse"] = warehouse if "://" in str(warehouse) else \
            "file://" + str(ctx.resolve_path(str(warehouse)).absolute())
    for key in ("token", "credential"):
        if conn.get(key):
            props[key] = conn.get(key)
    if conn.get("s3_connection"):
        s3 = _s3_connection(ctx, name, str(conn.get("s3_connection")))
        props.update({k: v for k, v in {
            "s3.endpoint": s3.get("endpoint_url"), "s3.access-key-id": s3.get("access_key_id"),
            "s3.secret-access-key": s3.get("secret_access_key"), "s3.session-token": s3.get("session_token"),
            "s3.region": s3.get("region") or "us-east-1"}.items() if v})
        if s3.get("endpoint_url"):
            props["s3.force-virtual-addressing"] = "false"
    props.update(dict(conn.get("properties") or {}))
    try:
        return load_catalog(str(conn.get("catalog_name") or name), **props)
    except Exception as exc:
        raise ConfigError(f"cannot open the Iceberg catalog of connection {name!r}: "
                          f"{str(exc).splitlines()[0][:300]}", field="connection") from exc


def _s3_connection(ctx: NodeContext, name: str, s3_name: str) -> Connection:
    said = f"connection {name!r} names s3_connection {s3_name!r}"
    try:
        s3 = ctx.connection(s3_name)
    except ConnectionNotFound:
        raise ConfigError(f"{said}, which does not exist", field="connection") from None
    if s3.type != "s3":
        raise ConfigError(f"{said}, which is of type {s3.type!r}, not s3", field="connection")
    return s3


def split_identifier(value: str) -> tuple[str, str]:
    namespace, _, table = value.rpartition(".")
    if not namespace or not table:
        raise ConfigError(f"table {value!r} must be `namespace.table`", field="table")
    return namespace, table
