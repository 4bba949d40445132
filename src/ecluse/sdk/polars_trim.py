"""The cleaner's trim on the Polars engine as Polars' own ``strip_chars(" ")``.

Ibis has no "remove surrounding spaces" operation: its ``strip()`` removes every kind of
whitespace, and a regex replace costs about twice the CPU of ``strip_chars`` on the benchmark's
5M rows. This operation compiles to ``strip_chars(" ")`` on Polars only; SQL engines use TRIM.
"""

from __future__ import annotations

from typing import Any

import ibis.expr.operations as ops
import polars as pl
from ibis.backends.polars.compiler import translate


class TrimSpaces(ops.StringUnary):  # type: ignore[misc]
    """Surrounding U+0020 spaces removed, as SQL's ``TRIM(x)``."""


@translate.register(TrimSpaces)  # type: ignore[untyped-decorator]
def _trim_spaces(op: TrimSpaces, **kw: Any) -> pl.Expr:
    return translate(op.arg, **kw).str.strip_chars(" ")  # type: ignore[no-any-return]
