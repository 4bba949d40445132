"""The conformance suite reuses the database fixtures (fresh databases per test)."""

from tests.integration.databases.conftest import (  # noqa: F401
    clickhouse_server,
    clickhouse_url,
    mariadb_server,
    mongodb_server,
    mongodb_url,
    mysql_url,
)
