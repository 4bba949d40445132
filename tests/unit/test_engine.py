"""The engine: atomic loads, fan-out, cancellation, parameters, state, metrics, engines agree."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import Field

from ecluse.engine.plan import compile_pipeline
from ecluse.engine.run import RunOptions, run_pipeline
from ecluse.engine.state import FileStateStore
from ecluse.sdk import Extractor, ModuleConfig, NodeContext, sql_field
from ecluse.sdk.context import CancelToken
from ecluse.sdk.errors import ConfigError, NodeError
from ecluse.sdk.registry import Registry, default_registry
from ecluse.spec.validate import DocumentInvalid
from tests.helpers import chain, node, preview, run_doc

ORDERS = "id,email,country,amount,ts\n" + "".join(
    f"{i}, User{i % 7}@X.com ,{['fr', 'de', None][i % 3] or ''},{i * 1.5},2024-0{1 + i % 2}-15 10:00:00\n"
    for i in range(1, 61))


@pytest.fixture
def orders(workdir: Path) -> Path:
    path = workdir / "orders.csv"
    path.write_text(ORDERS)
    return path


def pipeline(**loader: Any) -> dict[str, Any]:
    return chain(
        node("src", "extractor", "csv", path="orders.csv"),
        node("clean", "transformer", "cleaner", trim=True, case={"email": "lower"},
             fill_nulls={"country": "XX"}),
        node("agg", "transformer", "aggregate", group_by=["country"],
             time_bucket={"column": "ts", "unit": "month", "name": "month"},
             aggregations=[{"column": "amount", "function": "sum", "name": "total"},
                           {"function": "count", "name": "n"},
                           {"column": "email", "function": "count_distinct", "name": "customers"}]),
        node("out", "loader", "parquet", **({"path": "out"} | loader)))


def test_metrics_and_output(orders: Path, workdir: Path) -> None:
    result = run_doc(pipeline())
    assert result.status == "succeeded", result.error
    m = result.nodes
    assert m["src"].rows_out == 60
    assert m["clean"].rows_in == 60
    assert m["out"].rows_in == m["agg"].rows_out == 6  # 3 countries x 2 months
    assert m["out"].bytes_written and m["out"].bytes_written > 0
    assert all(x.status == "succeeded" and x.duration_s is not None for x in m.values())
    table = pq.read_table(workdir / "out")
    assert table.num_rows == 6
    assert sorted(set(table.column("country").to_pylist())) == ["XX", "de", "fr"]
    assert sum(table.column("n").to_pylist()) == 60


def test_duckdb_and_polars_agree(orders: Path, workdir: Path) -> None:
    outputs = {}
    for engine in ("duckdb", "polars"):
        result = run_doc(pipeline(path=f"out_{engine}.parquet"), engine=engine)
        assert result.status == "succeeded", result.error
        outputs[engine] = pq.read_table(workdir / f"out_{engine}.parquet").sort_by(
            [("country", "ascending"), ("month", "ascending")]).to_pylist()
    assert outputs["duckdb"] == outputs["polars"]


def test_failure_leaves_destination_unchanged(orders: Path, workdir: Path) -> None:
    assert run_doc(pipeline(path="out.parquet")).status == "succeeded"
    before = (workdir / "out.parquet").read_bytes()
    broken = pipeline(path="out.parquet")
    broken["nodes"][1]["config"]["cast"] = {"email": "int64"}  # fails while writing
    result = run_doc(broken)
    assert result.status == "failed"
    assert result.error is not None and result.error.node_id == "clean"
    assert "email" in result.error.reason or "convert" in result.error.reason.lower()
    assert (workdir / "out.parquet").read_bytes() == before
    assert not [p for p in workdir.iterdir() if p.name.startswith(".ecluse-")]


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_partitioned_overwrite_append_and_error_if_exists(orders: Path, workdir: Path,
                                                         engine: str) -> None:
    doc = pipeline(path="lake", partition_by=["country"])
    assert run_doc(doc, engine=engine).status == "succeeded"
    assert sorted(p.name for p in (workdir / "lake").iterdir()) == [
        "country=XX", "country=de", "country=fr"]
    assert pq.read_table(workdir / "lake").num_rows == 6
    doc["nodes"][3]["config"]["mode"] = "append"
    assert run_doc(doc, engine=engine).status == "succeeded"
    assert pq.read_table(workdir / "lake").num_rows == 12
    doc["nodes"][3]["config"]["mode"] = "overwrite"
    assert run_doc(doc, engine=engine).status == "succeeded"
    assert pq.read_table(workdir / "lake").num_rows == 6
    doc["nodes"][3]["config"]["mode"] = "error_if_exists"
    result = run_doc(doc, engine=engine)
    assert result.status == "failed" and result.error is not None
    assert "already exists" in result.error.reason


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_text_formats_partition_too(orders: Path, workdir: Path, engine: str, fmt: str) -> None:
    """DuckDB's JSON writer has no PARTITION_BY: the engine writes those lines itself."""
    doc = pipeline()
    doc["nodes"][3] = node("out", "loader", fmt, path="lake", partition_by=["country"])
    result = run_doc(doc, engine=engine)
    assert result.status == "succeeded", result.error
    assert sorted(p.name for p in (workdir / "lake").iterdir()) == [
        "country=XX", "country=de", "country=fr"]
    [part] = (workdir / "lake" / "country=fr").iterdir()
    lines = part.read_text().splitlines()
    if fmt == "json":
        rows = [json.loads(line) for line in lines]
        assert [set(r) for r in rows] == [{"month", "total", "n", "customers"}] * 2  # no key
        assert {r["n"] for r in rows} == {10}
    else:
        assert len(lines) == 3 and lines[0] == "month,total,n,customers"


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_json_lines_hold_no_infinity_or_nan(workdir: Path, engine: str) -> None:
    (workdir / "in.csv").write_text("id,x\n1,1.5\n2,inf\n3,-inf\n4,nan\n")
    doc = chain(node("src", "extractor", "csv", path="in.csv", columns={"x": "float64"}),
                node("out", "loader", "json", path="out.jsonl"))
    assert run_doc(doc, engine=engine).status == "succeeded"
    rows = [json.loads(line) for line in (workdir / "out.jsonl").read_text().splitlines()]
    assert rows == [{"id": 1, "x": 1.5}, {"id": 2, "x": None}, {"id": 3, "x": None},
                    {"id": 4, "x": None}]


