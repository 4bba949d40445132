"""PostgreSQL connector benchmark: load and extract of N cleaned orders rows.

Load:    Ecluse ``postgres`` loader (parquet -> PostgreSQL through the engine)
         vs a hand-written psycopg binary COPY of the same batches
         vs pandas ``to_sql`` (SQLAlchemy + psycopg, method="multi"), on a subset, scaled.
Extract: Ecluse ``postgres`` extractor (into the engine, then to Arrow)
         vs ADBC ``fetch_arrow_table`` vs connectorx (when installed)
         vs psycopg server-side cursor and psycopg binary COPY into Arrow (on a subset).

Usage: python bench/connectors/bench_postgres.py [--rows 5000000] [--url postgresql://...]
Prints one markdown table; nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.helpers import chain, node, run_doc  # noqa: E402

from ecluse.engine.backends import connect_backend  # noqa: E402
from ecluse.engine.state import MemoryStateStore  # noqa: E402
from ecluse.sdk.connections import StaticConnections, parse_connection  # noqa: E402
from ecluse.sdk.context import CancelToken, NodeContext  # noqa: E402
from ecluse.sdk.registry import default_registry  # noqa: E402

DDL = ("(order_id bigint, customer_id integer, country text, email text, "
       "amount numeric(12,2), order_ts timestamp with time zone)")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def make_orders(path: Path, rows: int) -> None:
    duckdb.sql(f"""
        COPY (SELECT i::BIGINT AS order_id, (i % 100000)::INTEGER AS customer_id,
                     (['FR','DE','ES','IT','BE'])[1 + i % 5] AS country,
                     'customer' || (i % 100000) || '@example.com' AS email,
                     ((i % 10000) / 100.0)::DECIMAL(12,2) AS amount,
                     TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i * 7) AS order_ts
              FROM range({rows}) t(i))
        TO '{path}' (FORMAT parquet, COMPRESSION zstd)""")


def sql(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text)


def psycopg_copy_load(url: str, path: Path) -> int:
    """What a careful engineer writes by hand: binary COPY of the batches, typed rows."""
    sql(url, f"DROP TABLE IF EXISTS bench_hand; CREATE TABLE bench_hand {DDL}")
    n = 0
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY bench_hand FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int4", "text", "text", "numeric", "timestamptz"])
            for batch in pq.ParquetFile(path).iter_batches(batch_size=100_000):
                columns = [c.to_pylist() for c in batch.columns]
                for row in zip(*columns, strict=True):
                    copy.write_row(row)
                n += batch.num_rows
        conn.commit()
    return n


def pandas_to_sql(url: str, path: Path, rows: int) -> int:
    import sqlalchemy

    frame = pq.read_table(path).slice(0, rows).to_pandas()
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    frame.to_sql("bench_pandas", engine, if_exists="replace", index=False, method="multi",
                 chunksize=10_000)
    engine.dispose()
    return len(frame)


def ecluse_load(url: str, path: Path, table: str, mode: str = "replace") -> int:
    os.environ["ECLUSE_CONN_BENCH"] = url
    doc = chain(node("src", "extractor", "parquet", path=str(path)),
                node("dst", "loader", "postgres", connection="bench", table=table, mode=mode,
                     **({"keys": ["order_id"]} if mode == "upsert" else {})))
    result = run_doc(doc, data_dir=Path(tempfile.mkdtemp()), threads=2)
    assert result.status == "succeeded", result.error
    return int(result.nodes["dst"].rows_in or 0)


def ecluse_extract(url: str, query: str) -> int:
    """The extractor as the engine uses it: a stream bound in DuckDB, read to Arrow."""
    work = Path(tempfile.mkdtemp())
    (work / "spill").mkdir()
    backend = connect_backend("duckdb", work_dir=work, threads=2)
    cls = default_registry().get("extractor", "postgres")
    assert cls is not None
    module = cls(cls.parse_config({"connection": "bench", "query": query}), "src")
    ctx = NodeContext(run_id="bench", pipeline_id="bench", node_id="src", backend=backend,
                      parameters={}, connections=StaticConnections({"bench": parse_connection(
                          "bench", url)}), mode="run", work_dir=work, cancel=CancelToken(),
                      previous_state=MemoryStateStore().get("bench", "src"))
    table = module.read(ctx)  # type: ignore[attr-defined]
    data = backend.to_arrow(table)
    backend.close()
    return int(data.num_rows)


def adbc_extract(url: str, query: str) -> int:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        return int(cur.fetch_arrow_table().num_rows)


def connectorx_extract(url: str, query: str) -> int | None:
    try:
        import connectorx as cx
    except ImportError:
        return None
    return int(cx.read_sql(url, query, return_type="arrow").num_rows)


def psycopg_cursor_extract(url: str, query: str) -> int:
    """Server-side cursor, fetchmany, columns built with pa.array."""
    n = 0
    with psycopg.connect(url) as conn, conn.cursor(name="bench") as cur:
        cur.itersize = 50_000
        cur.execute(query)
        while rows := cur.fetchmany(50_000):
            cols = list(zip(*rows, strict=True))
            batch = pa.record_batch([pa.array(c) for c in cols], names=[d.name for d in cur.description])
            n += batch.num_rows
    return n


def psycopg_copy_extract(url: str, query: str) -> int:
    """Binary COPY out, rows parsed by psycopg's C loaders, columns built with pa.array."""
    n = 0
    with psycopg.connect(url) as conn, conn.cursor() as cur, \
            cur.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int4", "text", "text", "numeric", "timestamptz"])
        rows: list[tuple[Any, ...]] = []
        for row in copy.rows():
            rows.append(row)
            if len(rows) == 50_000:
                pa.record_batch([pa.array(c) for c in zip(*rows, strict=True)],
                                names=["a", "b", "c", "d", "e", "f"])
                n += len(rows)
                rows = []
        n += len(rows)
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--subset", type=int, default=500_000,
                        help="rows for the slow row-by-row contenders (scaled to --rows)")
    parser.add_argument("--url", default=os.environ.get("BENCH_POSTGRES_URL",
                                                        "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    url, rows = args.url, args.rows
    db = f"ecluse_bench_{os.getpid()}"
    sql(url, f'CREATE DATABASE "{db}"')
    url_db = url.rsplit("/", 1)[0] + f"/{db}"
    out: list[tuple[str, str, float, str]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "orders.parquet"
            make_orders(path, rows)
            scale = rows / args.subset
            warm = Path(tmp) / "warm.parquet"  # imports and first connections out of the timings
            make_orders(warm, 1000)
            ecluse_load(url_db, warm, "bench_warm")
            ecluse_extract(url_db, "SELECT * FROM bench_warm")

            t, n = timed(lambda: ecluse_load(url_db, path, "bench_ecluse"))
            assert n == rows
            out.append(("load", "Ecluse postgres loader (replace, new table, ADBC binary COPY)", t, ""))
            t_hand, n = timed(lambda: psycopg_copy_load(url_db, path))
            out.append(("load", "hand-written psycopg binary COPY", t_hand, ""))
            sql(url_db, "ALTER TABLE bench_ecluse ADD PRIMARY KEY (order_id)")
            t_up, _ = timed(lambda: ecluse_load(url_db, path, "bench_ecluse", "upsert"))
            out.append(("load", "Ecluse postgres loader (upsert of every row, staging + ON CONFLICT)",
                        t_up, ""))
            t_pd, _ = timed(lambda: pandas_to_sql(url_db, path, args.subset))
            out.append(("load", f"pandas to_sql (method=multi), {args.subset:,} rows x {scale:g}",
                        t_pd * scale, "scaled"))

            query = "SELECT * FROM bench_hand"
            t, n = timed(lambda: ecluse_extract(url_db, query))
            assert n == rows
            out.append(("extract", "Ecluse postgres extractor (into DuckDB, then Arrow)", t, ""))
            t, n = timed(lambda: adbc_extract(url_db, query))
            out.append(("extract", "ADBC fetch_arrow_table", t, ""))
            t, n = timed(lambda: connectorx_extract(url_db, query))
            if n is not None:
                out.append(("extract", "connectorx read_sql(return_type='arrow')", t, ""))
            sub = f"SELECT * FROM bench_hand LIMIT {args.subset}"
            t, _ = timed(lambda: psycopg_cursor_extract(url_db, sub))
            out.append(("extract", f"psycopg server-side cursor -> Arrow, {args.subset:,} rows x {scale:g}",
                        t * scale, "scaled"))
            t, _ = timed(lambda: psycopg_copy_extract(url_db, sub))
            out.append(("extract", f"psycopg binary COPY -> Arrow, {args.subset:,} rows x {scale:g}",
                        t * scale, "scaled"))
    finally:
        sql(url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    print(f"\n{rows:,} rows, 2 shared cores, PostgreSQL on 127.0.0.1; peak RSS of the bench "
          f"process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB\n")
    print("| step | contender | seconds | rows/s | note |")
    print("|---|---|---:|---:|---|")
    for step, name, seconds, note in out:
        print(f"| {step} | {name} | {seconds:.2f} | {rows / seconds:,.0f} | {note} |")


if __name__ == "__main__":
    main()
