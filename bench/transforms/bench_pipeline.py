"""Transformer benchmark: a 5M x 200k left join, a rank per customer (window), a filter on
the rank and a pivot, run as an Ecluse pipeline (parquet -> join -> window -> filter ->
pivot -> parquet) and as the same work hand-written in DuckDB SQL, in the same process, on
the same files, alternating, best and median of N rounds.

    .venv/bin/python bench/transforms/bench_pipeline.py [--orders 5000000] [--customers 200000]
                                                          [--rounds 3] [--engine duckdb]

Appends the figures to bench/RESULTS.md under "## Transformers" with --write.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from ecluse.engine.plan import compile_pipeline
from ecluse.engine.run import RunOptions, run_pipeline
from ecluse.sdk.registry import default_registry

CATEGORIES = ("books", "games", "garden", "music", "sports")
RESULTS = Path(__file__).resolve().parents[1] / "RESULTS.md"


def make_data(folder: Path, orders: int, customers: int) -> None:
    con = duckdb.connect()
    con.execute(f"""
        COPY (SELECT i AS customer_id,
                     ['retail', 'pro', 'vip', 'staff'][1 + (hash(i) % 4)::INT] AS segment,
                     ['FR', 'DE', 'ES', 'IT', 'BE'][1 + (hash(i * 7) % 5)::INT] AS country
              FROM range({customers}) t(i))
        TO '{folder / "customers.parquet"}' (FORMAT parquet)""")
    cats = ", ".join(f"'{c}'" for c in CATEGORIES)
    con.execute(f"""
        COPY (SELECT i AS order_id,
                     (hash(i) % {customers + customers // 20})::BIGINT AS customer_id,
                     [{cats}][1 + (hash(i * 3) % {len(CATEGORIES)})::INT] AS category,
                     round((hash(i * 5) % 100000) / 100.0, 2)::DOUBLE AS amount,
                     DATE '2024-01-01' + (hash(i * 11) % 365)::INT AS order_date
              FROM range({orders}) t(i))
        TO '{folder / "orders.parquet"}' (FORMAT parquet)""")
    con.close()


def pipeline(folder: Path, out: Path) -> dict[str, Any]:
    def n(node_id: str, kind: str, module: str, **config: Any) -> dict[str, Any]:
        return {"id": node_id, "type": kind, "module": module, "config": config}

    return {
        "name": "bench-transformers",
        "nodes": [
            n("orders", "extractor", "parquet", path=str(folder / "orders.parquet")),
            n("customers", "extractor", "parquet", path=str(folder / "customers.parquet")),
            n("join", "transformer", "join", how="left", on=["customer_id"]),
            n("rank", "transformer", "window", partition_by=["customer_id"],
              order_by=[{"column": "amount", "descending": True}],
              functions=[{"function": "rank", "name": "amount_rank"}]),
            n("top3", "transformer", "filter", condition="amount_rank <= 3"),
            n("pivot", "transformer", "pivot", index=["segment"], columns="category",
              values="amount", aggregation="sum", pivot_values=list(CATEGORIES)),
            n("out", "loader", "parquet", path=str(out)),
        ],
        "edges": [
            {"source": "orders", "target": "join", "target_handle": "left"},
            {"source": "customers", "target": "join", "target_handle": "right"},
            {"source": "join", "target": "rank"}, {"source": "rank", "target": "top3"},
            {"source": "top3", "target": "pivot"}, {"source": "pivot", "target": "out"},
        ],
    }


def hand_sql(folder: Path, out: Path) -> str:
    pivots = ",\n".join(f"  sum(amount) FILTER (WHERE category = '{c}') AS \"{c}\""
                        for c in CATEGORIES)
    return f"""
COPY (
  WITH joined AS (
    SELECT o.*, c.segment, c.country
    FROM read_parquet('{folder / "orders.parquet"}') o
    LEFT JOIN read_parquet('{folder / "customers.parquet"}') c USING (customer_id)),
  ranked AS (
    SELECT *, rank() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS amount_rank
    FROM joined)
  SELECT segment,
{pivots}
  FROM ranked WHERE amount_rank <= 3 GROUP BY segment
) TO '{out}' (FORMAT parquet)"""


def run_ecluse(folder: Path, work: Path, engine: str) -> float:
    out = work / "ecluse_out"
    shutil.rmtree(out, ignore_errors=True)
    plan = compile_pipeline(pipeline(folder, out / "result.parquet"), default_registry(),
                            engine=engine)
    t0 = time.perf_counter()
    result = run_pipeline(plan, RunOptions(data_dir=work / ".ecluse"))
    elapsed = time.perf_counter() - t0
    if result.status != "succeeded":
        raise SystemExit(f"pipeline failed: {result.error}")
    return elapsed


def run_duckdb(folder: Path, work: Path) -> float:
    out = work / "duckdb_out.parquet"
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect(config={"temp_directory": str(work / "spill")})
    con.execute(hand_sql(folder, out))
    con.close()
    return time.perf_counter() - t0


def check_same(work: Path) -> None:
    con = duckdb.connect()
    a = con.execute(f"SELECT * FROM read_parquet('{work / 'ecluse_out'}/**/*.parquet') "
                    "ORDER BY segment NULLS LAST").fetchall()
    b = con.execute(f"SELECT * FROM read_parquet('{work / 'duckdb_out.parquet'}') "
                    "ORDER BY segment NULLS LAST").fetchall()
    for ra, rb in zip(a, b, strict=True):
        assert ra[0] == rb[0] and all(abs((x or 0) - (y or 0)) < 1e-6 * max(1, abs(y or 0))
                                      for x, y in zip(ra[1:], rb[1:], strict=True)), (ra, rb)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=5_000_000)
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engine", default="duckdb")
    ap.add_argument("--write", action="store_true", help="append the figures to RESULTS.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ecluse-bench-") as tmp:
        work = Path(tmp)
        (work / "spill").mkdir()
        folder = work / "data"
        folder.mkdir()
        t0 = time.perf_counter()
        make_data(folder, args.orders, args.customers)
        print(f"data: {args.orders:,} orders x {args.customers:,} customers "
              f"({time.perf_counter() - t0:.1f} s to generate)")
        run_duckdb(folder, work)  # warm the page cache once for both
        ecluse_times, duck_times = [], []
        for i in range(args.rounds):
            first, second = (run_ecluse, run_duckdb) if i % 2 == 0 else (run_duckdb, run_ecluse)
            for fn in (first, second):
                if fn is run_ecluse:
                    ecluse_times.append(run_ecluse(folder, work, args.engine))
                else:
                    duck_times.append(run_duckdb(folder, work))
        check_same(work)
    e_med, d_med = statistics.median(ecluse_times), statistics.median(duck_times)
    ratio = e_med / d_med
    lines = [
        f"- {dt.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores "
        f"(shared), Python {platform.python_version()}, duckdb {duckdb.__version__}, "
        f"engine {args.engine}: {args.orders:,} orders x {args.customers:,} customers, left "
        f"join + rank per customer + filter rank <= 3 + pivot (5 categories), parquet in and "
        f"out, {args.rounds} rounds alternating.",
        f"  - Ecluse pipeline: median {e_med:.2f} s (best {min(ecluse_times):.2f} s; "
        f"runs {', '.join(f'{t:.2f}' for t in ecluse_times)})",
        f"  - hand-written DuckDB SQL: median {d_med:.2f} s (best {min(duck_times):.2f} s; "
        f"runs {', '.join(f'{t:.2f}' for t in duck_times)})",
        f"  - ratio (median): **{ratio:.2f}x** (target <= 1.15x); outputs checked equal.",
    ]
    print("\n".join(lines))
    if args.write:
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        if "## Transformers" not in text:
            text = text.rstrip("\n") + "\n\n## Transformers\n\n" + _HEADER
        RESULTS.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")


_HEADER = ("`bench/transforms/bench_pipeline.py`: the issue-7 pipeline as Ecluse nodes (parquet "
           "extractors, `join`, `window`, `filter`, `pivot`, parquet loader) against the same "
           "work written by hand as one DuckDB `COPY (SELECT ...)`. Wall time of a whole run "
           "(planning, execution, writing).\n")


if __name__ == "__main__":
    main()
