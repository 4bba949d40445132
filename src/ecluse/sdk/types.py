"""The column type names users write in configs (``int64``, ``decimal(10,2)``...) and their
mapping to Ibis data types."""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Annotated

import ibis.expr.datatypes as dt
from pydantic import AfterValidator

if TYPE_CHECKING:
    import pyarrow as pa

_SIMPLE: dict[str, dt.DataType] = {
    "string": dt.string,
    "int8": dt.int8,
    "int16": dt.int16,
    "int32": dt.int32,
    "int64": dt.int64,
    "float32": dt.float32,
    "float64": dt.float64,
    "boolean": dt.boolean,
    "date": dt.date,
    "timestamp": dt.Timestamp(),
    "timestamptz": dt.Timestamp(timezone="UTC"),
    "time": dt.time,
    "binary": dt.binary,
    "json": dt.json,
}
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")

TYPE_NAMES = (*_SIMPLE, "decimal(p,s)")


def to_ibis_type(name: str) -> dt.DataType:
    """Turn a user type name into an Ibis type; raises ValueError with the accepted names."""
    key = name.strip().lower()
    if key in _SIMPLE:
        return _SIMPLE[key]
    if m := _DECIMAL.match(key):
        precision, scale = int(m.group(1)), int(m.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"decimal({precision},{scale}) is out of range: "
                             "precision 1-38, scale <= precision")
        return dt.Decimal(precision, scale)
    raise ValueError(f"unknown type {name!r}; use one of: {', '.join(TYPE_NAMES)}")


def type_name(dtype: dt.DataType) -> str:
    """The user-facing name of an Ibis type (inverse of :func:`to_ibis_type` where possible)."""
    if isinstance(dtype, dt.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, dt.Timestamp):
        return "timestamptz" if dtype.timezone else "timestamp"
    for name, candidate in _SIMPLE.items():
        if dtype.copy(nullable=True) == candidate.copy(nullable=True):
            return name
    return str(dtype.copy(nullable=True))


def _check_type_name(value: str) -> str:
    to_ibis_type(value)
    return value


TypeName = Annotated[str, AfterValidator(_check_type_name)]
"""A config field holding a column type name, validated when the config is parsed."""


def duration_text(value: datetime.timedelta) -> str:
    """A duration as text that casts back to an interval (``26:00:00.000000``), for databases
    without a duration type."""
    micros = abs(value) // datetime.timedelta(microseconds=1)
    seconds, us = divmod(micros, 1_000_000)
    return (f"{'-' if value < datetime.timedelta(0) else ''}{seconds // 3600:02d}:"
            f"{seconds // 60 % 60:02d}:{seconds % 60:02d}.{us:06d}")


def is_arrow_number(dtype: pa.DataType) -> bool:
    """An integer, float or decimal Arrow type (what a boolean does not mix with on a load)."""
    import pyarrow as pa

    t = pa.types
    return bool(t.is_integer(dtype) or t.is_floating(dtype) or t.is_decimal(dtype))
