from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecluse.sdk import ConfigError
from tests.unit.transforms.util import ENGINES, design_schema, rows

FLIGHTS = pa.table({"carrier": ["AA", "AA", "UA", "UA", None, "AA"],
                    "origin": ["JFK", "LGA", "JFK", "JFK", None, "JFK"],
                    "dep_delay": [10, 20, 5, None, 3, 30]})


def pivot(engine: str, table: pa.Table = FLIGHTS, **config: Any) -> list[dict[str, Any]]:
    out = rows("pivot", table, engine=engine, **config)
    return sorted(out, key=lambda r: (r.get("carrier") is None, r.get("carrier") or ""))


@pytest.mark.parametrize("engine", ENGINES)
def test_pivot_discovered(engine: str) -> None:
    out = pivot(engine, index=["carrier"], columns="origin", values="dep_delay",
                aggregation="mean")
    assert out == [{"carrier": "AA", "JFK": 20.0, "LGA": 20.0, "null": None},
                   {"carrier": "UA", "JFK": 5.0, "LGA": None, "null": None},
                   {"carrier": None, "JFK": None, "LGA": None, "null": 3.0}]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("aggregation", "aa_jfk", "ua_jfk"), [
    ("sum", 40, 5), ("count", 2, 1), ("count_distinct", 2, 1), ("min", 10, 5), ("max", 30, 5)])
def test_pivot_listed_and_aggregations(engine: str, aggregation: str, aa_jfk: Any,
                                       ua_jfk: Any) -> None:
    out = pivot(engine, index=["carrier"], columns="origin", values=["dep_delay"],
                aggregation=aggregation, pivot_values=["JFK", "EWR"], prefix="d_")
    assert [(r["carrier"], r["d_JFK"]) for r in out] == [("AA", aa_jfk), ("UA", ua_jfk),
                                                        (None, 0 if "count" in aggregation
                                                         else None)]
    assert all(r["d_EWR"] in (None, 0) for r in out)


@pytest.mark.parametrize("engine", ENGINES)
def test_pivot_several_values_no_index_and_empty(engine: str) -> None:
    t = FLIGHTS.append_column("n", pa.array([1, 1, 1, 1, 1, 1]))
    out = rows("pivot", t, engine=engine, columns="origin", values=["dep_delay", "n"],
               pivot_values=["JFK", "LGA"])
    assert out == [{"JFK_dep_delay": 45, "JFK_n": 4, "LGA_dep_delay": 20, "LGA_n": 1}]
    empty = rows("pivot", FLIGHTS.slice(0, 0), engine=engine, index=["carrier"],
                 columns="origin", values="dep_delay")
    assert empty == []
    ints = pa.table({"k": [1, 1], "year": [2023, 2024], "v": [1.5, 2.5]})
    assert rows("pivot", ints, engine=engine, index=["k"], columns="year", values="v",
                prefix="y") == [{"k": 1, "y2023": 1.5, "y2024": 2.5}]


@pytest.mark.parametrize("engine", ENGINES)
def test_pivot_cap(engine: str) -> None:
    with pytest.raises(ConfigError, match="more than 2 distinct values") as info:
        rows("pivot", FLIGHTS, engine=engine, index=["carrier"], columns="origin",
             values="dep_delay", max_values=2)
    assert info.value.field == "max_values"


def test_pivot_schema_and_errors() -> None:
    sch = {"in": [{"carrier": "string", "origin": "string", "dep_delay": "int64"}]}
    assert design_schema("pivot", sch, index=["carrier"], columns="origin", values="dep_delay",
                         aggregation="mean", pivot_values=["JFK", "LGA"]) == [
        ("carrier", "string"), ("JFK", "float64"), ("LGA", "float64")]
    with pytest.raises(ConfigError, match="list the values"):
        design_schema("pivot", sch, index=["carrier"], columns="origin", values="dep_delay")
    with pytest.raises(ConfigError, match="mean needs a numeric column; 'origin' is string"):
        design_schema("pivot", sch, index=["carrier"], columns="dep_delay", values="origin",
                      aggregation="mean", pivot_values=[1])
    with pytest.raises(ConfigError, match="did you mean 'origin'"):
        design_schema("pivot", sch, columns="orign", values="dep_delay", pivot_values=["x"])
    with pytest.raises(ConfigError, match="does not fit column 'dep_delay'"):
        design_schema("pivot", sch, columns="dep_delay", values="dep_delay" if False else
                      "carrier", aggregation="count", pivot_values=["abc"])
    for bad in ({"columns": "origin", "values": "origin"}, {"columns": "origin", "values": []},
                {"columns": "origin", "values": "dep_delay", "pivot_values": []}):
        with pytest.raises(ValueError):
            design_schema("pivot", sch, **bad)


@pytest.mark.parametrize("engine", ENGINES)
def test_unpivot(engine: str) -> None:
    wide = pa.table({"carrier": ["AA", "UA"], "JFK": [1.5, None], "LGA": pa.array([2, 3],
                                                                                  pa.int64())})
    out = rows("unpivot", wide, engine=engine, index=["carrier"], names_to="origin",
               values_to="delay", sort=["carrier", "origin"])
    assert out == [{"carrier": "AA", "origin": "JFK", "delay": 1.5},
                   {"carrier": "AA", "origin": "LGA", "delay": 2.0},
                   {"carrier": "UA", "origin": "JFK", "delay": None},
                   {"carrier": "UA", "origin": "LGA", "delay": 3.0}]
    out = rows("unpivot", wide, engine=engine, index=["carrier"], columns=["JFK"],
               drop_nulls=True)
    assert out == [{"carrier": "AA", "variable": "JFK", "value": 1.5}]
    assert rows("unpivot", wide.slice(0, 0), engine=engine, index=["carrier"]) == []


def test_unpivot_schema_and_errors() -> None:
    sch = {"in": [{"carrier": "string", "JFK": "float64", "LGA": "int64"}]}
    assert design_schema("unpivot", sch, index=["carrier"]) == [
        ("carrier", "string"), ("variable", "string"), ("value", "float64")]
    with pytest.raises(ConfigError, match=r"different types: carrier \(string\), JFK \(float64\)"):
        design_schema("unpivot", sch)
    with pytest.raises(ConfigError, match="no column left"):
        design_schema("unpivot", sch, index=["carrier", "JFK", "LGA"])
    with pytest.raises(ValueError):
        design_schema("unpivot", sch, index=["JFK"], columns=["JFK"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(st.tuples(st.sampled_from(["a", "b", None]),
                               st.sampled_from(["x", "y", "z", None]),
                               st.one_of(st.none(), st.integers(-5, 5))), max_size=15),
       aggregation=st.sampled_from(["sum", "mean", "count", "min", "max", "count_distinct"]))
def test_pivot_engines_agree(data: list[tuple[Any, Any, Any]], aggregation: str) -> None:
    t = pa.table({"carrier": pa.array([d[0] for d in data], pa.string()),
                  "origin": pa.array([d[1] for d in data], pa.string()),
                  "v": pa.array([d[2] for d in data], pa.int64())})
    results = [pivot(e, t, index=["carrier"], columns="origin", values="v",
                     aggregation=aggregation, pivot_values=["x", "y", "z"]) for e in ENGINES]
    assert results[0] == results[1]
    if data:
        discovered = [pivot(e, t, index=["carrier"], columns="origin", values="v",
                            aggregation=aggregation) for e in ENGINES]
        assert discovered[0] == discovered[1]
