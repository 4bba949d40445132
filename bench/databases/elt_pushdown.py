"""ELT pushdown into PostgreSQL: `ecluse run` of postgres → cleaner → aggregate → postgres
(run inside the database) against the same SQL written by hand and run with psql.

    .venv/bin/python bench/databases/elt_pushdown.py [--rows 5000000] [--repeat 3]
        [--url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

HAND_SQL = """
BEGIN;
DROP TABLE IF EXISTS sales.summary_hand;
CREATE TABLE sales.summary_hand AS
SELECT country, sum(amount) AS total, count(DISTINCT email) AS customers FROM (
  SELECT lower(trim(email)) AS email, coalesce(trim(country), 'XX') AS country, amount, id
  FROM sales.orders) AS c
GROUP BY country ORDER BY country;
COMMIT;
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"ecluse_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    url = args.url.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE SCHEMA sales")
            con.execute("CREATE TABLE sales.orders AS SELECT g AS id, ' User' || (g % 50000) "
                        "|| '@X.com ' AS email, (ARRAY[' fr', 'de ', NULL, 'es'])[g % 4 + 1] "
                        "AS country, (g % 1000) * 1.5 AS amount "
                        f"FROM generate_series(1, {args.rows}) AS g")
            con.execute("ANALYZE sales.orders")
        doc = {"name": "elt bench", "nodes": [
            {"id": "src", "type": "extractor", "module": "postgres",
             "config": {"connection": "wh", "table": "sales.orders"}},
            {"id": "clean", "type": "transformer", "module": "cleaner",
             "config": {"trim": True, "case": {"email": "lower"}, "fill_nulls": {"country": "XX"}}},
            {"id": "agg", "type": "transformer", "module": "aggregate",
             "config": {"group_by": ["country"], "aggregations": [
                 {"column": "amount", "function": "sum", "name": "total"},
                 {"column": "email", "function": "count_distinct", "name": "customers"}]}},
            {"id": "out", "type": "loader", "module": "postgres",
             "config": {"connection": "wh", "table": "sales.summary", "mode": "replace"}}],
            "edges": [{"source": "src", "target": "clean"}, {"source": "clean", "target": "agg"},
                      {"source": "agg", "target": "out"}]}
        pipeline = Path(tempfile.mkdtemp()) / "elt.json"
        pipeline.write_text(json.dumps(doc))
        env = {**os.environ, "ECLUSE_CONN_WH": url}
        ecluse = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ecluse")
        times: dict[str, list[float]] = {"ecluse": [], "psql": []}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run([ecluse, "run", str(pipeline), "--json"], env=env, check=True,
                           capture_output=True)
            times["ecluse"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", HAND_SQL], check=True,
                           capture_output=True)
            times["psql"].append(time.perf_counter() - t0)
        with psycopg.connect(url) as con:
            got = con.execute("SELECT country, total, customers FROM sales.summary ORDER BY 1").fetchall()
            want = con.execute("SELECT country, total, customers FROM sales.summary_hand "
                               "ORDER BY 1").fetchall()
        assert got == want, (got, want)
        e, p = statistics.median(times["ecluse"]), statistics.median(times["psql"])
        print(f"{args.rows:,} rows, median of {args.repeat}: ecluse run {e:.2f} s, psql {p:.2f} s, "
              f"ratio {e / p:.2f}x; outputs agree ({len(got)} groups)")
        print("runs:", {k: [round(x, 2) for x in v] for k, v in times.items()})
    finally:
        with psycopg.connect(args.url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
