"""A warehouse for ELT pushdown: what the engine needs to run a chain of transforms inside a
database as SQL. An Ibis backend is one (DuckDB, PostgreSQL); :class:`SqlWarehouse` is one for
databases reached through their own driver (MySQL, ClickHouse): relations are unbound Ibis
tables with the columns the driver reports, compiled to the database's dialect. It is also the
light way in for PostgreSQL: no second driver, no Ibis backend to import and connect."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import ibis.expr.schema as sch
    import ibis.expr.types as ir
    import sqlglot.expressions as sge


class Warehouse(Protocol):
    def compile(self, expr: ir.Expr) -> Any:
        """The SQL text of a relation of this warehouse."""

    def disconnect(self) -> None: ...


class SqlWarehouse:
    """Unbound relations compiled with an Ibis SQL compiler. ``describe(database, table)``
    returns a table's Ibis schema; ``rewrite`` adapts the compiled tree (old server
    versions); ``close`` releases the driver's connection; ``probe`` runs a query without
    reading its rows (raising when the server cannot run it)."""

    def __init__(self, compiler: Any, describe: Callable[[str | None, str], sch.Schema],
                 close: Callable[[], None],
                 rewrite: Callable[[sge.Expression], sge.Expression] | None = None, *,
                 probe: Callable[[str], None] | None = None) -> None:
        self._compiler = compiler
        self._describe = describe
        self._close = close
        self._rewrite = rewrite
        self.probe = probe
        self._compiled: tuple[ir.Expr, str] | None = None

    def table(self, name: str, database: str | None = None) -> ir.Table:
        import ibis

        return ibis.table(self._describe(database, name), name=name, database=database)

    def compile(self, expr: ir.Expr) -> str:
        """The SQL of ``expr``; the last one is remembered (the engine shows a pushed-down
        chain's SQL, then the loader runs the same relation)."""
        if self._compiled is not None and self._compiled[0] is expr:
            return self._compiled[1]
        tree = self._compiler.to_sqlglot(expr.unbind())
        if self._rewrite is not None:
            tree = tree.transform(self._rewrite)
        sql = str(tree.sql(dialect=self._compiler.dialect, pretty=True))
        self._compiled = (expr, sql)
        return sql

    def disconnect(self) -> None:
        self._close()
