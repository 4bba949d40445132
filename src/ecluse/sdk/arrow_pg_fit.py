"""Loads into existing PostgreSQL number and text columns: the values a column's type would
round without a word (1.234 into numeric(5,2), 1.5 into an integer), cut without a word (30
characters into varchar(5): the staging table's cast to the column's type cuts them) or refuse
naming no column (1234.5 there, 3e10 into an integer), found before the table is touched and
reported with the column, the value and its row.

Decimals and text streamed from the engine are checked in Arrow, batch by batch (so they can
still be copied straight into the table); the other types, and chains pushed down into
PostgreSQL, in one SQL scan of the staging table."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from ecluse.sdk.arrow_pg import base_type, quote_ident
from ecluse.sdk.errors import ConfigError, cut, too_long
from ecluse.sdk.types import type_name

if TYPE_CHECKING:
    import pyarrow as pa

    from ecluse.sdk.arrow_pg_session import PgSession

_INT_BYTES = {"int2": 2, "int4": 4, "int8": 8}


def _digits(pg_type: str) -> tuple[int | None, int | None] | None:
    """(digits before the point, digits after it) of a number type's values, None for an
    unbounded count (floats, unconstrained numeric); None for a type that is not a number."""
    base = base_type(pg_type)
    if base in _INT_BYTES:
        return len(str(2 ** (8 * _INT_BYTES[base] - 1))), 0
    if base in ("float4", "float8"):
        return None, None
    if base in ("numeric", "decimal"):
        typmod = re.fullmatch(r"\s*\w+\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)\s*", pg_type)
        if typmod is None:
            return None, None
        precision, scale = int(typmod[1]), int(typmod[2] or 0)
        return precision - scale, scale
    return None


@dataclass(frozen=True)
class _ColumnCheck:
    """An incoming column some of whose values the table's column may not hold as they are."""

    streamed_type: ClassVar[str]
    """The incoming type (``base_type``) checked in Arrow as it streams; other incoming types
    are checked in the staging table."""
    column: str
    column_type: str
    """The table's column type, as ``format_type`` spells it."""
    incoming: str
    """The incoming type, in PostgreSQL's words."""
    shown: str
    """The incoming type, in Ecluse's."""

    @property
    def in_arrow(self) -> bool:
        return base_type(self.incoming) == self.streamed_type


@dataclass(frozen=True)
class Misfit(_ColumnCheck):
    """A column whose incoming values its type could round (``rounds``) or refuse
    (``overflows``)."""

    streamed_type: ClassVar[str] = "numeric"
    rounds: bool
    overflows: bool

    def conditions(self) -> list[tuple[str, bool]]:
        """SQL conditions on the staging column, each true for a value the column would round
        (True) or refuse (False)."""
        int_digits, scale = _digits(self.column_type) or (None, None)
        col = quote_ident(self.column)
        native = base_type(self.incoming) in ("float4", "float8")
        # a float's decimal value is the one PostgreSQL gives it (15 digits); converting every
        # float to numeric is slow, so only those that are not the float of a value with
        # `scale` decimals are
        value = f"{col}::numeric"
        out = []
        if self.rounds:
            exact = f"{value} <> round({value}, {scale})"
            if native and scale == 0:
                exact = f"{col} <> trunc({col})"
            elif native:
                exact = (f"CASE WHEN round({col} * 1e{scale}::float8) / 1e{scale}::float8 = {col} "
                         f"THEN false ELSE {exact} END")
            out.append((exact, True))
        if self.overflows:
            number = col if native else value
            if base_type(self.column_type) in _INT_BYTES:  # NaN sorts above the bound
                bound = 2 ** (8 * _INT_BYTES[base_type(self.column_type)] - 1)
                out.append((f"{number} < -{bound} OR {number} >= {bound}", False))
            else:  # NaN fits a numeric(p,s), Infinity does not
                out.append((f"abs({number}) >= 1e{int_digits} AND {number} <> 'NaN'", False))
        return out

    def find(self, array: pa.Array) -> tuple[int, bool] | None:
        """The first value of a decimal array the column would round (True) or refuse."""
        import pyarrow as pa
        import pyarrow.compute as pc

        int_digits, scale = _digits(self.column_type) or (None, None)
        flags = []
        if self.rounds:
            flags.append(pc.not_equal(array, pc.round(array, scale, round_mode="towards_zero")))
        if self.overflows:
            flags.append(pc.greater_equal(pc.abs(array), pa.scalar(Decimal(10) ** (int_digits or 0))))
        bad = flags[0] if len(flags) == 1 else pc.or_kleene(*flags)
        index = pc.index(bad, True).as_py()
        if index < 0:
            return None
        return index, bool(self.rounds and flags[0][index].as_py())

    def error(self, table: str, value: str, row: int, *, rounded: bool) -> ConfigError:
        _, scale = _digits(self.column_type) or (None, None)
        if rounded:
            what = (f"would store it rounded to {scale} decimal place(s)" if scale
                    else "would store it rounded to a whole number")
            fix = f"round it before this node (e.g. a derive's round({self.column}" \
                  f"{f', {scale}' if scale else ''}))"
        else:
            what = "cannot store it: it is too large for that type"
            fix = "filter or correct it before this node"
        return ConfigError(
            f"column {self.column!r} of table {table!r} is of type {self.column_type}, but the "
            f"incoming {self.column!r} ({self.shown}) holds {cut(value, 80)} (row {row}): "
            f"PostgreSQL {what}; nothing was changed: {fix}, or widen the column (ALTER TABLE "
            f"{table} ALTER COLUMN {quote_ident(self.column)} TYPE {self._wider()})", field="table")

    def _wider(self) -> str:
        """A type holding both the column's values and the incoming ones."""
        have_int, have_frac = _digits(self.column_type) or (None, None)
        got_int, got_frac = _digits(self.incoming) or (None, None)
        into_integer = base_type(self.column_type) in _INT_BYTES
        if got_frac is None:  # floats, unconstrained numeric
            return self.incoming if into_integer else "numeric"
        if got_frac == 0 and into_integer:
            return self.incoming
        frac = max(have_frac or 0, got_frac)
        return f"numeric({max(have_int or 0, got_int or 0) + frac},{frac})"