def test_append_to_a_single_file_is_refused_before_the_first_run(
        orders: Path, workdir: Path) -> None:
    """It could be written once, then every later run failed: a scheduled pipeline broke on
    its second day."""
    result = run_doc(pipeline(path="report.parquet", mode="append"))
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "out" and result.error.field == "path"
    assert "give a folder such as 'report'" in result.error.reason
    assert not (workdir / "report.parquet").exists()


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_nested_values_into_csv_are_refused_at_design_time(workdir: Path, engine: str) -> None:
    (workdir / "in.jsonl").write_text('{"id": 1, "c": {"name": "Ann"}, "tags": ["a", "b"]}\n')
    doc = chain(node("src", "extractor", "json", path="in.jsonl", flatten=False),
                node("out", "loader", "csv", path="out.csv"))
    result = run_doc(doc, engine=engine)
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "out" and "column 'c' holds struct values" in result.error.reason
    doc["nodes"][0]["config"]["flatten"] = True
    result = run_doc(doc, engine=engine)
    assert result.error is not None and "column 'tags' holds array values" in result.error.reason
    assert not (workdir / "out.csv").exists()


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_csv_and_json_loaders_and_json_extractor(orders: Path, workdir: Path, engine: str) -> None:
    doc = pipeline(path="report.csv")
    doc["nodes"][3] = node("out", "loader", "csv", path="report.csv", delimiter=";")
    assert run_doc(doc, engine=engine).status == "succeeded"
    assert (workdir / "report.csv").read_text().splitlines()[0] == "country;month;total;n;customers"
    doc["nodes"][3] = node("out", "loader", "json", path="report.jsonl")
    assert run_doc(doc, engine=engine).status == "succeeded"
    assert len((workdir / "report.jsonl").read_text().splitlines()) == 6
    back = chain(node("src", "extractor", "json", path="report.jsonl"),
                 node("out", "loader", "parquet", path="back.parquet"))
    assert run_doc(back, engine=engine).status == "succeeded"
    assert pq.read_table(workdir / "back.parquet").num_rows == 6


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_json_nested_objects_are_flattened(workdir: Path, engine: str) -> None:
    (workdir / "in.json").write_text(
        '[{"id": 1, "customer": {"email": "a@x", "address": {"city": "Lyon"}}, "tags": ["a", "b"]},'
        ' {"id": 2, "customer": {"email": "b@x", "address": {"city": "Paris"}}, "tags": []}]')
    doc = chain(node("src", "extractor", "json", path="in.json"),
                node("out", "loader", "parquet", path="o.parquet"))
    assert run_doc(doc, engine=engine).status == "succeeded"
    table = pq.read_table(workdir / "o.parquet")
    assert table.column_names == ["id", "customer_email", "customer_address_city", "tags"]
    assert table.column("tags").to_pylist() == [["a", "b"], []]


