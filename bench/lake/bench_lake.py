"""Storage and lakehouse benchmarks.

1. Reading a Parquet dataset (default 5M rows, 4 files) from an S3-compatible server (moto,
   started here as its own process on 127.0.0.1): the `s3` extractor (DuckDB and Polars
   engines), every batch consumed, against DuckDB's `read_parquet` and Polars' `scan_parquet`
   reading the same objects directly.
2. Writing a Delta table of the same rows: the `delta` loader against a hand-written
   `write_deltalake` of a Parquet stream.

Usage: python bench/lake/bench_lake.py [--rows 5000000] [--append-results]
Prints one line per measurement; with --append-results, adds a table to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _data(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table({
        "order_id": np.arange(rows, dtype=np.int64),
        "customer_id": rng.integers(0, 200_000, rows),
        "amount": rng.random(rows) * 1000,
        "quantity": rng.integers(1, 20, rows).astype(np.int32),
        "country": pa.array(rng.choice(["FR", "DE", "ES", "IT", "NL", "BE"], rows)),
        "ts": pa.array(np.datetime64("2024-01-01") + rng.integers(0, 365 * 86400, rows)
                       .astype("timedelta64[s]"), pa.timestamp("us")),
    })


def _best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--append-results", action="store_true")
    args = parser.parse_args()

    from ecluse.engine.backends import connect_backend
    from ecluse.sdk.connections import StaticConnections, parse_connection
    from ecluse.sdk.context import CancelToken, NodeContext
    from ecluse.sdk.duckdb_ext import extension_directory
    from ecluse.sdk.registry import default_registry
    from ecluse.sdk.storage import filesystem

    work = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: list[tuple[str, float, str]] = []
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        conn_fields = {"type": "s3", "endpoint_url": endpoint, "access_key_id": "test",
                       "secret_access_key": "test", "region": "us-east-1"}
        conn = parse_connection("lake", conn_fields)
        import boto3

        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                     region_name="us-east-1").create_bucket(Bucket="bench-lake")
        fs = filesystem("s3", conn)
        table = _data(args.rows)
        files = 4
        step = -(-args.rows // files)
        for i in range(files):
            local = work / f"part-{i}.parquet"
            pq.write_table(table.slice(i * step, step), local, row_group_size=250_000)
            fs.put_file(str(local), f"bench-lake/orders/part-{i}.parquet")
        size = sum(f.stat().st_size for f in work.glob("part-*.parquet"))
        print(f"dataset: {args.rows:,} rows, {files} files, {size / 1e6:.1f} MB on the S3 server")

        def direct_duckdb() -> None:
            config: dict[str, Any] = {"autoinstall_known_extensions": False}
            if ext := extension_directory():
                config["extension_directory"] = ext
            con = duckdb.connect(config=config)
            con.execute("LOAD httpfs")
            con.execute(f"CREATE SECRET s (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1', "
                        f"ENDPOINT '127.0.0.1:{port}', URL_STYLE 'path', USE_SSL false)")
            reader = con.execute("SELECT * FROM read_parquet('s3://bench-lake/orders/*.parquet')"
                                 ).fetch_record_batch(100_000)
            n = sum(b.num_rows for b in reader)
            assert n == args.rows

        def direct_polars() -> None:
            opts = {"aws_endpoint_url": endpoint, "aws_access_key_id": "test",
                    "aws_secret_access_key": "test", "aws_region": "us-east-1", "aws_allow_http": "true"}
            df = pl.scan_parquet("s3://bench-lake/orders/*.parquet", storage_options=opts).collect()
            assert df.height == args.rows

        def ours(engine: str) -> None:
            cls = default_registry().get("extractor", "s3")
            assert cls is not None
            run_dir = work / f"run-{engine}"
            shutil.rmtree(run_dir, ignore_errors=True)
            (run_dir / "spill").mkdir(parents=True)
            backend = connect_backend(engine, work_dir=run_dir)  # type: ignore[arg-type]
            try:
                module = cls(cls.parse_config({"connection": "lake", "bucket": "bench-lake",
                                               "prefix": "orders", "format": "parquet"}), "src")
                ctx = NodeContext(run_id="b", pipeline_id="b", node_id="src", backend=backend,
                                  parameters={}, connections=StaticConnections({"lake": conn}),
                                  mode="run", work_dir=run_dir, cancel=CancelToken())
                relation = module.read(ctx)  # type: ignore[attr-defined]
                n = sum(b.num_rows for b in backend.to_batches(relation))
                assert n == args.rows, n
            finally:
                backend.close()

        for label, fn in (("DuckDB read_parquet direct", direct_duckdb),
                          ("`s3` extractor, DuckDB engine", lambda: ours("duckdb")),
                          ("Polars scan_parquet direct", direct_polars),
                          ("`s3` extractor, Polars engine", lambda: ours("polars"))):
            seconds = _best(fn, args.repeat)
            results.append((label, seconds, f"{args.rows / seconds / 1e6:.2f} M rows/s"))
            print(f"{label}: {seconds:.2f} s ({args.rows / seconds / 1e6:.2f} M rows/s)")

        # Delta write: the loader vs a hand-written write_deltalake of the same Parquet stream
        from deltalake import write_deltalake

        src = work / "all.parquet"
        pq.write_table(table, src, row_group_size=250_000)
        del table

        def hand() -> None:
            target = work / "delta-hand"
            shutil.rmtree(target, ignore_errors=True)
            reader = pq.ParquetFile(src).iter_batches(batch_size=131_072)
            schema = pq.read_schema(src)
            write_deltalake(str(target), pa.RecordBatchReader.from_batches(schema, reader))

        def loader() -> None:
            from tests.helpers import chain, node, run_doc

            target = work / "delta-ours"
            shutil.rmtree(target, ignore_errors=True)
            r = run_doc(chain(node("src", "extractor", "parquet", path=str(src)),
                              node("dst", "loader", "delta", path=str(target))), data_dir=work / ".ecluse")
            assert r.status == "succeeded", r.error

        for label, fn in (("write_deltalake by hand (local)", hand),
                          ("`delta` loader (local)", loader)):
            seconds = _best(fn, args.repeat)
            results.append((label, seconds, f"{args.rows / seconds / 1e6:.2f} M rows/s"))
            print(f"{label}: {seconds:.2f} s ({args.rows / seconds / 1e6:.2f} M rows/s)")
    finally:
        moto.terminate()
        moto.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    if args.append_results:
        by = {label: s for label, s, _ in results}
        lines = [f"\n### {dt.date.today().isoformat()}: {args.rows:,} rows, best of {args.repeat}, "
                 f"2 shared cores, moto S3 server on 127.0.0.1 (`bench/lake/bench_lake.py`)\n",
                 "| measurement | seconds | throughput |", "|---|---|---|"]
        lines += [f"| {label} | {s:.2f} | {tp} |" for label, s, tp in results]
        ratios = {
            "s3 extractor / DuckDB direct (throughput)":
                by["DuckDB read_parquet direct"] / by["`s3` extractor, DuckDB engine"],
            "s3 extractor / Polars direct (throughput)":
                by["Polars scan_parquet direct"] / by["`s3` extractor, Polars engine"],
            "delta loader time / write_deltalake time":
                by["`delta` loader (local)"] / by["write_deltalake by hand (local)"],
        }
        lines += ["", *[f"- {k}: **{v:.2f}**" for k, v in ratios.items()], ""]
        path = ROOT / "bench" / "RESULTS.md"
        text = path.read_text() if path.exists() else "# Benchmark results\n"
        if "## Storage and lakehouse" not in text:
            text += "\n## Storage and lakehouse\n"
        path.write_text(text + "\n".join(lines) + "\n")
        print(json.dumps(ratios, indent=1))
    os._exit(0)


if __name__ == "__main__":
    main()
