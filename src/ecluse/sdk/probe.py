"""Test a connection: can Ecluse reach it with these credentials? (CLI and API share it.)"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ecluse.sdk.connections import Connection


@dataclass
class ConnectionCheck:
    ok: bool
    message: str
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


def test_connection(connection: Connection, *, path: str | None = None,
                    bucket: str | None = None, timeout: float = 10.0) -> ConnectionCheck:
    """Open the connection and do the smallest real request its type allows.

    postgres, mysql, clickhouse: the server's version; mongodb: its build info; http: a GET
    of ``path`` (or the base URL) with the connection's auth; s3: ``HeadBucket`` of ``bucket``
    (or the connection's ``bucket``), else ``ListBuckets``. Secrets never appear in the
    message."""
    started = time.perf_counter()
    try:
        if connection.type == "postgres":
            check = _postgres(connection)
        elif connection.type == "http":
            check = _http(connection, path=path, timeout=timeout)
        elif connection.type == "s3":
            check = _s3(connection, bucket=bucket)
        elif connection.type in _DATABASES:
            check = _DATABASES[connection.type](connection)
        else:
            check = _unsupported(connection)
    except Exception as exc:
        from ecluse.sdk.arrow_pg import first_line

        text = first_line(exc).strip()
        for secret in _secrets(connection):
            text = text.replace(secret, "***")
        check = ConnectionCheck(False, f"{connection.name}: {text}")
    check.seconds = round(time.perf_counter() - started, 3)
    return check


def _postgres(connection: Connection, **_: Any) -> ConnectionCheck:
    from ecluse.sdk.arrow_pg import postgres_uri
    from ecluse.sdk.arrow_pg_session import PgSession

    session = PgSession.open(postgres_uri(connection), name=connection.name)
    try:
        ((version, database, user),) = session.rows(
            "SELECT version(), current_database()::text, current_user::text")
    finally:
        session.close()
    return ConnectionCheck(True, f"{connection.name}: connected to {database} as {user}",
                           details={"version": str(version).split(",")[0]})


def _http(connection: Connection, *, path: str | None, timeout: float, **_: Any) -> ConnectionCheck:
    from ecluse.sdk.http import HttpSession, RetryPolicy

    with HttpSession(connection, timeout=timeout, retry=RetryPolicy(retries=1, backoff=0.2)) as s:
        url = s.resolve(path or "")
        response = s.request("GET", url, what="the test request")
        return ConnectionCheck(True, f"{connection.name}: HTTP {response.status_code} from "
                               f"{url.split('?')[0]}", details={"status": response.status_code})


def _s3(connection: Connection, *, bucket: str | None, **_: Any) -> ConnectionCheck:
    from ecluse.sdk.storage import filesystem, storage_error

    fs = filesystem("s3", connection)
    bucket = bucket or connection.get("bucket")
    try:
        if bucket:
            fs.info(bucket)  # HeadBucket
            return ConnectionCheck(True, f"{connection.name}: bucket {bucket!r} is reachable")
        names = fs.ls("", detail=False)  # ListBuckets
    except Exception as exc:
        raise storage_error(exc, where=f"s3://{bucket or ''}", connection=connection.name) from exc
    return ConnectionCheck(True, f"{connection.name}: {len(names)} bucket(s) visible",
                           details={"buckets": names[:20]})


def _mysql(connection: Connection) -> ConnectionCheck:
    from ecluse.sdk.mysql_arrow import connect

    con = connect(connection)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT VERSION(), DATABASE(), CURRENT_USER()")
            version, database, user = cur.fetchone()
    finally:
        con.close()
    return ConnectionCheck(True, f"{connection.name}: connected to {database or 'the server'} "
                           f"as {user}", details={"version": str(version)})


def _clickhouse(connection: Connection) -> ConnectionCheck:
    from ecluse.sdk.clickhouse_arrow import connect

    client = connect(connection)
    try:
        ((version, database),) = client.execute("SELECT version(), currentDatabase()")
    finally:
        client.disconnect()
    return ConnectionCheck(True, f"{connection.name}: connected to {database}",
                           details={"version": str(version)})


def _mongodb(connection: Connection) -> ConnectionCheck:
    import pymongo

    client: Any = pymongo.MongoClient(str(connection.get("url") or ""),
                                      serverSelectionTimeoutMS=10_000)
    try:
        version = client.server_info().get("version")
    finally:
        client.close()
    return ConnectionCheck(True, f"{connection.name}: connected", details={"version": version})


_DATABASES = {"mysql": _mysql, "clickhouse": _clickhouse, "mongodb": _mongodb}


def _unsupported(connection: Connection, **_: Any) -> ConnectionCheck:
    return ConnectionCheck(False, f"{connection.name}: connections of type {connection.type!r} "
                           "cannot be tested yet")


def _secrets(connection: Connection) -> list[str]:
    found: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, str) and any(s in key.lower() for s in
                                            ("secret", "password", "token", "key", "value")):
            found.append(value)
        elif isinstance(value, str) and key == "url" and "@" in value:
            from urllib.parse import urlsplit

            if (pw := urlsplit(value).password):
                found.append(pw)
    walk(dict(connection.fields))
    return [s for s in found if s]