def test_a_flattened_name_clashing_with_a_field_asks_for_another_separator(
        workdir: Path) -> None:
    (workdir / "in.jsonl").write_text('{"customer_name": "a", "customer": {"name": "b"}}\n')
    doc = chain(node("src", "extractor", "json", path="in.jsonl"),
                node("out", "loader", "parquet", path="o.parquet"))
    result = run_doc(doc)
    assert result.error is not None and result.error.field == "separator"
    assert "two columns named 'customer_name'" in result.error.reason
    doc["nodes"][0]["config"]["separator"] = "."
    assert run_doc(doc).status == "succeeded"
    assert pq.read_table(workdir / "o.parquet").column_names == ["customer_name", "customer.name"]


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize(("name", "text"), [("in.json", '[{"a": 1},\n{"a": 2}'),
                                            ("in.jsonl", '{"a": 1}\n{"a": 2\n{"a": 3}\n')])
def test_broken_json_fails_on_the_extractor_naming_the_file(workdir: Path, engine: str,
                                                             name: str, text: str) -> None:
    (workdir / name).write_text(text)
    doc = chain(node("src", "extractor", "json", path=name),
                node("out", "loader", "parquet", path="o.parquet"))
    result = run_doc(doc, engine=engine)
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "src" and result.error.reason.startswith("cannot read JSON: ")
    assert f"{name} line " in result.error.reason or (engine, name) == ("duckdb", "in.json")
    assert "is not valid JSON" in result.error.reason


def test_parquet_extractor_reads_hive_partitions(orders: Path, workdir: Path) -> None:
    assert run_doc(pipeline(path="lake", partition_by=["country"])).status == "succeeded"
    doc = chain(node("src", "extractor", "parquet", path="lake"),
                node("out", "loader", "csv", path="flat.csv"))
    result = run_doc(doc)
    assert result.status == "succeeded", result.error
    header = (workdir / "flat.csv").read_text().splitlines()[0]
    assert "country" in header.split(",")
    assert result.nodes["out"].rows_out == 6


def test_a_source_read_through_a_filter_counts_the_rows_it_read(workdir: Path) -> None:
    """DuckDB runs a filter inside its scan of a file: the source's rows out were the rows the
    filter kept (334 of 1000)."""
    pq.write_table(pa.table({"id": list(range(1000))}), workdir / "ids.parquet")
    doc = chain(node("src", "extractor", "parquet", path=str(workdir / "ids.parquet")),
                node("keep", "transformer", "filter", condition="id < 334"),
                node("out", "loader", "parquet", path=str(workdir / "kept.parquet")))
    result = run_doc(doc)
    assert result.status == "succeeded", result.error
    assert (result.nodes["src"].rows_out, result.nodes["out"].rows_out) == (1000, 334)


def test_fan_out_to_two_loaders(orders: Path, workdir: Path) -> None:
    doc = pipeline(path="a.parquet")
    doc["nodes"].append(node("out2", "loader", "csv", path="b.csv"))
    doc["edges"].append({"source": "agg", "target": "out2"})
    result = run_doc(doc)
    assert result.status == "succeeded", result.error
    assert result.nodes["out"].rows_out == result.nodes["out2"].rows_out == 6


