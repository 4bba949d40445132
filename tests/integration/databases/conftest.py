"""Fixtures for the database modules: a fresh MariaDB database, ClickHouse database and
MongoDB database (on the secantusdb emulator) per test, exposed as ECLUSE_CONN_* connections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers


@pytest.fixture(scope="session")
def mariadb_server() -> dict[str, object]:
    return servers.ensure_mariadb()


@pytest.fixture
def mysql_url(mariadb_server: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh MariaDB database; the connection ``test-mysql`` points at it."""
    import pymysql

    s = mariadb_server
    name = f"ecluse_test_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(host=str(s["host"]), port=int(str(s["port"])), user=str(s["user"]),
                           password=str(s["password"]), autocommit=True)
    conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = f"mysql://{s['user']}:{s['password']}@{s['host']}:{s['port']}/{name}"
    monkeypatch.setenv("ECLUSE_CONN_TEST_MYSQL", url)
    yield url
    conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture(scope="session")
def clickhouse_server() -> str:
    return servers.ensure_clickhouse()


@pytest.fixture
def clickhouse_url(clickhouse_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh ClickHouse database; the connection ``test-clickhouse`` points at it."""
    from clickhouse_driver import Client

    name = f"ecluse_test_{uuid.uuid4().hex[:12]}"
    client = Client.from_url(clickhouse_server)
    client.execute(f"CREATE DATABASE `{name}`")
    base, _, _ = clickhouse_server.rpartition("/")
    url = f"{base}/{name}"
    monkeypatch.setenv("ECLUSE_CONN_TEST_CLICKHOUSE", url)
    yield url
    client.execute(f"DROP DATABASE IF EXISTS `{name}`")
    client.disconnect()


@pytest.fixture(scope="session")
def mongodb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """secantusdb, a MongoDB wire-protocol emulator (no real mongod can be installed here)."""
    url, server = servers.start_mongodb(Path(tmp_path_factory.mktemp("secantus")))
    yield url
    servers.stop(server)


@pytest.fixture
def mongodb_url(mongodb_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database name on the emulator; the connection ``test-mongodb`` points at it."""
    import pymongo

    name = f"ecluse_test_{uuid.uuid4().hex[:12]}"
    url = mongodb_server.replace("/?", f"/{name}?")
    monkeypatch.setenv("ECLUSE_CONN_TEST_MONGODB", url)
    yield url
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(mongodb_server)
    client.drop_database(name)
    client.close()
