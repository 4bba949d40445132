"""Run one loader or extractor of a database module inside a real pipeline (engine included):
an in-memory source that can fail after its first batch, and a reader into Arrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from ecluse.engine.plan import compile_pipeline
from ecluse.engine.run import RunOptions, RunResult, run_pipeline
from ecluse.sdk import Extractor, ModuleConfig, NodeContext
from ecluse.sdk.context import CancelToken
from ecluse.sdk.registry import Registry, default_registry


class MemorySource(Extractor):
    """An in-memory source; can fail after its first batch (a lost source mid-load)."""

    name = "test_memory"
    title = description = "test"
    data: ClassVar[dict[str, pa.Table]] = {}

    class Config(ModuleConfig):
        key: str
        fail_after_first_batch: bool = False
        chunk: int = 2

    def read(self, ctx: NodeContext) -> ir.Table:
        cfg: Any = self.config
        table = MemorySource.data[cfg.key]

        def batches() -> Any:
            for i, batch in enumerate(table.to_batches(max_chunksize=cfg.chunk)):
                if cfg.fail_after_first_batch and i == 1:
                    raise RuntimeError("source connection lost")
                yield batch
            if cfg.fail_after_first_batch and table.num_rows <= cfg.chunk:
                raise RuntimeError("source connection lost")

        return ctx.backend.from_arrow(pa.RecordBatchReader.from_batches(table.schema, batches()),
                                      name="src")


REGISTRY = Registry([*default_registry().all(), MemorySource])


def load(module: str, data: pa.Table, work: Path, *, fail: bool = False, chunk: int = 2,
         cancel: CancelToken | None = None, **config: Any) -> RunResult:
    MemorySource.data["t"] = data
    doc = {"name": "load", "nodes": [
        {"id": "src", "type": "extractor", "module": "test_memory",
         "config": {"key": "t", "fail_after_first_batch": fail, "chunk": chunk}},
        {"id": "out", "type": "loader", "module": module, "config": config}],
        "edges": [{"source": "src", "target": "out"}]}
    options = RunOptions(data_dir=work / "d", **({"cancel": cancel} if cancel else {}))
    return run_pipeline(compile_pipeline(doc, REGISTRY), options)


def extract(module: str, work: Path, *, state: Any = None, parameters: dict[str, Any] | None = None,
            expect_ok: bool = True, **config: Any) -> tuple[pa.Table, RunResult]:
    out = work / "back.parquet"
    doc = {"name": "read", "id": "p-read",
           "parameters": {"min_id": {"type": "integer", "default": 0}},
           "nodes": [{"id": "src", "type": "extractor", "module": module, "config": config},
                     {"id": "out", "type": "loader", "module": "parquet",
                      "config": {"path": str(out)}}],
           "edges": [{"source": "src", "target": "out"}]}
    opts = RunOptions(data_dir=work / "d", **({"state": state} if state is not None else {}))
    result = run_pipeline(compile_pipeline(doc, REGISTRY, parameters=parameters), opts)
    if expect_ok:
        assert result.status == "succeeded", result.error
    return (pq.read_table(out) if result.status == "succeeded" else pa.table({})), result


def mistyped_names(db: str, table_in_db: str) -> list[tuple[dict[str, Any], str, str]]:
    """(config, field, message) of the names a database extractor answers with a 'Did you
    mean', when database ``db`` has a table ``orders (id, amount)``; ``table_in_db`` is a wrong
    table name qualified with ``db``."""
    return [({"table": "ordrs"}, "table", "table 'ordrs' does not exist. Did you mean 'orders'?"),
            ({"table": f"{db}.{table_in_db}"}, "table",
             f"table {table_in_db!r} does not exist in database {db!r}. Did you mean 'orders'?"),
            ({"table": f"{db[:-1]}.orders"}, "table",
             f"database {db[:-1]!r} does not exist. Did you mean {db!r}?"),
            ({"table": "orders", "columns": ["id", "amout"]}, "columns",
             "table 'orders' has no column 'amout'. Did you mean 'amount'?")]


def pipeline_file(work: Path, module: str, **config: Any) -> str:
    """A pipeline file of the pipeline ``extract`` runs (the same id and node), for the CLI."""
    import json

    path = work / "read.json"
    path.write_text(json.dumps({"id": "p-read", "name": "read", "nodes": [
        {"id": "src", "type": "extractor", "module": module, "config": config}]}))
    return str(path)


def check_marks_set_by_hand(module: str, work: Path, connection: str, *,
                            plain: dict[str, Any], plain_mark: str, plain_after: list[int],
                            expected_mark: dict[str, Any] | None = None) -> None:
    """Table `ev` holds ids 0-9, column `at` on 2024-01-01 for ids 0-3, 01-02 for 4-7, 01-03
    for 8-9. A mark set by hand (`ecluse state set --last-value`) reads from it on, its own
    rows included, with and without a key column; a run's own mark reads nothing twice.
    ``plain`` is an incremental setting without a key column, marked by hand at ``plain_mark``
    to read ``plain_after``; ``expected_mark`` is the state the CLI writes from the file."""
    from ecluse.engine.state import FileStateStore
    from tests.helpers import state_set

    data = work / "data"
    state = FileStateStore(data / "state")

    def ids(inc: dict[str, Any]) -> list[int]:
        back, _ = extract(module, work, state=state, connection=connection, table="ev",
                          incremental=inc)
        return sorted(back.column("id").to_pylist())

    keyed = {"cursor_column": "at", "key_column": "id", "page_size": 3}
    assert state_set(data, "p-read", "src", "--last-value", "2024-01-02 00:00:00").exit_code == 0
    assert ids(keyed) == list(range(4, 10))
    assert ids(keyed) == []  # the run's own mark: nothing read twice
    path = pipeline_file(work, module, connection=connection, table="ev", incremental=keyed)
    assert state_set(data, path, "src", "--last-value", "2024-01-03").exit_code == 0
    if expected_mark is not None:
        assert state.get("p-read", "src") == expected_mark
    assert ids(keyed) == [8, 9]
    # without a key column, a run's mark is past (its rows were read), one set by hand is not
    state.delete("p-read", "src")
    assert ids(plain) == list(range(10))
    assert ids(plain) == []
    assert state_set(data, "p-read", "src", "--last-value", plain_mark).exit_code == 0
    assert ids(plain) == plain_after
    assert ids(plain) == []