class _Stream(Extractor):
    """A one-shot Arrow stream that counts how often it is read."""

    name = "test_stream"
    title = description = "test"
    reads: ClassVar[list[int]] = []

    class Config(ModuleConfig):
        rows: int = Field(5, description="rows")
        query: str = sql_field("unused SQL carrying parameters", default="SELECT 1")
        broken: bool = Field(False, description="fail after the first batch")
        batches: int = Field(1, description="batches of `rows` rows")

    def read(self, ctx: NodeContext) -> ir.Table:
        rows = self.config.rows  # type: ignore[attr-defined]
        broken = self.config.broken  # type: ignore[attr-defined]
        count = self.config.batches  # type: ignore[attr-defined]

        def batches() -> Any:
            _Stream.reads.append(rows)
            for i in range(count):
                yield pa.record_batch({"x": list(range(i * rows, (i + 1) * rows))})
            if broken:
                raise ConfigError("the source broke after its first batch", field="rows")

        reader = pa.RecordBatchReader.from_batches(pa.schema({"x": pa.int64()}), batches())
        ctx.set_state({"seen": rows, "param": ctx.parameters.get("n")})
        return ctx.backend.from_arrow(reader, name="stream")


def _registry() -> Registry:
    return Registry([*default_registry().all(), _Stream])


def test_stream_fan_out_is_materialised_once_and_state_commits(workdir: Path) -> None:
    doc = {"name": "fan", "parameters": {"n": {"type": "integer", "default": 3}},
           "nodes": [node("s", "extractor", "test_stream", rows=5, query="SELECT :n"),
                     node("c", "transformer", "cleaner", trim=True),
                     node("a", "loader", "parquet", path="a.parquet"),
                     node("b", "loader", "parquet", path="b.parquet")],
           "edges": [{"source": "s", "target": "c"}, {"source": "c", "target": "a"},
                     {"source": "c", "target": "b"}]}
    _Stream.reads.clear()
    store = FileStateStore(workdir / "state")
    plan = compile_pipeline(doc, _registry(), parameters={"n": "7"})
    result = run_pipeline(plan, RunOptions(state=store, data_dir=workdir / "d"))
    assert result.status == "succeeded", result.error
    assert _Stream.reads == [5]
    assert pq.read_table(workdir / "a.parquet").num_rows == 5
    assert pq.read_table(workdir / "b.parquet").num_rows == 5
    assert store.get("fan", "s") == {"seen": 5, "param": 7}


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_a_stream_failing_mid_run_names_its_extractor(workdir: Path, engine: str) -> None:
    """The engine reads a stream inside the loader's query; the failure is still the
    extractor's, with its own message, and the loader writes nothing."""
    doc = chain(node("s", "extractor", "test_stream", broken=True),
                node("c", "transformer", "cleaner", trim=True),
                node("out", "loader", "parquet", path="x.parquet"), engine=engine)
    plan = compile_pipeline(doc, _registry(), parameters=None)
    result = run_pipeline(plan, RunOptions(data_dir=workdir / "d"))
    assert result.status == "failed" and result.error is not None
    assert (result.error.node_id, result.error.field) == ("s", "rows")
    assert result.error.reason == "the source broke after its first batch"
    assert result.nodes["s"].status == "failed"
    # DuckDB reads the stream in the loader's query, which stops; Polars reads it at once
    assert result.nodes["out"].status == {"duckdb": "cancelled", "polars": "skipped"}[engine]
    assert not (workdir / "x.parquet").exists()


def test_a_stream_the_engine_stops_reading_early_has_not_failed(workdir: Path) -> None:
    """A LIMIT stops DuckDB reading a stream, which closes it (GeneratorExit): that is not a
    failure to blame on its extractor later."""
    import gc

    from ecluse.engine.backends.duckdb import DuckDBBackend

    backend = DuckDBBackend(work_dir=workdir)

    def batches() -> Any:
        for i in range(1000):
            yield pa.record_batch({"x": list(range(i * 10, i * 10 + 10))})

    table = backend.from_arrow(pa.RecordBatchReader.from_batches(
        pa.schema({"x": pa.int64()}), batches()), name="s")
    assert backend.to_arrow(table, limit=1).num_rows == 1
    backend.close()
    del table
    gc.collect()
    assert [s.failure for s in backend.streams] == [None]


