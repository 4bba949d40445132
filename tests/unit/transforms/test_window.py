from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecluse.sdk import ConfigError
from tests.unit.transforms.util import ENGINES, design_schema, rows

T = pa.table({"g": ["a", "a", "b", "a", "b", "a", "a"], "o": [3, 1, 2, 2, 5, 2, None],
              "v": [1.0, 2.0, 3.0, 4.0, None, 6.0, 7.0]})


def fn(function: str, **extra: Any) -> dict[str, Any]:
    return {"function": function, "name": function, **extra}


def run(engine: str, table: pa.Table = T, **config: Any) -> list[dict[str, Any]]:
    out = rows("window", table, engine=engine, **config)
    return sorted(out, key=lambda r: (r["g"], r["o"] is None, r["o"] or 0, r["v"] or 0))


@pytest.mark.parametrize("engine", ENGINES)
def test_ranking_and_offsets(engine: str) -> None:
    out = run(engine, partition_by=["g"], order_by=[{"column": "o"}], functions=[
        fn("row_number"), fn("rank"), fn("dense_rank"), fn("percent_rank"),
        fn("ntile", buckets=2), fn("lag", column="v"), fn("lead", column="v", offset=2, default=-1),
        fn("first", column="v"), fn("last", column="v"), fn("min", column="v"),
        fn("max", column="o")])
    a = [r for r in out if r["g"] == "a"]
    # a: o = 1, 2, 2, 3, null (nulls last); ties on o = 2 share a rank.
    assert [r["rank"] for r in a] == [1, 2, 2, 4, 5]
    assert [r["dense_rank"] for r in a] == [1, 2, 2, 3, 4]
    assert [r["percent_rank"] for r in a] == [0.0, 0.25, 0.25, 0.75, 1.0]
    assert [r["ntile"] for r in a] == [1, 1, 1, 2, 2]
    assert sorted(r["row_number"] for r in a) == [1, 2, 3, 4, 5]
    assert a[0]["lag"] is None and a[3]["lag"] in (4.0, 6.0) and a[4]["lag"] == 1.0
    assert a[3]["lead"] == -1.0 and a[4]["lead"] == -1.0
    assert {r["first"] for r in a} == {2.0} and {r["last"] for r in a} == {7.0}
    assert {r["min"] for r in a} == {1.0} and {r["max"] for r in a} == {3}
    b = [r for r in out if r["g"] == "b"]
    assert [(r["rank"], r["lag"], r["first"], r["last"], r["min"]) for r in b] == [
        (1, None, 3.0, None, 3.0), (2, 3.0, 3.0, None, 3.0)]


@pytest.mark.parametrize("engine", ENGINES)
def test_running_and_frames(engine: str) -> None:
    t = pa.table({"g": ["a"] * 5 + ["b"], "o": [1, 2, 3, 4, 5, 1],
                  "v": [1.0, None, 3.0, 4.0, 5.0, None]})
    out = run(engine, t, partition_by=["g"], order_by=[{"column": "o"}], functions=[
        fn("cumulative_sum", column="v"), fn("cumulative_mean", column="v"),
        fn("cumulative_count", column="v"), fn("moving_average", column="v", size=2),
        fn("sum", column="v"), fn("mean", column="v"), fn("count")])
    cols = ["cumulative_sum", "cumulative_mean", "cumulative_count", "moving_average", "sum",
            "mean", "count"]
    assert [tuple(r[c] for c in cols) for r in out] == [
        (1.0, 1.0, 1, 1.0, 13.0, 3.25, 5), (1.0, 1.0, 1, 1.0, 13.0, 3.25, 5),
        (4.0, 2.0, 2, 3.0, 13.0, 3.25, 5), (8.0, 8 / 3, 3, 3.5, 13.0, 3.25, 5),
        (13.0, 3.25, 4, 4.5, 13.0, 3.25, 5), (None, None, 0, None, None, None, 1)]
    framed = run(engine, t, partition_by=["g"], order_by=[{"column": "o"}],
                 frame={"type": "rows", "preceding": 1, "following": 1},
                 functions=[fn("sum", column="v"), fn("count")])
    assert [(r["sum"], r["count"]) for r in framed] == [
        (1.0, 2), (4.0, 3), (7.0, 3), (12.0, 3), (9.0, 2), (None, 1)]
    ranged = run(engine, t, partition_by=["g"], order_by=[{"column": "o"}],
                 frame={"type": "range", "preceding": 2, "following": 0},
                 functions=[fn("mean", column="v"), fn("count", column="v")])
    assert [(r["mean"], r["count"]) for r in ranged] == [
        (1.0, 1), (1.0, 1), (2.0, 2), (3.5, 2), (4.0, 3), (None, 0)]


