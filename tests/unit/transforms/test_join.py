from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecluse.sdk import ConfigError
from tests.unit.transforms.util import ENGINES, design_schema, rows

FLIGHTS = pa.table({"carrier": ["AA", "AA", "UA", None, "ZZ"], "dep_delay": [10, 20, 5, 7, 1]})
CARRIERS = pa.table({"carrier": ["AA", "UA", "DL"], "name": ["American", "United", "Delta"]})


def join(engine: str, left: pa.Table = FLIGHTS, right: pa.Table = CARRIERS,
         **config: Any) -> list[dict[str, Any]]:
    out = rows("join", engine=engine, inputs={"left": [left], "right": [right]}, **config)
    return sorted(out, key=lambda r: [(v is None, str(v)) for v in r.values()])


@pytest.mark.parametrize("engine", ENGINES)
def test_how(engine: str) -> None:
    assert join(engine, how="inner", on=["carrier"]) == [
        {"carrier": "AA", "dep_delay": 10, "name": "American"},
        {"carrier": "AA", "dep_delay": 20, "name": "American"},
        {"carrier": "UA", "dep_delay": 5, "name": "United"}]
    left = join(engine, how="left", on=["carrier"])
    assert len(left) == 5
    assert {"carrier": None, "dep_delay": 7, "name": None} in left  # null keys never match
    assert {"carrier": "ZZ", "dep_delay": 1, "name": None} in left
    right = join(engine, how="right", on=["carrier"])
    assert {"carrier": "DL", "dep_delay": None, "name": "Delta"} in right
    assert len(right) == 4
    full = join(engine, how="full", on=["carrier"])
    assert len(full) == 6
    assert {"carrier": "DL", "dep_delay": None, "name": "Delta"} in full
    assert join(engine, how="semi", on=["carrier"]) == [
        {"carrier": "AA", "dep_delay": 10}, {"carrier": "AA", "dep_delay": 20},
        {"carrier": "UA", "dep_delay": 5}]
    assert join(engine, how="anti", on=["carrier"]) == [
        {"carrier": "ZZ", "dep_delay": 1}, {"carrier": None, "dep_delay": 7}]
    cross = join(engine, how="cross")
    assert len(cross) == 15
    assert set(cross[0]) == {"carrier", "dep_delay", "carrier_right", "name"}


@pytest.mark.parametrize("engine", ENGINES)
def test_left_on_right_on_suffixes_and_casts(engine: str) -> None:
    airports = pa.table({"faa": ["JFK", "LGA"], "name": ["Kennedy", "LaGuardia"]})
    flights = pa.table({"origin": ["JFK", "EWR"], "name": ["f1", "f2"]})
    out = join(engine, flights, airports, how="inner", left_on=["origin"], right_on=["faa"],
               suffixes=["", "_airport"])
    assert out == [{"origin": "JFK", "name": "f1", "faa": "JFK", "name_airport": "Kennedy"}]
    ints = pa.table({"id": pa.array([1, 2], pa.int32()), "x": ["a", "b"]})
    bigs = pa.table({"id": pa.array([2, 3], pa.int64()), "y": [True, False]})
    assert join(engine, ints, bigs, how="inner", on=["id"]) == [{"id": 2, "x": "b", "y": True}]


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_inputs(engine: str) -> None:
    assert join(engine, FLIGHTS.slice(0, 0), how="left", on=["carrier"]) == []
    out = join(engine, FLIGHTS, CARRIERS.slice(0, 0), how="left", on=["carrier"])
    assert len(out) == 5 and all(r["name"] is None for r in out)


