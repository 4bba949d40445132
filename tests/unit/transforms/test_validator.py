from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecluse.modules.transform.validator import ValidationFailed
from ecluse.sdk import ConfigError
from tests.helpers import node, run_doc, transform_table
from tests.unit.transforms.util import ENGINES, design_schema

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
T = pa.table({"id": [1, 2, 2, 3, None], "status": ["new", "paid", "bad", None, "new"],
              "amount": [5.0, -1.0, 20.0, 7.0, None],
              "email": ["a@b.c", "nope", None, "x@y.z", "q@r.s"],
              "n": ["1", "x", "3", None, "5"], "ts": [NOW] * 5})
RULES: list[dict[str, Any]] = [
    {"column": "id", "check": "not_null"}, {"column": "id", "check": "unique"},
    {"column": "status", "check": "in_set", "values": ["new", "paid"]},
    {"column": "amount", "check": "range", "min": 0},
    {"column": "email", "check": "regex", "pattern": "^[^@]+@[^@]+$"},
    {"column": "n", "check": "type", "type": "int64"},
    {"column": "status", "check": "length", "max": 3},
    {"check": "expression", "expression": "amount < 10 OR status = 'paid'", "name": "small"}]


def run(engine: str, table: pa.Table = T, port: str = "out", **config: Any) -> list[dict[str, Any]]:
    out = transform_table("validator", table, engine=engine, port=port, **config)
    return sorted(out.to_pylist(), key=lambda r: (r["id"] is None, r["id"] or 0, str(r)))


@pytest.mark.parametrize("engine", ENGINES)
def test_quarantine(engine: str) -> None:
    assert [r["id"] for r in run(engine, rules=RULES)] == [1, 3]
    rejected = run(engine, rules=RULES, port="rejected")
    assert sorted((r["id"] or 0, r["_rejected_rule"], r["_rejected_rules"]) for r in rejected) == [
        (0, "id_not_null", "id_not_null"),
        (2, "id_unique", "id_unique, amount_range, email_regex, n_type, status_length"),
        (2, "id_unique", "id_unique, status_in_set, small")]
    assert set(rejected[0]) == set(T.column_names) | {"_rejected_rule", "_rejected_rules"}


@pytest.mark.parametrize("engine", ENGINES)
def test_drop_and_fail(engine: str) -> None:
    assert [r["id"] for r in run(engine, rules=RULES, on_violation="drop")] == [1, 3]
    assert run(engine, rules=RULES, on_violation="drop", port="rejected") == []
    with pytest.raises(ValidationFailed) as info:
        run(engine, rules=RULES, on_violation="fail")
    assert "id_not_null: 1 row" in str(info.value) and "id_unique: 2 rows" in str(info.value)
    assert len(info.value.sample_rows) == 3
    clean = T.slice(0, 1)
    assert run(engine, clean, rules=RULES, on_violation="fail") == clean.to_pylist()
    assert run(engine, T.slice(0, 0), rules=RULES) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_bounds_and_typed_values(engine: str) -> None:
    t = pa.table({"id": [1, 2, 3], "d": [dt.date(2024, 1, 1), dt.date(2024, 6, 1), None],
                  "code": ["ab", "abcd", "a"]})
    rules = [{"column": "d", "check": "range", "min": "2024-01-01", "max": "2024-03-31"},
             {"column": "code", "check": "length", "min": 2, "max": 3},
             {"column": "id", "check": "in_set", "values": [1, 3]}]
    assert [r["id"] for r in run(engine, t, rules=rules)] == [1]
    rejected = run(engine, t, rules=rules, port="rejected")
    assert [(r["id"], r["_rejected_rule"], r["_rejected_rules"]) for r in rejected] == [
        (2, "d_range", "d_range, code_length, id_in_set"), (3, "code_length", "code_length")]