@pytest.mark.parametrize("engine", ENGINES)
def test_no_partition_descending_and_empty(engine: str) -> None:
    t = pa.table({"g": ["x", "y", "z"], "o": [1, 3, 2], "v": [1.0, 2.0, 3.0]})
    out = run(engine, t, order_by=[{"column": "o", "descending": True}],
              functions=[fn("row_number"), fn("cumulative_sum", column="v")])
    assert [(r["g"], r["row_number"], r["cumulative_sum"]) for r in out] == [
        ("x", 3, 6.0), ("y", 1, 2.0), ("z", 2, 5.0)]
    assert run(engine, t.slice(0, 0), partition_by=["g"], order_by=[{"column": "o"}],
               functions=[fn("rank")]) == []


def test_schema_and_errors() -> None:
    sch = {"in": [{"carrier": "string", "dep_delay": "int64", "day": "date"}]}
    config = {"partition_by": ["carrier"], "order_by": [{"column": "dep_delay",
                                                         "descending": True}],
              "functions": [{"function": "rank", "name": "delay_rank"},
                            {"function": "lag", "column": "dep_delay", "offset": 1,
                             "name": "prev_delay"},
                            {"function": "cumulative_mean", "column": "dep_delay", "name": "m"}]}
    assert design_schema("window", sch, **config) == [
        ("carrier", "string"), ("dep_delay", "int64"), ("day", "date"), ("delay_rank", "int64"),
        ("prev_delay", "int64"), ("m", "float64")]
    with pytest.raises(ConfigError, match="did you mean 'carrier'") as info:
        design_schema("window", sch, partition_by=["carier"], functions=[fn("count")])
    assert info.value.field == "partition_by"
    with pytest.raises(ConfigError, match="needs a numeric column; 'carrier' is string"):
        design_schema("window", sch, functions=[fn("sum", column="carrier")])
    with pytest.raises(ConfigError, match="already has a column 'day'"):
        design_schema("window", sch, functions=[{"function": "count", "name": "day"}])
    with pytest.raises(ConfigError, match="range frame needs a numeric order column"):
        design_schema("window", sch, order_by=[{"column": "carrier"}],
                      frame={"type": "range", "preceding": 1}, functions=[fn("count")])
    for bad in ({"functions": [fn("rank")]}, {"functions": [fn("lag")]},
                {"functions": [fn("ntile")], "order_by": [{"column": "day"}]},
                {"functions": [fn("count"), fn("count")]},
                {"functions": [fn("min", column="day")], "frame": {"preceding": 1}},
                {"functions": []}):
        with pytest.raises(ValueError):
            design_schema("window", sch, **bad)


values = st.one_of(st.none(), st.integers(-3, 3))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(st.tuples(st.sampled_from(["a", "b", None]), values, values), max_size=15),
       frame=st.sampled_from([None, {"type": "rows", "preceding": 2, "following": 1},
                              {"type": "range", "preceding": 1, "following": 0}]),
       descending=st.booleans())
def test_engines_agree(data: list[tuple[Any, Any, Any]], frame: Any, descending: bool) -> None:
    t = pa.table({"g": pa.array([d[0] for d in data], pa.string()),
                  "o": pa.array([d[1] for d in data], pa.int64()),
                  "v": pa.array([d[2] for d in data], pa.int64()),
                  "id": list(range(len(data)))})
    ranking = [fn("rank"), fn("dense_rank"), fn("percent_rank"), fn("sum", column="v"),
               fn("count", column="v"), fn("mean", column="v")]
    if frame is None or frame["type"] == "rows":
        ranking += [fn("row_number"), fn("ntile", buckets=3), fn("lag", column="v"),
                    fn("lead", column="v", offset=2, default=0), fn("first", column="v"),
                    fn("last", column="v"), fn("cumulative_sum", column="v"),
                    fn("cumulative_count"), fn("moving_average", column="v", size=3)]
    order = [{"column": "o", "descending": descending}]
    if frame is None or frame["type"] == "rows":
        order.append({"column": "id"})  # a total order: row numbers are deterministic
    if frame is not None and frame["type"] == "range" and descending:
        order = [{"column": "o"}]
    results = [rows("window", t, engine=e, sort=["id"], partition_by=["g"], order_by=order,
                    frame=frame, functions=ranking) for e in ENGINES]
    for a, b in zip(results[0], results[1], strict=True):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], float) and isinstance(b[k], float):
                assert a[k] == pytest.approx(b[k]), k
            else:
                assert a[k] == b[k], (k, a, b)
