"""The mysql extractor's fast decimal rescale gives exactly what Arrow's cast gives, and leaves
to the cast every value it would refuse or cannot hold in 64 bits."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from ecluse.sdk.mysql_connectorx import _cast, _rescaled

READ = pa.decimal128(38, 10)  # how connectorx reads every DECIMAL


def _read(*values: str | None) -> pa.Array:
    return pa.array([None if v is None else Decimal(v) for v in values], READ)


@pytest.mark.parametrize(("values", "to"), [
    (["12.34", "-12.34", "0", None, "-0.01", "922337203.68", "-922337203.68"],
     pa.decimal128(11, 2)),
    (["922337203.6854775807"], pa.decimal128(19, 10)),  # the largest 64-bit unscaled value
    (["-922337203.6854775808"], pa.decimal128(19, 10)),
    (["1", "2", None, None], pa.decimal128(1, 0)),
    (["922337203", "-922337203"], pa.decimal128(9, 0)),
])
def test_the_fast_path_gives_the_casts_values(values: list[str | None], to: pa.DataType) -> None:
    column = _read(*values)
    fast = _rescaled(column, to)
    assert fast is not None
    fast.validate(full=True)
    assert fast.equals(column.cast(to))
    assert fast.to_pylist() == column.cast(to).to_pylist()


@pytest.mark.parametrize(("values", "to"), [
    (["922337203.6854775808"], pa.decimal128(20, 10)),  # beyond 64 bits
    (["12.345"], pa.decimal128(12, 2)),  # a fraction the scale would drop
    (["100.00"], pa.decimal128(4, 2)),  # more digits than the column holds
    (["-100.00"], pa.decimal128(4, 2)),
    (["12345678901234567890"], pa.decimal128(38, 0)),
    ([], pa.decimal128(12, 2)),
])
def test_what_the_fast_path_leaves_to_the_cast(values: list[str], to: pa.DataType) -> None:
    assert _rescaled(_read(*values), to) is None


def test_a_sliced_column_and_refused_values_go_through_the_cast() -> None:
    column = _read("1.00", "2.50", "3.25").slice(1)
    assert _cast(column, pa.field("x", pa.decimal128(5, 2))).to_pylist() == \
        [Decimal("2.50"), Decimal("3.25")]
    with pytest.raises(Exception, match="does not fit"):
        _cast(_read("100.00"), pa.field("x", pa.decimal128(4, 2)))
