from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecluse.engine.backends import connect_backend
from ecluse.sdk import ConfigError
from ecluse.sdk.connections import StaticConnections
from ecluse.sdk.context import CancelToken, NodeContext
from ecluse.sdk.module import Inputs
from ecluse.sdk.registry import default_registry
from tests.helpers import node, run_doc, schemas
from tests.unit.transforms.util import ENGINES

FLIGHTS = pa.table({"k": [1, 2, 3], "carrier": ["AA", "UA", None], "dep_delay": [10, 20, 30]})
AIRLINES = pa.table({"k": [2, 3], "ok": [True, False]})


def query(engine: str, sql: str, parameters: dict[str, Any] | None = None,
          **tables: pa.Table) -> list[dict[str, Any]]:
    cls = default_registry().get("transformer", "sql")
    assert cls is not None
    work = Path(tempfile.mkdtemp(prefix="ecluse-sql-"))
    (work / "spill").mkdir()
    backend = connect_backend(engine, work_dir=work)
    try:
        ctx = NodeContext(run_id="t", pipeline_id="t", node_id="q", backend=backend,
                          parameters=parameters or {}, connections=StaticConnections(),
                          mode="run", work_dir=work, cancel=CancelToken())
        bound = {h: [backend.from_arrow(t, name=h)] for h, t in tables.items()}
        out = cls(cls.parse_config({"query": sql}), "q").transform(Inputs(bound), ctx)  # type: ignore[attr-defined]
        return backend.to_arrow(out).to_pylist()  # type: ignore[no-any-return]
    finally:
        backend.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_query_over_two_inputs_with_parameters(engine: str) -> None:
    sql = ("SELECT input.k, carrier, ok, :label AS label, :day AS day FROM input "
           "LEFT JOIN in2 USING (k) WHERE dep_delay > :min_delay ORDER BY k")
    out = query(engine, sql, {"min_delay": 15, "label": "it's; DROP TABLE x", "day":
                              dt.date(2024, 5, 1)}, **{"in": FLIGHTS, "in2": AIRLINES})
    assert out == [
        {"k": 2, "carrier": "UA", "ok": True, "label": "it's; DROP TABLE x",
         "day": dt.date(2024, 5, 1)},
        {"k": 3, "carrier": None, "ok": False, "label": "it's; DROP TABLE x",
         "day": dt.date(2024, 5, 1)}]


@pytest.mark.parametrize("engine", ENGINES)
def test_duckdb_dialect_is_transpiled(engine: str) -> None:
    sql = ('WITH c AS (SELECT * FROM "in") SELECT carrier, count(*) FILTER (WHERE k > 1) AS n, '
           "sum(dep_delay)::DOUBLE AS s FROM c GROUP BY carrier ORDER BY carrier NULLS LAST")
    assert query(engine, sql, **{"in": FLIGHTS}) == [
        {"carrier": "AA", "n": 0, "s": 10.0}, {"carrier": "UA", "n": 1, "s": 20.0},
        {"carrier": None, "n": 1, "s": 30.0}]
    assert query(engine, "SELECT * FROM input WHERE k > 5", **{"in": FLIGHTS}) == []
    assert query(engine, "SELECT count(*) AS n FROM input", **{"in": FLIGHTS.slice(0, 0)}) == [
        {"n": 0}]


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT * FROM read_csv('/etc/passwd')", "table functions such as READ_CSV"),
    ("SELECT * FROM '/etc/passwd'", "not an input"),
    ("SELECT * FROM inputs", "'inputs', which is not an input (line 1, column 15); did you mean "
                             "'input'?"),
    ("SELECT * FROM main.input", "write the input name alone"),
    ("SELECT *\nFROM input WHERE", "syntax error at line 2, column 16"),
    ("DROP TABLE input", "only SELECT queries are allowed, not DROP"),
    ("SELECT 1; SELECT 2", "exactly one SELECT"),
    ("SELECT * FROM input WHERE k > :missing", ":missing, which the pipeline does not define"),
    ("SELECT getenv('HOME') AS h", "getenv() is not allowed"),
    ("SELECT nope FROM input", "the query cannot run"),
])
@pytest.mark.parametrize("engine", ENGINES)
def test_errors(engine: str, sql: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        query(engine, sql, **{"in": FLIGHTS})
    assert message in str(info.value)
    assert info.value.field == "query"


@pytest.mark.parametrize("engine", ENGINES)
def test_pipeline_schema_and_run(workdir: Path, engine: str) -> None:
    pq.write_table(FLIGHTS, workdir / "flights.parquet")
    pq.write_table(AIRLINES, workdir / "airlines.parquet")
    doc = {"name": "sql", "parameters": {"min_delay": {"type": "integer", "default": 15}},
           "nodes": [node("f", "extractor", "parquet", path="flights.parquet"),
                     node("a", "extractor", "parquet", path="airlines.parquet"),
                     node("q", "transformer", "sql",
                          query="SELECT f.k, f.dep_delay * 2 AS d, a.ok FROM input AS f "
                                "JOIN in2 AS a ON f.k = a.k WHERE f.dep_delay > :min_delay"),
                     node("out", "loader", "parquet", path="out.parquet")],
           "edges": [{"source": "f", "target": "q", "target_handle": "in"},
                     {"source": "a", "target": "q", "target_handle": "in2"},
                     {"source": "q", "target": "out"}]}
    assert schemas(doc, engine=engine)["q"] == [("k", "int64"), ("d", "int64"), ("ok", "boolean")]
    result = run_doc(doc, engine=engine)
    assert result.status == "succeeded", result.error
    assert pq.read_table(workdir / "out.parquet").sort_by("k").to_pylist() == [
        {"k": 2, "d": 40, "ok": True}, {"k": 3, "d": 60, "ok": False}]


@pytest.mark.parametrize("engine", ENGINES)
def test_inputs_named_by_upstream_node_id(workdir: Path, engine: str) -> None:
    pq.write_table(FLIGHTS, workdir / "flights.parquet")
    pq.write_table(AIRLINES, workdir / "airlines.parquet")
    doc = {"name": "sql", "nodes": [
        node("flights", "extractor", "parquet", path="flights.parquet"),
        node("airlines", "extractor", "parquet", path="airlines.parquet"),
        node("q", "transformer", "sql", query="SELECT count(*) AS n FROM flights "
                                              "JOIN airlines USING (k)"),
        node("out", "loader", "parquet", path="out.parquet")],
        "edges": [{"source": "flights", "target": "q", "target_handle": "in"},
                  {"source": "airlines", "target": "q", "target_handle": "in2"},
                  {"source": "q", "target": "out"}]}
    assert schemas(doc, engine=engine)["q"] == [("n", "int64")]
    result = run_doc(doc, engine=engine)
    assert result.status == "succeeded", result.error
    assert pq.read_table(workdir / "out.parquet").to_pylist() == [{"n": 2}]
