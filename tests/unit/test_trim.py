"""The cleaner's trim compiles to each dialect's fastest form that removes U+0020 only."""

from __future__ import annotations

import ibis

from ecluse.sdk.trim import trim_spaces


def _sql(dialect: str) -> str:
    t = ibis.table({"x": "string"}, name="t")
    inner = trim_spaces(t.x).lower()
    return str(ibis.to_sql(t.select(y=trim_spaces(inner)), dialect=dialect))


def test_duckdb_tests_a_column_s_ends_and_trims_an_expression_once() -> None:
    """A column gets the CASE form; an expression is trimmed of spaces directly, since the CASE
    names its argument four times (nested cleaners would multiply the SQL)."""
    compact = "".join(_sql("duckdb").split())
    assert compact.count("CASE") == 1 and compact.startswith("SELECTTRIM(LOWER(CASEWHEN")
    assert compact.count("\"t0\".\"x\"") == 4 and compact.endswith(",'')AS\"y\"FROM\"t\"AS\"t0\"")


def test_warehouses_get_their_plain_trim() -> None:
    for dialect in ("postgres", "mysql", "sqlite"):
        sql = _sql(dialect)
        assert "CASE" not in sql and sql.upper().count("TRIM(") == 2, (dialect, sql)
