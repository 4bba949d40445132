"""The conformance suite reuses the database fixtures (fresh databases per test)."""

import pytest

from tests.integration.databases.conftest import (  # noqa: F401
    clickhouse_server,
    clickhouse_url,
    mariadb_server,
    mongodb_server,
    mongodb_url,
    mysql_url,
)


@pytest.fixture
def postgres_conformance_url(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh PostgreSQL database; the connection ``test-postgres`` points at it."""
    monkeypatch.setenv("ECLUSE_CONN_TEST_POSTGRES", pg_database)
    return pg_database