def _max_chars(pg_type: str) -> int | None:
    """The characters a varchar(n) or char(n) column holds; None for another type."""
    typmod = re.fullmatch(r"\s*(?:character varying|varchar|character|char|bpchar)\s*"
                          r"\(\s*(\d+)\s*\)\s*", pg_type.lower())
    return int(typmod[1]) if typmod else None


@dataclass(frozen=True)
class TooLong(_ColumnCheck):
    """A varchar(n) or char(n) column, whose incoming values may be longer than n characters:
    PostgreSQL's cast to the column's type (the staging table's) cuts them without a word, and
    its COPY refuses them naming no column. Trailing spaces beyond n are not counted: PostgreSQL
    drops them when it stores a value."""

    streamed_type: ClassVar[str] = "text"
    limit: int

    def conditions(self) -> list[tuple[str, bool]]:
        return [(f"length(rtrim({quote_ident(self.column)}::text, ' ')) > {self.limit}", False)]

    def find(self, array: pa.Array) -> tuple[int, bool] | None:
        import pyarrow.compute as pc

        lengths = pc.utf8_length(pc.utf8_rtrim(array, characters=" "))
        index = pc.index(pc.greater(lengths, self.limit), True).as_py()
        return None if index < 0 else (index, False)

    def error(self, table: str, value: str, row: int, *, rounded: bool = False) -> ConfigError:
        del rounded  # one way to misfit
        wider = "varchar" if "var" in self.column_type else "char"
        return too_long(table, self.column, self.column_type, self.shown, value, row, self.limit,
                        database="PostgreSQL",
                        widen=lambda length: f"ALTER TABLE {table} ALTER COLUMN "
                        f"{quote_ident(self.column)} TYPE {wider}({length}), or text")


Check = Misfit | TooLong


def misfits(ibis_schema: Any, incoming: dict[str, str], existing: dict[str, str]) -> list[Check]:
    """The incoming columns (PostgreSQL types by name, typed ``ibis_schema``) whose values
    the table's columns (``existing``) could round, cut or refuse."""
    found: list[Check] = []
    for name, got_type in incoming.items():
        limit = _max_chars(existing[name])
        if limit is not None:
            found.append(TooLong(name, existing[name], got_type, type_name(ibis_schema[name]),
                                 limit))
            continue
        have, got = _digits(existing[name]), _digits(got_type)
        if have is None or got is None:
            continue
        (have_int, have_frac), (got_int, got_frac) = have, got
        rounds = have_frac is not None and (got_frac is None or got_frac > have_frac)
        target, source = base_type(existing[name]), base_type(got_type)
        if target in _INT_BYTES:
            overflows = _INT_BYTES.get(source, 99) > _INT_BYTES[target]
        else:
            overflows = have_int is not None and (got_int is None or got_int > have_int)
        if rounds or overflows:
            found.append(Misfit(name, existing[name], got_type, type_name(ibis_schema[name]),
                                rounds, overflows))
    return found


def refuse_in_sql(session: PgSession, stage: str, found: Sequence[Check], table: str) -> None:
    """One scan of the staging table, which holds the rows in the order they came."""
    checks = [(misfit, cond, rounded) for misfit in found for cond, rounded in misfit.conditions()]
    flags = [f"coalesce({cond}, false)" for _, cond, _ in checks]
    values = [f"{quote_ident(m.column)}::text" for m, _, _ in checks]
    rows = session.rows(f"SELECT ctid::text, {', '.join(flags + values)} FROM {stage} "
                        f"WHERE {' OR '.join(flags)} LIMIT 1")
    if not rows:
        return
    ctid, *found_flags = rows[0]
    ((position,),) = session.rows(f"SELECT count(*) + 1 FROM {stage} WHERE ctid < $1::tid", [ctid])
    texts = found_flags[len(checks):]
    for (misfit, _, rounded), hit, value in zip(checks, found_flags, texts, strict=False):
        if hit:
            raise misfit.error(table, str(value), int(position), rounded=rounded)


class ArrowCheck:
    """The decimals' check, batch by batch; keeps the error it raised (ADBC reports an error
    raised by the stream it copies as text)."""

    def __init__(self, found: Sequence[Check], schema: pa.Schema, table: str) -> None:
        self.columns = [(schema.get_field_index(m.column), m) for m in found]
        self.table = table
        self.failure: ConfigError | None = None

    def __call__(self, batch: pa.RecordBatch, rows_before: int) -> None:
        for index, misfit in self.columns:
            array = batch.column(index)
            hit = misfit.find(array)
            if hit is not None:
                at, rounded = hit
                self.failure = misfit.error(self.table, str(array[at].as_py()), rows_before + at + 1,
                                            rounded=rounded)
                raise self.failure
