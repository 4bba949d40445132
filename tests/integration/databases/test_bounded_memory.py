"""1M-row extracts stream with bounded memory: the peak RSS growth of this process while the
extractor's Arrow stream of a 1M-row table (~150 MB of text) is read to its end stays far below
the data's size. The stream is consumed directly (not through the engine, whose own buffers -
DuckDB's, the Parquet writer's - are measured in bench/), so the figure is the module's own.
One lean test per database server; the figures are printed for bench/RESULTS.md."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from ecluse.sdk.connections import EnvConnections
from ecluse.sdk.context import CancelToken, NodeContext
from ecluse.sdk.registry import default_registry

ROWS = 1_000_000
MONGO_ROWS = 200_000
PAYLOAD = 150  # characters of text per row
LIMIT_MB = 120  # the data alone is ~150 MB as text, several times that as Python objects


@contextmanager
def peak_rss() -> Iterator[Callable[[], float]]:
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], proc.memory_info().rss)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield lambda: (peak[0] - base) / 2**20
    finally:
        stop.set()
        t.join()


class _Passthrough:
    """Stands in for the engine's backend: hands the module's Arrow stream back as it is."""

    name = "duckdb"

    def from_arrow(self, data: Any, name: str) -> Any:
        return data


def stream_rows(kind: str, tmp_path: Path, **config: Any) -> int:
    cls: Any = default_registry().get("extractor", kind)
    module = cls(cls.parse_config(config), "src")
    ctx = NodeContext(run_id="r", pipeline_id="p", node_id="src", backend=_Passthrough(),  # type: ignore[arg-type]
                      parameters={}, connections=EnvConnections(), mode="run",
                      work_dir=tmp_path, cancel=CancelToken())
    rows = 0
    for batch in module.read(ctx):
        rows += batch.num_rows
    module.finish(ctx, succeeded=True)
    return rows


def _check(kind: str, tmp_path: Path, expected: int = ROWS, **config: Any) -> None:
    with peak_rss() as growth:
        rows = stream_rows(kind, tmp_path, **config)
    print(f"\n{kind}: {rows} rows, peak RSS growth {growth():.0f} MB")
    assert rows == expected
    assert growth() < LIMIT_MB


def test_mysql_1m_rows(mysql_url: str, tmp_path: Path) -> None:
    from tests.integration.databases.test_mysql import sql

    sql(mysql_url, "CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(200))",
        f"INSERT INTO big SELECT seq, REPEAT('x', {PAYLOAD}) FROM seq_1_to_{ROWS}")
    _check("mysql", tmp_path, connection="test-mysql", table="big")
    # a condition streams from connectorx in a child process, through a pipe: bounded too
    _check("mysql", tmp_path, connection="test-mysql", table="big", where="id > 0")


def test_clickhouse_1m_rows(clickhouse_url: str, tmp_path: Path) -> None:
    from tests.integration.databases.test_clickhouse import sql

    sql(clickhouse_url, "CREATE TABLE big (id UInt64, v String) ENGINE = MergeTree ORDER BY id")
    sql(clickhouse_url, f"INSERT INTO big SELECT number, '{'x' * PAYLOAD}' "
        f"FROM system.numbers LIMIT {ROWS}")
    _check("clickhouse", tmp_path, connection="test-clickhouse", table="big")


@pytest.mark.emulator
def test_mongodb_1m_rows(mongodb_url: str, tmp_path: Path) -> None:
    import pymongo

    # the emulator writes ~4,500 documents/s on this machine: 200k rows keep the test lean
    # (bench/databases measures the 1M-row extract)
    coll: Any = pymongo.MongoClient(mongodb_url).get_default_database().big
    text = "x" * PAYLOAD
    for start in range(0, MONGO_ROWS, 50_000):
        coll.insert_many([{"_id": i, "v": text} for i in range(start, start + 50_000)],
                         ordered=False)
    _check("mongodb", tmp_path, MONGO_ROWS, connection="test-mongodb", collection="big")