@pytest.mark.parametrize("engine", ENGINES)
def test_asof(engine: str) -> None:
    h = dt.datetime(2024, 1, 1)
    trades = pa.table({"ticker": ["A", "A", "B", "C"],
                       "t": [h.replace(hour=10), h.replace(hour=12), h.replace(hour=10),
                             h.replace(hour=10)], "qty": [1, 2, 3, 4]})
    quotes = pa.table({"ticker": ["A", "A", "B"],
                       "qt": [h.replace(hour=9), h.replace(hour=11, minute=30), h.replace(hour=8)],
                       "px": [10.0, 20.0, 30.0]})
    out = join(engine, trades, quotes, how="left", on=["ticker"], asof={"left": "t", "right": "qt"})
    assert [(r["ticker"], r["qty"], r["px"]) for r in out] == [
        ("A", 1, 10.0), ("A", 2, 20.0), ("B", 3, 30.0), ("C", 4, None)]
    out = join(engine, trades, quotes, how="left", on=["ticker"],
               asof={"left": "t", "right": "qt", "tolerance": "1 hour"})
    assert [(r["ticker"], r["qty"], r["px"]) for r in out] == [
        ("A", 1, 10.0), ("A", 2, 20.0), ("B", 3, None), ("C", 4, None)]
    out = join(engine, trades, quotes, how="inner", on=["ticker"],
               asof={"left": "t", "right": "qt", "tolerance": "90 minutes"})
    assert [(r["ticker"], r["qty"], r["px"]) for r in out] == [("A", 1, 10.0), ("A", 2, 20.0)]


@pytest.mark.parametrize("engine", ENGINES)
def test_asof_on_numbers(engine: str) -> None:
    left = pa.table({"k": ["a", "a", "a"], "seq": [5, 10, 20]})
    right = pa.table({"k": ["a", "a"], "seq": [4, 9], "v": ["x", "y"]})
    out = join(engine, left, right, how="left", on=["k"], asof={"left": "seq", "tolerance": 2})
    assert sorted((r["seq"], r["v"]) for r in out) == [(5, "x"), (10, "y"), (20, None)]


def test_schema_and_errors() -> None:
    sch = {"left": [{"carrier": "string", "dep_delay": "int64", "name": "string"}],
           "right": [{"carrier": "string", "name": "string"}]}
    assert design_schema("join", sch, how="left", on=["carrier"]) == [
        ("carrier", "string"), ("dep_delay", "int64"), ("name", "string"),
        ("name_right", "string")]
    assert design_schema("join", sch, how="anti", on=["carrier"]) == [
        ("carrier", "string"), ("dep_delay", "int64"), ("name", "string")]
    bad = {"left": [{"carrier": "int64"}], "right": [{"code": "string"}]}
    with pytest.raises(ConfigError, match="left one is int64, the right one is string") as info:
        design_schema("join", bad, how="inner", left_on=["carrier"], right_on=["code"])
    assert "'carrier' (left) and 'code' (right)" in str(info.value)
    assert info.value.field == "left_on"
    with pytest.raises(ConfigError, match="did you mean 'carrier'"):
        design_schema("join", sch, how="inner", on=["carier"])
    with pytest.raises(ConfigError, match="would be named 'name_r'") as info:
        design_schema("join", {"left": [{"k": "string", "name": "string", "name_r": "string"}],
                               "right": [{"k": "string", "name": "string"}]},
                      how="inner", on=["k"], suffixes=["_r", ""])
    assert info.value.field == "suffixes"
    for config in ({"how": "inner"}, {"how": "cross", "on": ["a"]},
                   {"how": "inner", "on": ["a"], "left_on": ["a"], "right_on": ["a"]},
                   {"how": "inner", "left_on": ["a"], "right_on": []},
                   {"how": "full", "on": ["a"], "asof": {"left": "t"}},
                   {"how": "inner", "on": ["a"], "suffixes": ["_x", "_x"]}):
        with pytest.raises(ValueError):
            design_schema("join", sch, **config)
    with pytest.raises(ConfigError, match="tolerance"):
        design_schema("join", {"left": [{"k": "string", "t": "timestamp"}],
                               "right": [{"k": "string", "t": "timestamp"}]},
                      how="left", on=["k"], asof={"left": "t", "tolerance": "soon"})


keys = st.one_of(st.none(), st.integers(0, 4))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(left=st.lists(st.tuples(keys, st.integers(-9, 9)), max_size=12),
       right=st.lists(st.tuples(keys, st.integers(-9, 9)), max_size=12),
       how=st.sampled_from(["inner", "left", "right", "full", "semi", "anti"]))
def test_engines_agree(left: list[tuple[Any, int]], right: list[tuple[Any, int]], how: str) -> None:
    lt = pa.table({"k": pa.array([r[0] for r in left], pa.int64()), "v": [r[1] for r in left]})
    rt = pa.table({"k": pa.array([r[0] for r in right], pa.int64()), "v": [r[1] for r in right]})
    results = [join(e, lt, rt, how=how, on=["k"]) for e in ENGINES]
    assert results[0] == results[1]
