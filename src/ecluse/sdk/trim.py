"""Remove surrounding spaces (U+0020 only), with the same result on every engine and warehouse,
in the form each runs fastest.

Ibis has no such operation: its ``strip()`` removes every kind of whitespace and compiles to a
trim of a character set, which engines run much slower than their plain ``TRIM``. So this is an
Ibis operation of its own, compiled when the query is (the same relation may run in the engine
or be pushed down into a warehouse):

- SQL databases: ``TRIM(x)``, which removes spaces only on PostgreSQL, MySQL, ClickHouse,
  SQLite and Spark;
- DuckDB: its one-argument ``TRIM`` also removes other Unicode spaces (U+3000, U+00A0...) and
  copies every value, so only values that start or end with a space are trimmed, of spaces
  only: half the CPU on text where few values carry spaces;
- Polars: ``strip_chars(" ")`` (``sdk/polars_trim``, which the Polars engine loads).
"""

from __future__ import annotations

import ibis.expr.operations as ops
import ibis.expr.types as ir
import sqlglot.expressions as sge
from ibis.backends.sql.compilers.base import SQLGlotCompiler


class TrimSpaces(ops.StringUnary):  # type: ignore[misc]
    """Surrounding U+0020 spaces removed."""


def _visit_trim_spaces(self: SQLGlotCompiler, op: TrimSpaces, *, arg: sge.Expression
                       ) -> sge.Expression:
    if self.dialect.__name__ != "DuckDB":
        return self.f.trim(arg)  # type: ignore[no-any-return]
    space = sge.convert(" ")
    if not isinstance(arg, sge.Column):  # the CASE names its argument four times
        return self.f.trim(arg, space)  # type: ignore[no-any-return]
    edged = sge.or_(self.f.starts_with(arg, space), self.f.suffix(arg, space))
    return self.if_(edged, self.f.trim(arg, space), arg)  # type: ignore[no-any-return]


SQLGlotCompiler.visit_TrimSpaces = _visit_trim_spaces  # every SQL compiler inherits it


def trim_spaces(value: ir.StringValue) -> ir.StringValue:
    return TrimSpaces(value).to_expr()  # type: ignore[no-any-return]
