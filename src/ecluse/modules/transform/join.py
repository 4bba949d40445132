"""Transformer ``join``: combine two inputs (handles ``left`` and ``right``) on key columns:
inner, left, right, full, semi, anti and cross joins, and "as of" joins on a time column."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ecluse.sdk import (
    ConfigError,
    InputPort,
    Inputs,
    ModuleConfig,
    NodeContext,
    Transformer,
    column_field,
    columns_field,
)
from ecluse.sdk.native import engine_of
from ecluse.sdk.relational import require_columns
from ecluse.sdk.types import type_name

How = Literal["inner", "left", "right", "full", "semi", "anti", "cross"]
_UNITS = {"second": "s", "minute": "m", "hour": "h", "day": "D", "week": "W",
          "millisecond": "ms"}


class AsOf(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    left: str = column_field("Time (or number) column of the left input.")
    right: str | None = column_field("Time column of the right input; the same name by default.",
                                     default=None)
    tolerance: str | float | None = Field(
        None, description="Largest gap allowed between the two times, e.g. `\"5 minutes\"`, "
        "`\"1 day\"` (or a number for numeric columns). No limit when empty.",
        examples=["5 minutes", "1 day", 10])


class JoinConfig(ModuleConfig):
    how: How = Field("inner", description="inner: matching rows only; left/right: every row of "
                     "that side; full: every row of both; semi: left rows with a match; anti: "
                     "left rows without a match; cross: every pair.")
    on: list[str] = columns_field("Key columns with the same name on both sides.",
                                  default_factory=list)
    left_on: list[str] = columns_field("Key columns of the left input (with `right_on`).",
                                       default_factory=list)
    right_on: list[str] = Field(default_factory=list,
                                description="Key columns of the right input, in the order of "
                                "`left_on`.")
    suffixes: tuple[str, str] = Field(("", "_right"), description="Added to column names present "
                                      "on both sides: [left suffix, right suffix].")
    asof: AsOf | None = Field(None, description="An \"as of\" join: each left row takes the last "
                              "right row whose time is at or before its own (matching keys "
                              "first). Only with how = inner or left.")

    @model_validator(mode="after")
    def _keys(self) -> JoinConfig:
        if self.on and (self.left_on or self.right_on):
            raise ValueError("give either 'on' or 'left_on'/'right_on', not both")
        if len(self.left_on) != len(self.right_on):
            raise ValueError("'left_on' and 'right_on' need the same number of columns")
        has_keys = bool(self.on or self.left_on)
        if self.how == "cross" and (has_keys or self.asof):
            raise ValueError("a cross join takes no keys")
        if self.how != "cross" and not has_keys and not self.asof:
            raise ValueError(f"a {self.how} join needs key columns ('on' or 'left_on'/'right_on')")
        if self.asof and self.how not in ("inner", "left"):
            raise ValueError("an 'asof' join is an inner or left join")
        if self.suffixes[0] == self.suffixes[1]:
            raise ValueError("the two suffixes must differ")
        return self


class Join(Transformer):
    name = "join"
    title = "Join"
    description = "Combine two inputs on key columns (inner, left, right, full, semi, anti, cross)."
    category = "Joins"
    icon = "join_inner"
    Config = JoinConfig
    config: JoinConfig
    inputs: ClassVar = (InputPort("left", description="The left input."),
                        InputPort("right", description="The right input."))
    examples: ClassVar = (
        {"how": "left", "on": ["carrier"]},
        {"how": "inner", "left_on": ["origin"], "right_on": ["faa"], "suffixes": ["", "_airport"]},
        {"how": "left", "on": ["ticker"],
         "asof": {"left": "trade_time", "right": "quote_time", "tolerance": "5 minutes"}},
    )

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        left, right = inputs.one("left"), inputs.one("right")
        lkeys = list(c.on or c.left_on)
        rkeys = list(c.on or c.right_on)
        require_columns(left, lkeys, field="on" if c.on else "left_on")
        require_columns(right, rkeys, field="on" if c.on else "right_on")
        casts = _key_types(left, right, lkeys, rkeys, field="on" if c.on else "left_on")
        if c.how in ("semi", "anti"):
            return self._filtering(left, right, lkeys, rkeys, casts)
        same_keys = bool(c.on)
        # Right columns get private names so nothing clashes inside the join.
        r_cols = list(right.columns)
        private = {col: f"__ecluse_r{i}" for i, col in enumerate(r_cols)}
        r = right.select(*[right[col].name(private[col]) for col in r_cols])
        preds = [_cast(left[lk], casts[i]) == _cast(r[private[rk]], casts[i])
                 for i, (lk, rk) in enumerate(zip(lkeys, rkeys, strict=True))]

        out_left = list(left.columns)
        out_right = [col for col in r_cols if not (same_keys and col in rkeys)]
        names = self._output_names(out_left, out_right, exclude=set(lkeys) if same_keys else set())
        if c.asof:
            keys = [(_cast(left[lk], casts[i]), _cast(r[private[rk]], casts[i]))
                    for i, (lk, rk) in enumerate(zip(lkeys, rkeys, strict=True))]
            joined = self._asof(left, r, private, keys, ctx)
        elif c.how == "cross":
            joined = left.cross_join(r)
        else:
            how = {"full": "outer"}.get(c.how, c.how)
            joined = left.join(r, preds, how=how)  # type: ignore[arg-type]
        exprs: list[ir.Value] = []
        for col in out_left:
            value = joined[col]
            if same_keys and col in lkeys and c.how in ("right", "full"):
                # The key of a row only the right side has comes from the right.
                rk = rkeys[lkeys.index(col)]
                value = ibis.coalesce(_cast(value, casts[lkeys.index(col)]),
                                      _cast(joined[private[rk]], casts[lkeys.index(col)]))
            exprs.append(value.name(names[("l", col)]))
        exprs.extend(joined[private[col]].name(names[("r", col)]) for col in out_right)
        return joined.select(*exprs)

    def _output_names(self, left: list[str], right: list[str], *,
                      exclude: set[str]) -> dict[tuple[str, str], str]:
        ls, rs = self.config.suffixes
        clash = (set(left) - exclude) & set(right)
        names: dict[tuple[str, str], str] = {}
        for col in left:
            names[("l", col)] = col + ls if col in clash else col
        for col in right:
            names[("r", col)] = col + rs if col in clash else col
        final = list(names.values())
        dupes = sorted({n for n in final if final.count(n) > 1})
        if dupes:
            raise ConfigError(f"two output columns would be named {dupes[0]!r}; change the "
                              "suffixes or rename a column first", field="suffixes")
        return names

    def _filtering(self, left: ir.Table, right: ir.Table, lkeys: list[str], rkeys: list[str],
                   casts: list[dt.DataType | None]) -> ir.Table:
        r = right.select(*[right[k].name(f"__ecluse_k{i}") for i, k in enumerate(rkeys)])
        preds = [_cast(left[lk], casts[i]) == _cast(r[f"__ecluse_k{i}"], casts[i])
                 for i, lk in enumerate(lkeys)]
        return left.semi_join(r, preds) if self.config.how == "semi" else left.anti_join(r, preds)

    def _asof(self, left: ir.Table, r: ir.Table, private: dict[str, str],
              keys: list[tuple[ir.Value, ir.Value]], ctx: NodeContext) -> ir.Table:
        a = self.config.asof
        assert a is not None
        require_columns(left, [a.left], field="asof")
        rcol = a.right or a.left
        if rcol not in private:
            require_columns(r.rename(dict(private)), [rcol], field="asof")
        lt, rt = left[a.left], r[private[rcol]]
        for side, value, col in (("left", lt, a.left), ("right", rt, rcol)):
            if not isinstance(value.type(), (dt.Timestamp, dt.Date, dt.Numeric)):
                raise ConfigError(f"the asof column {col!r} of the {side} input is "
                                  f"{type_name(value.type())}, not a time or a number",
                                  field="asof")
        if type_name(lt.type()) != type_name(rt.type()):
            raise ConfigError(f"the asof columns differ in type: {a.left!r} is "
                              f"{type_name(lt.type())}, {rcol!r} is {type_name(rt.type())}",
                              field="asof")
        engine = engine_of(ctx, left)
        if engine == "pyspark":  # Spark SQL has no as-of join
            joined = _asof_by_window(left, r, keys, lt, rt)
        else:
            if engine == "polars":
                # Polars' as-of join needs both sides sorted on the time column.
                left, r = left.order_by(a.left), r.order_by(private[rcol])
                lt, rt = left[a.left], r[private[rcol]]
            preds = [lk == rk for lk, rk in keys]
            joined = left.asof_join(r, on=lt >= rt, predicates=preds)
        if a.tolerance is None:
            if self.config.how == "inner":
                joined = joined.filter(joined[private[rcol]].notnull())
            return joined
        tolerance = _tolerance(a.tolerance, lt.type())
        # The nearest earlier right row is the only candidate: too far means no match.
        too_far = (joined[private[rcol]] + tolerance) < joined[a.left]
        matched = joined[private[rcol]].notnull() & ~too_far
        if self.config.how == "inner":
            return joined.filter(matched)
        return joined.mutate(**{p: ibis.ifelse(matched, joined[p], ibis.null(joined[p].type()))
                                for p in private.values()})


def _asof_by_window(left: ir.Table, r: ir.Table, keys: list[tuple[ir.Value, ir.Value]],
                    lt: ir.Value, rt: ir.Value) -> ir.Table:
    """An as-of join from portable relations: both sides in one stream, partitioned by the
    keys and ordered by time (a right row before a left row at the same time); each left row
    takes the last right row seen so far. Rows travel as structs, so a right row whose
    values are all null still counts. Gives the left columns then ``r``'s."""
    knames = [f"__ecluse_k{i}" for i in range(len(keys))]
    time, side, lbox, rbox = "__ecluse_t", "__ecluse_side", "__ecluse_l", "__ecluse_r"
    lrow: Any = ibis.struct({col: left[col] for col in left.columns})
    rrow: Any = ibis.struct({col: r[col] for col in r.columns})
    lpart = left.select(*[k.name(n) for (k, _), n in zip(keys, knames, strict=True)],
                        lt.name(time), ibis.literal(1).name(side), lrow.name(lbox),
                        ibis.null(rrow.type()).name(rbox))
    # A right row without a time or a key never matches.
    rpart = r.filter(rt.notnull(), *[k.notnull() for _, k in keys]).select(
        *[k.name(n) for (_, k), n in zip(keys, knames, strict=True)], rt.name(time),
        ibis.literal(0).name(side), ibis.null(lrow.type()).name(lbox), rrow.name(rbox))
    both = lpart.union(rpart)
    seen = ibis.window(group_by=knames, order_by=[both[time], both[side]], rows=(None, 0))
    # last() skips nulls: the latest right row up to here (Spark: LAST(...) IGNORE NULLS).
    latest = ibis.ifelse(both[time].notnull(), both[rbox].last().over(seen),
                         ibis.null(rrow.type()))
    marked = both.mutate(**{rbox: latest}).filter(lambda t: t[side] == 1)
    return marked.select(*[marked[lbox][col].name(col) for col in left.columns],
                         *[marked[rbox][col].name(col) for col in r.columns])