@pytest.mark.parametrize("engine", ENGINES)
def test_table_checks(engine: str) -> None:
    with pytest.raises(ValidationFailed, match="fewer than the minimum 10"):
        run(engine, table_checks={"min_rows": 10})
    with pytest.raises(ValidationFailed, match="more than the maximum 2"):
        run(engine, table_checks={"max_rows": 2})
    old = T.set_column(5, "ts", pa.array([dt.datetime(2020, 1, 1)] * 5))
    with pytest.raises(ValidationFailed, match="older than 2 days"):
        run(engine, old, table_checks={"freshness": {"column": "ts", "max_age": "2 days"}})
    assert len(run(engine, table_checks={"freshness": {"column": "ts", "max_age": "2 days"},
                                         "min_rows": 1})) == 5
    assert len(run(engine, old, table_checks={"min_rows": 10, "severity": "warn"})) == 5


def test_schema_and_errors() -> None:
    sch = {"in": [{"id": "int64", "email": "string", "amount": "float64"}]}
    cols = [("id", "int64"), ("email", "string"), ("amount", "float64")]
    rules = [{"column": "id", "check": "unique"}, {"column": "email", "check": "regex",
                                                   "pattern": "@"}]
    assert design_schema("validator", sch, rules=rules) == cols
    assert design_schema("validator", sch, rules=rules, port="rejected") == [
        *cols, ("_rejected_rule", "string"), ("_rejected_rules", "string")]
    with pytest.raises(ConfigError, match="did you mean 'email'"):
        design_schema("validator", sch, rules=[{"column": "emial", "check": "not_null"}])
    with pytest.raises(ConfigError, match="regex needs a text column; 'amount' is float64"):
        design_schema("validator", sch, rules=[{"column": "amount", "check": "regex",
                                                "pattern": "x"}])
    with pytest.raises(ConfigError, match="'abc' does not fit column 'amount'"):
        design_schema("validator", sch, rules=[{"column": "amount", "check": "range",
                                                "min": "abc"}])
    with pytest.raises(ConfigError, match="cannot compare"):
        design_schema("validator", sch, rules=[{"check": "expression",
                                                "expression": "email > 3"}])
    for bad in ({}, {"rules": [{"check": "in_set", "column": "id"}]},
                {"rules": [{"check": "range", "column": "id"}]},
                {"rules": [{"check": "regex", "column": "email", "pattern": "("}]},
                {"rules": [{"check": "not_null", "column": "id"}] * 2},
                {"table_checks": {"freshness": {"column": "x", "max_age": "soon"}}}):
        with pytest.raises(ValueError):
            design_schema("validator", sch, **bad)


@pytest.mark.parametrize("engine", ENGINES)
def test_pipeline_with_quarantine_output(workdir: Path, engine: str) -> None:
    pq.write_table(T, workdir / "in.parquet")
    doc = {"name": "v", "nodes": [
        node("src", "extractor", "parquet", path="in.parquet"),
        node("check", "transformer", "validator", rules=RULES),
        node("good", "loader", "parquet", path="good.parquet"),
        node("bad", "loader", "parquet", path="bad.parquet")],
        "edges": [{"source": "src", "target": "check"},
                  {"source": "check", "target": "good", "source_handle": "out"},
                  {"source": "check", "target": "bad", "source_handle": "rejected"}]}
    result = run_doc(doc, engine=engine)
    assert result.status == "succeeded", result.error
    assert pq.read_table(workdir / "good.parquet").num_rows == 2
    assert sorted(pq.read_table(workdir / "bad.parquet").column("_rejected_rule").to_pylist()) == [
        "id_not_null", "id_unique", "id_unique"]
    metrics = result.nodes["check"]
    assert metrics.rows_rejected == 3
    assert metrics.extra["violations"] == {
        "id_not_null": 1, "id_unique": 2, "status_in_set": 1, "amount_range": 1,
        "email_regex": 1, "n_type": 1, "status_length": 1, "small": 1}
