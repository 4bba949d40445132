"""Casts of text to dates, timestamps, times and booleans on the Polars engine, reading what
DuckDB's ``CAST`` reads (the engines must give the same rows).

Ibis' translation cannot ``try_cast`` text to these types, parses timestamps in the format of
the first value, and Polars casts no text to booleans. Here each value is matched against
DuckDB's grammar (a regular expression), its fields checked, and the date validated by parsing
a canonical ``+YYYY-MM-DD``: ``1:2:3``, ``2024/1/5``, ``T`` or spaces between date and time,
fractions cut to microseconds, ``Z``, ``+02``, ``-05:30`` and `` UTC`` suffixes (a timestamp
without a time zone ignores them, as DuckDB does), ``24:00:00`` as the next midnight; booleans
from ``true``/``false``/``t``/``f``/``yes``/``no``/``y``/``n``/``1``/``0`` in any case. Not
read: named time zones (``Europe/Paris``), ``BC`` dates, ``epoch``/``infinity``, and the time
``24:00:00``.

``TRY_CAST`` gives null for a text it cannot read; ``CAST`` fails on it, naming the value.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import polars as pl
from ibis.backends.polars.compiler import cast, translate, try_cast
from ibis.formats.polars import PolarsType

_WS = r"[ \t\n\v\f\r]"
_DATE = r"(?P<y>\d+)(?P<s1>[-/ ])(?P<m>\d{1,2})(?P<s2>[-/ ])(?P<d>\d{1,2})"
_CLOCK = r"(?P<h>\d{1,2}):(?P<mi>\d{1,2})"
_FRACTION = r"(?P<s>\d{1,2})(?:\.(?P<f>\d*))?"
_OFFSET = r"(?P<sign>[+-])(?P<oh>\d\d)(?::(?P<om>\d\d)(?::(?P<os>\d\d))?|(?P<om2>\d\d))?"
# DuckDB's date ends at anything but a digit; a timestamp's seconds may carry a zone then
# spaces, or a space then spaces, its minutes nothing; a time's seconds may be followed by
# anything, its minutes by nothing or a colon.
_DATE_TEXT = rf"^{_WS}*{_DATE}(?:$|\D)"
_TIMESTAMP_TEXT = (rf"^{_WS}*{_DATE}(?:(?:T{_WS}*|{_WS}+){_CLOCK}"
                   rf"(?::{_FRACTION}(?:(?:Z|{_OFFSET}| (?i:utc)){_WS}*| {_WS}*)?)?)?$")
_TIME_TEXT = rf"^{_WS}*{_CLOCK}(?:$|:$|:{_FRACTION})"

_DAY_US = 86_400_000_000
_BOOLEANS = {"true": True, "t": True, "yes": True, "y": True, "1": True,
             "false": False, "f": False, "no": False, "n": False, "0": False}

_Parse = Callable[[pl.Expr], pl.Expr]
_Group = Callable[[str], pl.Expr]


def _groups(text: pl.Expr, pattern: str) -> _Group:
    groups = text.str.extract_groups(pattern)
    return lambda name: groups.struct.field(name)


def _day(g: _Group) -> pl.Expr:
    canonical = pl.concat_str(pl.lit("+"), g("y").str.zfill(4), pl.lit("-"), g("m").str.zfill(2),
                              pl.lit("-"), g("d").str.zfill(2))
    return pl.when(g("s1") == g("s2")).then(canonical.str.to_date("%Y-%m-%d", strict=False))


def _clock_us(g: _Group, *, end_of_day: bool) -> pl.Expr:
    """Microseconds since midnight; null when a field is out of range."""
    h, mi = g("h").cast(pl.Int64), g("mi").cast(pl.Int64)
    s = g("s").cast(pl.Int64).fill_null(0)
    fraction = g("f").str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int64).fill_null(0)
    us = ((h * 60 + mi) * 60 + s) * 1_000_000 + fraction
    in_day = us <= _DAY_US if end_of_day else us < _DAY_US
    return pl.when((mi < 60) & (s < 60) & in_day).then(us)


def _offset_us(g: _Group) -> pl.Expr:
    seconds = (g("oh").cast(pl.Int64) * 3600
               + pl.coalesce(g("om"), g("om2")).cast(pl.Int64).fill_null(0) * 60
               + g("os").cast(pl.Int64).fill_null(0))
    return (pl.when(g("sign") == "-").then(-seconds).otherwise(seconds) * 1_000_000).fill_null(0)


def _to_date(text: pl.Expr) -> pl.Expr:
    return _day(_groups(text, _DATE_TEXT))


def _local_us(text: pl.Expr, *, zoned: bool) -> pl.Expr:
    """Microseconds since the epoch, shifted by the text's UTC offset when ``zoned``."""
    g = _groups(text, _TIMESTAMP_TEXT)
    clock = pl.when(g("h").is_null()).then(0).otherwise(_clock_us(g, end_of_day=True))
    us = _day(g).cast(pl.Int64) * _DAY_US + clock
    return us - _offset_us(g) if zoned else us


