from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from tests.unit.transforms.util import ENGINES, rows

ORDERS = pa.table({
    "country": ["fr", "fr", "fr", "de", None],
    "amount": pa.array([Decimal("1.25"), Decimal("1.50"), Decimal("2.00"), Decimal("3.10"), None],
                       pa.decimal128(12, 2)),
    "qty": pa.array([1, 2, 2, 5, 7], pa.int64()),
    "email": ["a@x", "b@x", "a@x", None, "c@x"],
    "ts": [dt.datetime(2024, 1, 31, 23), dt.datetime(2024, 2, 1), dt.datetime(2024, 2, 4, 12),
           dt.datetime(2024, 2, 5), dt.datetime(2023, 12, 31)],
})

EVERY = [{"column": "amount", "function": "sum", "name": "total"},
         {"function": "count", "name": "rows"},
         {"column": "email", "function": "count", "name": "emails"},
         {"column": "email", "function": "count_distinct", "name": "customers"},
         {"column": "amount", "function": "mean", "name": "mean"},
         {"column": "amount", "function": "median", "name": "median"},
         {"column": "amount", "function": "stddev", "name": "sd"},
         {"column": "qty", "function": "min", "name": "low"},
         {"column": "qty", "function": "max", "name": "high"}]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_function_per_group(engine: str) -> None:
    out = rows("aggregate", ORDERS, engine=engine, sort=["country"], group_by=["country"],
               aggregations=EVERY)
    fr = next(r for r in out if r["country"] == "fr")
    assert fr["total"] == Decimal("4.75")
    assert (fr["rows"], fr["emails"], fr["customers"], fr["low"], fr["high"]) == (3, 3, 2, 1, 2)
    # a decimal's mean, median and deviation keep their digits (typed as the column, they
    # were cut to 2 decimals: 1.58 and 0.38)
    assert fr["mean"] == pytest.approx(4.75 / 3)
    assert fr["median"] == pytest.approx(1.5)
    assert fr["sd"] == pytest.approx(0.3818813079)
    de = next(r for r in out if r["country"] == "de")
    assert de["sd"] is None and de["median"] == pytest.approx(3.1)
    assert (de["emails"], de["customers"]) == (0, 0)  # Polars counted the null as a customer
    nobody = next(r for r in out if r["country"] is None)
    assert (nobody["total"], nobody["mean"], nobody["rows"], nobody["emails"]) == (None, None, 1, 1)


@pytest.mark.parametrize("engine", ENGINES)
def test_median_of_an_even_group_lies_between_its_middle_values(engine: str) -> None:
    table = pa.table({"v": pa.array([Decimal("1.25"), Decimal("1.50")], pa.decimal128(5, 2))})
    out = rows("aggregate", table, engine=engine,
               aggregations=[{"column": "v", "function": "median", "name": "m"}])
    assert out == [{"m": pytest.approx(1.375)}]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("unit", "expected"), [
    ("month", [dt.datetime(2023, 12, 1), dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 1)]),
    ("week", [dt.datetime(2023, 12, 25), dt.datetime(2024, 1, 29), dt.datetime(2024, 2, 5)]),
    ("year", [dt.datetime(2023, 1, 1), dt.datetime(2024, 1, 1)]),
])
def test_time_buckets(engine: str, unit: str, expected: list[dt.datetime]) -> None:
    out = rows("aggregate", ORDERS, engine=engine, sort=["bucket"],
               time_bucket={"column": "ts", "unit": unit, "name": "bucket"},
               aggregations=[{"function": "count", "name": "n"}])
    assert [r["bucket"] for r in out] == expected
    assert sum(r["n"] for r in out) == 5
