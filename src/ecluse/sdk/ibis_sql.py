"""SQL of an Ibis relation, ready to be run on its connection by hand."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir


def executable_sql(con: Any, table: ir.Table) -> str:
    """``con.compile(table)``, after registering what the SQL refers to but does not define:
    Python UDFs (the normalizer's date and phone parsers) and in-memory tables. Ibis does this
    only inside its own execute methods, and Ecluse runs compiled SQL itself (``COPY``,
    ``CREATE TABLE AS``, Arrow batches)."""
    con._run_pre_execute_hooks(table)
    return str(con.compile(table))