_ABANDONED_STREAM = """
import pyarrow as pa, sys
from pathlib import Path
from ecluse.engine.backends import connect_backend

backend = connect_backend(sys.argv[1], work_dir=Path(sys.argv[2]))
def batches():
    for i in range(2000):
        yield pa.record_batch({"x": pa.array(range(i * 10_000, (i + 1) * 10_000))})
table = backend.from_arrow(pa.RecordBatchReader.from_batches(pa.schema({"x": pa.int64()}),
                                                             batches()), name="s")
reader = backend.to_batches(table.mutate(y=table.x + 1))
reader.read_next_batch()  # a loader that fails here, before reading the rest
backend.close()
print("closed")
"""


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_a_stream_left_unread_by_a_failed_loader_lets_the_process_exit(workdir: Path,
                                                                       engine: str) -> None:
    """An engine thread still pulling from an extractor's stream when the process exited
    aborted it (`Fatal Python error: PyGILState_Release`, exit 134): the CLI died after
    printing a loader's error."""
    import subprocess
    import sys

    (workdir / "spill").mkdir()
    done = subprocess.run([sys.executable, "-c", _ABANDONED_STREAM, engine, str(workdir)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "closed"), done.stderr[-2000:]


@pytest.mark.parametrize(("engine", "between"), [
    ("duckdb", node("l", "transformer", "limit", n=3)),
    ("polars", node("l", "transformer", "limit", n=3)),
    # DuckDB stops reading the stream; Polars reads a stream whole, as for a filter
    ("duckdb", node("l", "transformer", "sql", query="SELECT * FROM input LIMIT 3"))])
def test_a_source_the_run_did_not_load_whole_keeps_its_position(workdir: Path, engine: str,
                                                                 between: dict[str, Any]) -> None:
    """A limit after an incremental source: the source's position was saved past every row it
    had read, and the rows the limit dropped were never read again."""
    events: list[Any] = []
    store = FileStateStore(workdir / "state")
    doc = chain(node("s", "extractor", "test_stream", rows=1000, batches=50), between,
                node("out", "loader", "parquet", path="x.parquet"), name="lim", engine=engine)
    doc["edges"][0]["target_handle"] = "in"
    result = run_pipeline(compile_pipeline(doc, _registry()),
                          RunOptions(state=store, data_dir=workdir / "d", on_event=events.append))
    assert result.status == "succeeded", result.error
    assert pq.read_table(workdir / "x.parquet").num_rows == 3
    assert store.get("lim", "s") is None
    assert any(e.kind == "log" and e.node_id == "s" and "not saved" in e.data["message"]
               for e in events)


def test_a_module_stream_is_pulled_by_one_thread(workdir: Path) -> None:
    """DuckDB pulled a stream from whichever of its threads ran the scan: the xml extractor's
    parser, used from several threads, aborted the process (SIGABRT) under load."""
    from ecluse.engine.backends.duckdb import DuckDBBackend

    threads: set[int] = set()

    def batches() -> Any:
        for i in range(400):
            threads.add(threading.get_ident())
            yield pa.record_batch({"x": list(range(i * 100, i * 100 + 100))})

    backend = DuckDBBackend(work_dir=workdir, threads=4)
    try:
        table = backend.from_arrow(pa.RecordBatchReader.from_batches(
            pa.schema({"x": pa.int64()}), batches()), name="s")
        out = backend.to_arrow(table.group_by(g=table.x % 7).aggregate(n=table.x.count()))
    finally:
        backend.close()
    assert sum(out.column("n").to_pylist()) == 40_000
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_state_is_not_saved_when_the_run_fails(workdir: Path) -> None:
    doc = chain(node("s", "extractor", "test_stream"),
                node("out", "loader", "parquet", path="x.parquet", mode="error_if_exists"),
                name="failing")
    (workdir / "x.parquet").write_text("already here")
    store = FileStateStore(workdir / "state")
    plan = compile_pipeline(doc, _registry(), parameters=None)
    result = run_pipeline(plan, RunOptions(state=store, data_dir=workdir / "d"))
    assert result.status == "failed"
    assert store.get("failing", "s") is None


def test_parameters_are_checked(workdir: Path) -> None:
    doc = chain(node("s", "extractor", "test_stream", query="SELECT :n"),
                node("o", "loader", "csv", path="o.csv"))
    doc["parameters"] = {"n": {"type": "integer"}}
    with pytest.raises(DocumentInvalid, match="no default"):
        compile_pipeline(doc, _registry())
    with pytest.raises(DocumentInvalid, match="not a valid integer"):
        compile_pipeline(doc, _registry(), parameters={"n": "ten"})
    with pytest.raises(DocumentInvalid, match="does not define"):
        compile_pipeline(doc, _registry(), parameters={"n": 1, "m": 2})


def test_cancellation_stops_the_run_and_leaves_nothing(workdir: Path) -> None:
    # A query long enough to be cancelled mid-way: 200M rows through a distinct.
    doc = chain(node("s", "extractor", "test_stream", rows=1),
                node("c", "transformer", "cleaner", remove_duplicates=True),
                node("o", "loader", "parquet", path="o.parquet"))
    plan = compile_pipeline(doc, _registry())
    token = CancelToken()
    original = _Stream.read

    def slow_read(self: _Stream, ctx: NodeContext) -> ir.Table:
        original(self, ctx)
        return ctx.backend.con.sql("SELECT range AS x, range % 7 AS y FROM range(400000000)")

    _Stream.read = slow_read  # type: ignore[method-assign]
    try:
        timer = threading.Timer(1.0, token.cancel)
        timer.start()
        result = run_pipeline(plan, RunOptions(cancel=token, data_dir=workdir / "d"))
        timer.cancel()
    finally:
        _Stream.read = original  # type: ignore[method-assign]
    assert result.status == "cancelled"
    assert result.error is None
    assert not (workdir / "o.parquet").exists()
    assert not [p for p in workdir.iterdir() if p.name.startswith(".ecluse-")]


def test_events_are_emitted_in_order(orders: Path) -> None:
    events: list[str] = []
    run_doc(pipeline(), on_event=lambda e: events.append(f"{e.kind}:{e.node_id or ''}"))
    assert events[0] == "run_started:"
    assert events[-1] == "run_finished:"
    assert "node_finished:out" in events
    assert events.index("node_started:src") < events.index("node_finished:out")


def test_plugin_module_from_entry_point(orders: Path, workdir: Path) -> None:
    assert default_registry().get("transformer", "add_constant") is not None
    doc = chain(node("src", "extractor", "csv", path="orders.csv"),
                node("tag", "transformer", "add_constant", column="source", value="crm"),
                node("out", "loader", "parquet", path="t.parquet"))
    assert run_doc(doc).status == "succeeded"
    assert set(pq.read_table(workdir / "t.parquet").column("source").to_pylist()) == {"crm"}


def test_a_failed_run_reports_the_whole_cause(orders: Path, workdir: Path) -> None:
    """The message is the library's first line; the run's error also carries its full text
    (for the UI's error panel) and says which library raised it."""
    broken = pipeline(path="out.parquet")
    broken["nodes"].insert(2, node("big", "transformer", "filter",
                                   condition="CAST(email AS INTEGER) > 0"))
    broken["edges"] = chain(*broken["nodes"])["edges"]
    error = run_doc(broken).to_dict()["error"]
    assert error["node_id"] == "out" and error["sample_rows"] == []  # no transformer explains it
    assert error["cause"].startswith("ConversionException: ") and error["message"] in error["cause"]
    missing = pipeline(path="out.parquet")
    missing["nodes"][0]["config"]["path"] = str(workdir / "nope.csv")
    assert run_doc(missing).to_dict()["error"]["cause"] is None  # our own message says it all


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_a_failing_cast_is_put_on_its_cleaner_with_the_rows(orders: Path, workdir: Path,
                                                            engine: str) -> None:
    """A cast only fails when the loader executes the chain; the failure is still shown on the
    cleaner, with the rows it cannot cast (as the cast saw them: trimmed), in runs and
    previews alike, and the destination is not written."""
    broken = pipeline(path="out.parquet")
    broken["nodes"][1]["config"]["cast"] = {"email": "int64"}
    events: list[Any] = []
    result = run_doc(broken, engine=engine, on_event=events.append)
    error = result.to_dict()["error"]
    assert error["node_id"] == "clean" and error["field"] == "cast"
    assert "'user1@x.com' is not a valid int64" in error["message"]
    assert [r["email"] for r in error["sample_rows"]] == [f"user{i % 7}@x.com" for i in (1, 2, 3, 4, 5)]
    assert next(iter(error["sample_rows"][0])) == "email"  # the column that failed comes first
    assert error["cause"] and error["message"] not in error["cause"]  # the engine's own words
    assert result.nodes["clean"].status == "failed" and result.nodes["clean"].error == error["message"]
    assert {result.nodes[n].status for n in ("src", "agg", "out")} == {"cancelled"}
    assert result.nodes["out"].error == "node 'clean' upstream failed"
    assert any(e.kind == "node_failed" and e.node_id == "clean" for e in events)
    assert not (workdir / "out.parquet").exists()
    with pytest.raises(NodeError) as raised:
        preview(broken, "agg", engine=engine)
    assert raised.value.node_id == "clean" and raised.value.sample_rows
    broken["nodes"][1]["config"]["on_cast_error"] = "null"
    assert run_doc(broken, engine=engine).status == "succeeded"


def test_a_failing_cast_feeding_two_steps_is_explained_too(orders: Path, workdir: Path) -> None:
    """A step feeding several others is materialised once, while the graph is built: the cast
    fails there, and the cleaner still says which rows."""
    doc = chain(node("src", "extractor", "csv", path="orders.csv"),
                node("clean", "transformer", "cleaner", trim=True, cast={"email": "int64"}),
                node("a", "loader", "parquet", path="a.parquet"))
    doc["nodes"].append(node("b", "loader", "csv", path="b.csv"))
    doc["edges"].append({"source": "clean", "target": "b"})
    error = run_doc(doc).to_dict()["error"]
    assert error["node_id"] == "clean" and error["field"] == "cast"
    assert error["sample_rows"][0]["email"] == "User1@X.com"  # trimmed, as the cast saw it
    assert not (workdir / "a.parquet").exists() and not (workdir / "b.csv").exists()


def test_a_node_failing_before_it_streams_is_marked_failed(orders: Path, workdir: Path) -> None:
    """A validator fails while the graph is built, before any row flows: its node is the one
    marked failed (with the rows it failed on), what comes after it is skipped."""
    doc = chain(node("src", "extractor", "csv", path="orders.csv"),
                node("check", "transformer", "validator", on_violation="fail",
                     rules=[{"column": "amount", "check": "range", "max": 3, "name": "small"}]),
                node("out", "loader", "parquet", path="out.parquet"))
    events: list[Any] = []
    result = run_doc(doc, on_event=events.append)
    assert result.status == "failed" and result.error is not None
    assert result.nodes["check"].status == "failed" and "small" in (result.nodes["check"].error or "")
    assert result.nodes["out"].status == "skipped"
    assert any(e.kind == "node_failed" and e.node_id == "check" for e in events)
    assert result.to_dict()["error"]["sample_rows"][0]["amount"] > 3
    assert not (workdir / "out.parquet").exists()


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize("middle", [
    [node("v", "transformer", "validator", rules=[{"column": "x", "check": "range", "min": 1}],
          on_violation="drop")],
    [node("d", "transformer", "derive", columns={"odd": "x % 2"}),
     node("v", "transformer", "pivot", columns="odd", values="x", aggregation="sum")],
], ids=["validator", "pivot"])
def test_a_transform_that_queries_a_stream_leaves_its_rows_for_the_output(
        workdir: Path, engine: str, middle: list[dict[str, Any]]) -> None:
    """The validator counts violations and the pivot discovers its values with a query over
    their input; a stream is read once, so the engine materialises it for them first."""
    doc = chain(node("s", "extractor", "test_stream", rows=5), *middle,
                node("out", "loader", "parquet", path="x.parquet"), engine=engine)
    _Stream.reads.clear()
    result = run_pipeline(compile_pipeline(doc, _registry()), RunOptions(data_dir=workdir / "d"))
    assert result.status == "succeeded", result.error
    assert _Stream.reads == [5]
    out = pq.read_table(workdir / "x.parquet").to_pylist()
    assert out == ([{"x": x} for x in (1, 2, 3, 4)] if len(middle) == 1 else [{"0": 6, "1": 4}])


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_both_outputs_of_a_validator_over_a_stream_get_their_rows(workdir: Path, engine: str) -> None:
    doc = {"name": "q", "engine": engine,
           "nodes": [node("s", "extractor", "test_stream", rows=5),
                     node("v", "transformer", "validator", report=False,
                          rules=[{"column": "x", "check": "range", "min": 2}]),
                     node("good", "loader", "parquet", path="good.parquet"),
                     node("bad", "loader", "parquet", path="bad.parquet")],
           "edges": [{"source": "s", "target": "v"}, {"source": "v", "target": "good"},
                     {"source": "v", "target": "bad", "source_handle": "rejected"}]}
    _Stream.reads.clear()
    result = run_pipeline(compile_pipeline(doc, _registry()), RunOptions(data_dir=workdir / "d"))
    assert result.status == "succeeded", result.error
    assert _Stream.reads == [5]
    assert pq.read_table(workdir / "good.parquet")["x"].to_pylist() == [2, 3, 4]
    assert sorted(pq.read_table(workdir / "bad.parquet")["x"].to_pylist()) == [0, 1]


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_a_union_of_three_streams_keeps_every_row(workdir: Path, engine: str) -> None:
    """A loader that reads the result as a stream (here sqlite) lost the second of three
    one-shot inputs on DuckDB: ibis nested the union as a UNION (b UNION c), which DuckDB 1.4
    streams without b. The run succeeded with 6 rows of 9."""
    import sqlite3

    doc = {"name": "u", "engine": engine,
           "nodes": [node("a", "extractor", "test_stream", rows=2),
                     node("b", "extractor", "test_stream", rows=3),
                     node("c", "extractor", "test_stream", rows=4),
                     node("u", "transformer", "union"),
                     node("out", "loader", "sqlite", path="u.sqlite", table="u")],
           "edges": [{"source": s, "target": "u"} for s in "abc"] + [
               {"source": "u", "target": "out"}]}
    result = run_pipeline(compile_pipeline(doc, _registry(), parameters=None),
                          RunOptions(data_dir=workdir / "d"))
    assert result.status == "succeeded", result.error
    with sqlite3.connect(workdir / "u.sqlite") as con:
        assert sorted(con.execute("SELECT x FROM u").fetchall()) == sorted(
            (x,) for n in (2, 3, 4) for x in range(n))


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize("step", [
    node("t", "transformer", "unpivot", columns=["x", "y"], names_to="k", values_to="v"),
    node("t", "transformer", "sql", query="SELECT a.x, b.y FROM input a JOIN input b ON a.x = b.x"),
])
def test_a_transform_that_scans_a_stream_twice_gets_it_whole(workdir: Path, engine: str,
                                                             step: dict[str, Any]) -> None:
    """An unpivot is a union of one select per column, a self-join scans its input twice: on a
    one-shot stream the second scan found nothing, and the run succeeded with half the rows
    (unpivot) or none (self-join). The engine now materialises such a stream first."""
    doc = chain(node("s", "extractor", "test_stream", rows=4),
                node("d", "transformer", "derive", columns={"y": "x * 10"}), step,
                node("out", "loader", "parquet", path="o.parquet"), engine=engine)
    doc["edges"][1]["target_handle"] = "in"
    result = run_pipeline(compile_pipeline(doc, _registry(), parameters=None),
                          RunOptions(data_dir=workdir / "d"))
    assert result.status == "succeeded", result.error
    assert pq.read_table(workdir / "o.parquet").num_rows == (8 if step["module"] == "unpivot" else 4)