def _key_types(left: ir.Table, right: ir.Table, lkeys: list[str], rkeys: list[str], *,
               field: str) -> list[dt.DataType | None]:
    """Per key, the common type both sides are cast to (None: already equal); raises on a
    mismatch, naming both types."""
    out: list[dt.DataType | None] = []
    for lk, rk in zip(lkeys, rkeys, strict=True):
        lt, rt = left[lk].type(), right[rk].type()
        if lt.copy(nullable=True) == rt.copy(nullable=True):
            out.append(None)
        elif (lt.is_integer() and rt.is_integer()) or (lt.is_numeric() and rt.is_numeric()
                                                       and not (lt.is_decimal() or rt.is_decimal())):
            out.append(dt.highest_precedence([lt, rt]))
        elif isinstance(lt, (dt.Date, dt.Timestamp)) and isinstance(rt, (dt.Date, dt.Timestamp)):
            out.append(dt.Timestamp())
        else:
            names = (f"{lk!r}" if lk == rk else f"{lk!r} (left) and {rk!r} (right)")
            raise ConfigError(f"join key {names} cannot match: the left one is {type_name(lt)}, "
                              f"the right one is {type_name(rt)}; cast one side first (e.g. with "
                              "the cleaner)", field=field)
    return out


def _cast(value: ir.Value, target: dt.DataType | None) -> ir.Value:
    return value if target is None else value.cast(target)


def _tolerance(value: str | float, time_type: dt.DataType) -> ir.Value:
    if isinstance(time_type, dt.Numeric):
        if isinstance(value, str):
            raise ConfigError("the asof columns are numbers: give the tolerance as a number",
                              field="asof")
        return ibis.literal(value)
    if not isinstance(value, str):
        raise ConfigError("give the tolerance with a unit, e.g. \"5 minutes\"", field="asof")
    m = re.fullmatch(r"\s*(\d+)\s*([a-z]+?)s?\s*", value.lower())
    if not m or m.group(2) not in _UNITS:
        raise ConfigError(f"cannot read the tolerance {value!r}; write e.g. \"30 seconds\", "
                          f"\"5 minutes\", \"2 hours\", \"1 day\"", field="asof")
    return ibis.interval(int(m.group(1)), unit=_UNITS[m.group(2)])