def _to_timestamp(to: dt.Timestamp, text: pl.Expr) -> pl.Expr:
    if to.timezone is None:
        return _local_us(text, zoned=False).cast(pl.Datetime("us")).cast(_polars_type(to))
    utc = _local_us(text, zoned=True).cast(pl.Datetime("us", "UTC"))
    return utc.dt.convert_time_zone(to.timezone).cast(_polars_type(to))


def _polars_type(to: dt.DataType) -> pl.DataType:
    """Ibis' Polars type, but for a timestamp without scale: microseconds, as DuckDB's (Ibis
    would say nanoseconds, which end in 2262)."""
    if not isinstance(to, dt.Timestamp):
        return PolarsType.from_ibis(to)  # type: ignore[no-any-return]
    scale = 6 if to.scale is None else to.scale
    return pl.Datetime("ms" if scale <= 3 else "us" if scale <= 6 else "ns", to.timezone)


def _to_time(text: pl.Expr) -> pl.Expr:
    """DuckDB reads a time, or else the time of a timestamp."""
    clock = _clock_us(_groups(text, _TIME_TEXT), end_of_day=False)
    of_timestamp = _local_us(text, zoned=False).cast(pl.Datetime("us")).dt.time()
    return pl.coalesce((clock * 1000).cast(pl.Time), of_timestamp)


def _to_boolean(text: pl.Expr) -> pl.Expr:
    return text.str.to_lowercase().replace_strict(_BOOLEANS, default=None,
                                                  return_dtype=pl.Boolean)


def _text_parser(op: ops.Cast | ops.TryCast) -> _Parse | None:
    if not op.arg.dtype.is_string():
        return None
    to = op.to
    if to.is_date():
        return _to_date
    if to.is_timestamp():
        return partial(_to_timestamp, to)
    if to.is_time():
        return _to_time
    if to.is_boolean():
        return _to_boolean
    return None


# The canonical texts most data holds, read by Polars' own parser (~40x faster than the
# grammar above); the grammar reads what they leave.
_NATIVE: dict[str, tuple[str, Callable[[pl.Expr], pl.Expr]]] = {
    "date": (r"^\d{4}-\d{2}-\d{2}$", lambda t: t.str.to_date("%Y-%m-%d", strict=False)),
    # seconds up to 59: Polars reads 60 as a leap second, DuckDB as no time
    "timestamp": (r"^\d{4}-\d{2}-\d{2}[ T](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?$",
                  lambda t: t.str.replace("T", " ", literal=True).str.to_datetime(
                      "%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)),
}


def _read(parse: _Parse, to: dt.DataType, fail_as: str | None, text: pl.Series) -> pl.Series:
    """``text`` read as ``to``: canonical values natively, the others by ``parse``; an unread
    value fails when ``fail_as`` names the type, else is null."""
    frame = text.to_frame("t")
    kind = "timestamp" if to.is_timestamp() and to.timezone is None else str(to)
    if kind in _NATIVE:
        pattern, native = _NATIVE[kind]
        value = frame.select(pl.when(pl.col("t").str.contains(pattern)).then(
            native(pl.col("t")).cast(_polars_type(to)))).to_series()
        missed = value.is_null() & text.is_not_null()
        if missed.any():
            rest = frame.filter(missed).select(parse(pl.col("t"))).to_series()
            value = value.scatter(missed.arg_true(), rest)
    else:
        value = frame.select(parse(pl.col("t"))).to_series()
    if fail_as is not None:
        unread = text.filter(text.is_not_null() & value.is_null())
        if len(unread):
            raise pl.exceptions.InvalidOperationError(f"cannot cast {unread[0]!r} to {fail_as}")
    return value.alias(text.name)


def _text_cast(ibis_translation: Callable[..., pl.Expr], *, strict: bool
               ) -> Callable[..., pl.Expr]:
    """The translation of ``CAST`` (``strict``) or ``TRY_CAST``: text to a type above is read
    by :func:`_read`; any other cast is Ibis's own."""
    def translate_cast(op: ops.Cast | ops.TryCast, **kw: Any) -> pl.Expr:
        parse = _text_parser(op)
        if parse is None:
            return ibis_translation(op, **kw)
        read = partial(_read, parse, op.to, str(op.to) if strict else None)
        return translate(op.arg, **kw).map_batches(  # type: ignore[no-any-return]
            read, is_elementwise=True, return_dtype=_polars_type(op.to))
    return translate_cast


translate.register(ops.Cast)(_text_cast(cast, strict=True))
translate.register(ops.TryCast)(_text_cast(try_cast, strict=False))
