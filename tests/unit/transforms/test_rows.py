"""union, sort, limit, sample, deduplicate."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ecluse.sdk import ConfigError
from tests.helpers import transform_table
from tests.unit.transforms.util import ENGINES, design_schema, rows

A = pa.table({"id": pa.array([1, 2], pa.int32()), "name": ["a", "b"]})
B = pa.table({"name": ["c", "b"], "id": pa.array([3, 2], pa.int64()), "extra": [True, None]})


@pytest.mark.parametrize("engine", ENGINES)
def test_union(engine: str) -> None:
    out = rows("union", engine=engine, inputs={"in": [A, B]}, sort=["id"])
    assert out == [{"id": 1, "name": "a", "extra": None}, {"id": 2, "name": "b", "extra": None},
                   {"id": 2, "name": "b", "extra": None}, {"id": 3, "name": "c", "extra": True}]
    out = rows("union", engine=engine, inputs={"in": [A, B.drop(["extra"]), A]}, distinct=True,
               sort=["id"])
    assert out == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    assert rows("union", engine=engine, inputs={"in": [A.slice(0, 0), A.slice(0, 0)]}) == []


def test_union_schema_and_errors() -> None:
    sch = {"in": [{"id": "int32", "name": "string"}, {"name": "string", "id": "int64",
                                                       "extra": "boolean"}]}
    assert design_schema("union", sch) == [("id", "int64"), ("name", "string"),
                                           ("extra", "boolean")]
    with pytest.raises(ConfigError, match="input 1 has no column 'extra'"):
        design_schema("union", sch, missing="error")
    with pytest.raises(ConfigError, match=r"'id' has different types in the inputs \(int64, string\)"):
        design_schema("union", {"in": [{"id": "int64"}, {"id": "string"}]})
    with pytest.raises(ConfigError, match="at least two"):
        design_schema("union", {"in": [{"id": "int64"}]})


@pytest.mark.parametrize("engine", ENGINES)
def test_sort_and_limit(engine: str) -> None:
    t = pa.table({"k": ["a", "b", "a", None], "v": [3, None, 1, 2]})
    out = transform_table("sort", t, engine=engine, by=[{"column": "k"}, {"column": "v",
                                                                           "descending": True}])
    assert out.to_pylist() == [{"k": "a", "v": 3}, {"k": "a", "v": 1}, {"k": "b", "v": None},
                               {"k": None, "v": 2}]
    out = transform_table("sort", t, engine=engine, by=[{"column": "v", "nulls": "first"}])
    assert out.column("v").to_pylist() == [None, 1, 2, 3]
    out = transform_table("sort", t, engine=engine, by=[{"column": "v", "descending": True}])
    assert out.column("v").to_pylist() == [3, 2, 1, None]
    assert rows("limit", t, engine=engine, n=2) == t.slice(0, 2).to_pylist()
    assert rows("limit", t, engine=engine, n=10, offset=3) == t.slice(3).to_pylist()
    assert rows("limit", t, engine=engine, n=0) == []
    assert rows("sort", t.slice(0, 0), engine=engine, by=[{"column": "k"}]) == []


def test_sort_limit_schema_and_errors() -> None:
    sch = {"in": [{"k": "string", "v": "int64"}]}
    assert design_schema("sort", sch, by=[{"column": "v"}]) == [("k", "string"), ("v", "int64")]
    assert design_schema("limit", sch, n=3) == [("k", "string"), ("v", "int64")]
    with pytest.raises(ConfigError, match="did you mean 'v'") as info:
        design_schema("sort", sch, by=[{"column": "vv"}])
    assert info.value.field == "by"
    with pytest.raises(ValueError):
        design_schema("limit", sch, n=-1)
    with pytest.raises(ValueError):
        design_schema("sort", sch, by=[])


@pytest.mark.parametrize("engine", ENGINES)
def test_sample(engine: str) -> None:
    t = pa.table({"id": list(range(2000))})
    first = rows("sample", t, engine=engine, fraction=0.1, seed=7, sort=["id"])
    again = rows("sample", t, engine=engine, fraction=0.1, seed=7, sort=["id"])
    other = rows("sample", t, engine=engine, fraction=0.1, seed=8, sort=["id"])
    assert first == again != other
    assert 120 < len(first) < 280
    assert len(rows("sample", t, engine=engine, n=25, seed=1)) == 25
    assert len(rows("sample", t, engine=engine, n=5000)) == 2000
    assert rows("sample", t.slice(0, 0), engine=engine, fraction=0.5) == []


def test_sample_schema_and_errors() -> None:
    sch = {"in": [{"id": "int64"}]}
    assert design_schema("sample", sch, fraction=0.5) == [("id", "int64")]
    for config in ({}, {"fraction": 0.1, "n": 3}, {"fraction": 1.5}, {"fraction": 0}):
        with pytest.raises(ValueError):
            design_schema("sample", sch, **config)


@pytest.mark.parametrize("engine", ENGINES)
def test_deduplicate(engine: str) -> None:
    t = pa.table({"c": ["x", "x", "y", "z", "z", None, None],
                  "ts": [1, 3, 2, None, 5, 1, 2], "v": ["x1", "x3", "y2", "zN", "z5", "n1", "n2"]})
    first = rows("deduplicate", t, engine=engine, columns=["c"], keep="first",
                 order_by=[{"column": "ts"}], sort=["v"])
    assert [r["v"] for r in first] == ["n1", "x1", "y2", "z5"]
    last = rows("deduplicate", t, engine=engine, columns=["c"], keep="last",
                order_by=[{"column": "ts"}], sort=["v"])
    assert [r["v"] for r in last] == ["n2", "x3", "y2", "zN"]  # a null ts sorts last
    last = rows("deduplicate", t, engine=engine, columns=["c"], keep="last",
                order_by=[{"column": "ts", "nulls": "first"}], sort=["v"])
    assert [r["v"] for r in last] == ["n2", "x3", "y2", "z5"]
    anyone = rows("deduplicate", t, engine=engine, columns=["c"], keep="any")
    assert sorted((r["c"] or "") for r in anyone) == ["", "x", "y", "z"]
    none = rows("deduplicate", t, engine=engine, columns=["c"], keep="none")
    assert [r["v"] for r in none] == ["y2"]
    dup = pa.table({"a": [1, 1, 2], "b": ["p", "p", "q"]})
    assert rows("deduplicate", dup, engine=engine, keep="any", sort=["a"]) == [
        {"a": 1, "b": "p"}, {"a": 2, "b": "q"}]
    assert rows("deduplicate", dup.slice(0, 0), engine=engine, keep="any") == []


def test_deduplicate_schema_and_errors() -> None:
    sch = {"in": [{"c": "string", "ts": "timestamp"}]}
    assert design_schema("deduplicate", sch, columns=["c"], keep="last",
                         order_by=[{"column": "ts"}]) == [("c", "string"), ("ts", "timestamp")]
    with pytest.raises(ValueError, match="needs 'order_by'"):
        design_schema("deduplicate", sch, columns=["c"], keep="first")
    with pytest.raises(ConfigError, match="did you mean 'ts'") as info:
        design_schema("deduplicate", sch, columns=["c"], keep="last", order_by=[{"column": "tss"}])
    assert info.value.field == "order_by"
