"""The same pipeline documents and transform modules on DuckDB and on Spark (local mode) give
identical results.

Every Spark test lives in this file: ``pytest -n 2 --dist loadfile`` then runs them all in one
worker, on one Spark session (the ``spark`` fixture). The transform modules run their
DuckDB/Polars tests (``tests/unit/transforms``) on Spark too, one or a few representative tests
per module, so that every module is covered while the Spark share of CI stays short.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecluse.sdk.registry import default_registry
from tests.helpers import chain, node, run_doc
from tests.unit.transforms import (
    test_expressions,
    test_join,
    test_normalizer,
    test_pivot,
    test_rows,
    test_sql,
    test_validator,
    test_window,
)
from tests.unit.transforms.util import rows

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("spark")

# The tests each transform module runs on Spark (cleaner and aggregate: the pipelines below).
COVERAGE: dict[str, list[Callable[..., None]]] = {
    "filter": [test_expressions.test_filter],
    "derive": [test_expressions.test_derive, test_expressions.test_every_construct_on_both_engines],
    "select": [test_expressions.test_select_and_rename],
    "rename": [test_expressions.test_select_and_rename],
    "join": [test_join.test_how, test_join.test_asof, test_join.test_asof_on_numbers],
    "union": [test_rows.test_union],
    "sort": [test_rows.test_sort_and_limit],
    "limit": [test_rows.test_sort_and_limit],
    "sample": [test_rows.test_sample],
    "deduplicate": [test_rows.test_deduplicate],
    "window": [test_window.test_ranking_and_offsets, test_window.test_running_and_frames],
    "pivot": [test_pivot.test_pivot_discovered],
    "unpivot": [test_pivot.test_unpivot],
    "sql": [test_sql.test_query_over_two_inputs_with_parameters,
            test_sql.test_duckdb_dialect_is_transpiled, test_sql.test_pipeline_schema_and_run],
    "validator": [test_validator.test_quarantine,
                  test_validator.test_pipeline_with_quarantine_output],
    "normalizer": [test_normalizer.test_everything_at_once],
}
PIPELINE_COVERED = {"cleaner", "aggregate"}
CASES = list(dict.fromkeys(case for cases in COVERAGE.values() for case in cases))


def _read(path: Path) -> list[dict[str, object]]:
    table = pq.read_table(path)
    return sorted(table.to_pylist(), key=lambda r: json.dumps(r, default=str, sort_keys=True))


def test_every_transform_module_runs_on_spark() -> None:
    built_in = {cls.name for cls in default_registry().all()
                if cls.kind == "transformer" and cls.__module__.startswith("ecluse.modules.")}
    assert built_in == set(COVERAGE) | PIPELINE_COVERED
    assert all("pyspark" in default_registry().get("transformer", n).engines  # type: ignore[union-attr]
               for n in built_in)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.__module__.rsplit('.', 1)[-1]}.{c.__name__}")
def test_transform_module_on_spark(case: Callable[..., None], request: pytest.FixtureRequest) -> None:
    wanted = inspect.signature(case).parameters
    case(engine="pyspark", **{name: request.getfixturevalue(name) for name in wanted
                              if name != "engine"})


def test_transforms_agree_with_duckdb_on_random_data() -> None:
    """Nulls, ties and repeated keys everywhere: window, join, filter and pivot give the same
    rows on Spark as on DuckDB."""
    rng = np.random.default_rng(7)
    n = 300

    def column(values: np.ndarray, null_share: float) -> list[Any]:
        return [None if rng.random() < null_share else v.item() for v in values]

    t = pa.table({"id": list(range(n)), "g": column(rng.choice(["a", "b", "c"], n), 0.1),
                  "o": pa.array(column(rng.integers(-5, 5, n), 0.1), pa.int64()),
                  "v": pa.array(column(rng.integers(-9, 9, n), 0.2), pa.int64())})
    other = pa.table({"g": column(rng.choice(["a", "b", "d"], 20), 0.1),
                      "w": pa.array(column(rng.integers(0, 9, 20), 0.2), pa.int64())})
    fns = [{"function": f, "name": f, **extra} for f, extra in [
        ("row_number", {}), ("rank", {}), ("dense_rank", {}), ("percent_rank", {}),
        ("ntile", {"buckets": 3}), ("lag", {"column": "v"}), ("lead", {"column": "v", "offset": 2}),
        ("first", {"column": "v"}), ("last", {"column": "v"}), ("cumulative_sum", {"column": "v"}),
        ("cumulative_mean", {"column": "v"}), ("moving_average", {"column": "v", "size": 3}),
        ("sum", {"column": "v"}), ("count", {}), ("min", {"column": "v"})]]
    runs: list[tuple[str, dict[str, Any]]] = [
        ("window", {"partition_by": ["g"], "order_by": [{"column": "o", "descending": True},
                                                        {"column": "id"}], "functions": fns}),
        ("window", {"partition_by": ["g"], "order_by": [{"column": "o"}], "functions": [
            {"function": "mean", "name": "m", "column": "v"}, {"function": "count", "name": "c"}],
            "frame": {"type": "range", "preceding": 2, "following": 1}}),
        ("filter", {"condition": "o BETWEEN -2 AND 3 AND (v IS NULL OR v % 2 = 0) OR g = 'c'"}),
        ("pivot", {"index": ["g"], "columns": "o", "values": "v", "aggregation": "mean"}),
    ]
    for module, config in runs:
        duck, spark = (rows(module, t, engine=e, **config) for e in ("duckdb", "pyspark"))
        key = (lambda r: r["id"]) if "id" in duck[0] else (lambda r: str(r["g"]))
        _assert_same_rows(sorted(spark, key=key), sorted(duck, key=key), module)
    for how in ("inner", "left", "right", "full", "semi", "anti"):
        duck, spark = (rows("join", engine=e, inputs={"left": [t], "right": [other]}, how=how,
                            on=["g"]) for e in ("duckdb", "pyspark"))
        assert sorted(spark, key=str) == sorted(duck, key=str), how


def _assert_same_rows(got: list[dict[str, Any]], expected: list[dict[str, Any]], what: str) -> None:
    assert len(got) == len(expected), what
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys(), what
        for k, v in b.items():
            assert a[k] == (pytest.approx(v) if isinstance(v, float) else v), (what, k, a, b)


def test_demo_pipeline_is_identical_on_duckdb_and_pyspark(workdir: Path) -> None:
    (workdir / "examples" / "demo").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "demo" / "orders.csv", workdir / "examples" / "demo")
    doc = json.loads((REPO / "examples" / "demo" / "orders_pipeline.json").read_text())
    doc["nodes"][0]["config"]["on_error"] = "skip"  # quarantine is DuckDB-only
    outputs = {}
    for engine in ("duckdb", "pyspark"):
        doc["nodes"][-1]["config"]["path"] = f"out_{engine}"
        result = run_doc(doc, engine=engine)
        assert result.status == "succeeded", result.error
        outputs[engine] = result
    duck, spark = _read(workdir / "out_duckdb"), _read(workdir / "out_pyspark")
    assert len(duck) == 58
    assert [{k: v for k, v in r.items() if k != "total"} for r in duck] == \
        [{k: v for k, v in r.items() if k != "total"} for r in spark]
    for a, b in zip(duck, spark, strict=True):
        assert a["total"] == pytest.approx(b["total"])
    assert outputs["pyspark"].nodes["report"].rows_out == 58


def test_foundation_benchmark_pipeline_is_identical_on_duckdb_and_pyspark(workdir: Path) -> None:
    """``bench/generate_orders.py``'s CSV and pipeline (csv -> cleaner -> aggregate -> parquet),
    smaller: the work ``bench/run_bench.py`` times on 5M rows."""
    spec = importlib.util.spec_from_file_location("generate_orders",
                                                  REPO / "bench" / "generate_orders.py")
    assert spec is not None and spec.loader is not None
    orders = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(orders)
    csv = orders.generate(20_000, workdir / "orders.csv")
    outputs = {}
    for engine in ("duckdb", "pyspark"):
        result = run_doc(orders.pipeline(csv, workdir / f"{engine}.parquet"), engine=engine)
        assert result.status == "succeeded", result.error
        outputs[engine] = pq.read_table(workdir / f"{engine}.parquet")
    duck, spark = outputs["duckdb"], outputs["pyspark"]
    assert [(f.name, f.type) for f in spark.schema] == [(f.name, f.type) for f in duck.schema]
    assert duck.num_rows > 400  # 21 countries x 24 months, a few empty
    assert spark.drop(["total"]).to_pylist() == duck.drop(["total"]).to_pylist()  # same order
    assert spark.column("total").to_pylist() == pytest.approx(duck.column("total").to_pylist(),
                                                              rel=1e-9)


def test_files_and_fan_out_on_pyspark(workdir: Path) -> None:
    (workdir / "in.jsonl").write_text('{"id": 1, "c": {"x": "a"}}\n{"id": 2, "c": {"x": "b"}}\n')
    doc = chain(node("src", "extractor", "json", path="in.jsonl"),
                node("clean", "transformer", "cleaner", case={"c_x": "upper"}),
                node("out", "loader", "csv", path="out.csv"))
    doc["nodes"].append(node("out2", "loader", "parquet", path="out2", partition_by=["c_x"]))
    doc["edges"].append({"source": "clean", "target": "out2"})
    result = run_doc(doc, engine="pyspark")
    assert result.status == "succeeded", result.error
    # Spark's JSON reader orders inferred columns by name.
    assert (workdir / "out.csv").read_text().splitlines() == ["c_x,id", "A,1", "B,2"]
    assert sorted(p.name for p in (workdir / "out2").iterdir()) == ["c_x=A", "c_x=B"]
    assert result.nodes["out2"].rows_out == 2


def test_udfs_feed_a_sql_node(workdir: Path) -> None:
    """A normaliser's Python UDFs registered before a SQL node's view over them is planned."""
    pq.write_table(pa.table({"phone": ["06 12 34 56 78", "nope"], "n": [1, 2]}),
                   workdir / "in.parquet")
    doc = chain(node("src", "extractor", "parquet", path="in.parquet"),
                node("norm", "transformer", "normalizer", phone=["phone"], phone_region="FR"),
                node("q", "transformer", "sql", query="SELECT n, phone FROM norm ORDER BY n"),
                node("out", "loader", "parquet", path="out.parquet"))
    doc["edges"][1]["target_handle"] = "in"
    result = run_doc(doc, engine="pyspark")
    assert result.status == "succeeded", result.error
    assert pq.read_table(workdir / "out.parquet").to_pylist() == [
        {"n": 1, "phone": "+33612345678"}, {"n": 2, "phone": None}]
