"""``ecluse connection test`` for the database connections: the server's answer, or one
sentence saying why not, in seconds rather than the driver's minutes."""

from __future__ import annotations

import socket
import threading

import pytest

from ecluse.sdk.connections import EnvConnections
from ecluse.sdk.probe import test_connection as check


def test_mysql_clickhouse_and_mongodb_are_tested(mysql_url: str, clickhouse_url: str,
                                                 mongodb_url: str) -> None:
    connections = EnvConnections()
    for name in ("test-mysql", "test-clickhouse", "test-mongodb"):
        result = check(connections.get(name))
        assert result.ok, result.message
        assert result.details["version"], result


def test_a_wrong_password_is_one_sentence_without_the_secret(
        mysql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECLUSE_CONN_BAD", mysql_url.replace("root:@", "root:hunter2@"))
    result = check(EnvConnections().get("bad"))
    assert not result.ok and "Access denied" in result.message and "hunter2" not in result.message


def test_a_port_that_never_answers_the_clickhouse_handshake_fails_fast(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ClickHouse's HTTP port accepts the connection and never answers the native hello: the
    driver waited 300 s."""
    import ecluse.sdk.clickhouse_arrow as ch

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    port = silent.getsockname()[1]
    monkeypatch.setattr(ch, "_HANDSHAKE_S", 1)
    monkeypatch.setenv("ECLUSE_CONN_SILENT", f"clickhouse://default@127.0.0.1:{port}/default")
    result = check(EnvConnections().get("silent"))
    assert not result.ok and "nothing answered ClickHouse's native protocol" in result.message
    silent.close()
