"""ELT pushdown: `ecluse run` of extractor → cleaner → aggregate → loader on one database (run
inside it) against the same SQL written by hand and run with the database's own client (psql,
the mariadb client, ClickHouse's HTTP interface through curl).

    .venv/bin/python bench/databases/elt_pushdown.py [--db postgres|mysql|clickhouse]
        [--rows 5000000] [--repeat 3]

Servers: PostgreSQL on 5432, MariaDB on 3306 (root), ClickHouse from tests/servers.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

HAND = {
    "postgres": """BEGIN;
DROP TABLE IF EXISTS sales.summary_hand;
CREATE TABLE sales.summary_hand AS
SELECT country, sum(amount) AS total, count(DISTINCT email) AS customers FROM (
  SELECT lower(trim(email)) AS email, coalesce(trim(country), 'XX') AS country, amount, id
  FROM sales.orders) AS c
GROUP BY country ORDER BY country;
COMMIT;""",
    "mysql": """DROP TABLE IF EXISTS summary_hand;
CREATE TABLE summary_hand AS
SELECT country, sum(amount) AS total, count(DISTINCT email) AS customers FROM (
  SELECT lower(trim(email)) AS email, coalesce(trim(country), 'XX') AS country, amount, id
  FROM orders) AS c
GROUP BY country;""",
    "clickhouse": """CREATE TABLE {db}.summary_hand ENGINE = MergeTree ORDER BY tuple() AS
SELECT country, sum(amount) AS total, uniqExact(email) AS customers FROM (
  SELECT lower(replaceRegexpAll(email, '^ +| +$', '')) AS email,
         coalesce(replaceRegexpAll(country, '^ +| +$', ''), 'XX') AS country, amount, id
  FROM {db}.orders)
GROUP BY country""",
}


def doc(module: str, source: str, target: str) -> dict[str, Any]:
    return {"name": "elt bench", "nodes": [
        {"id": "src", "type": "extractor", "module": module,
         "config": {"connection": "wh", "table": source}},
        {"id": "clean", "type": "transformer", "module": "cleaner",
         "config": {"trim": True, "case": {"email": "lower"}, "fill_nulls": {"country": "XX"}}},
        {"id": "agg", "type": "transformer", "module": "aggregate",
         "config": {"group_by": ["country"], "aggregations": [
             {"column": "amount", "function": "sum", "name": "total"},
             {"column": "email", "function": "count_distinct", "name": "customers"}]}},
        {"id": "out", "type": "loader", "module": module,
         "config": {"connection": "wh", "table": target, "mode": "replace"}}],
        "edges": [{"source": "src", "target": "clean"}, {"source": "clean", "target": "agg"},
                  {"source": "agg", "target": "out"}]}


class Postgres:
    module, source, target = "postgres", "sales.orders", "sales.summary"

    def __init__(self, rows: int) -> None:
        import psycopg

        self.name = f"ecluse_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_URL, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{self.name}"')
        self.url = PG_URL.rsplit("/", 1)[0] + f"/{self.name}"
        self.query("CREATE SCHEMA sales")
        self.query("CREATE TABLE sales.orders AS SELECT g AS id, ' User' || (g % 50000) || '@X.com ' "
                   "AS email, (ARRAY[' fr', 'de ', NULL, 'es'])[g % 4 + 1] AS country, "
                   f"(g % 1000) * 1.5 AS amount FROM generate_series(1, {rows}) AS g")
        self.query("ANALYZE sales.orders")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:
            cur = con.execute(sql)
            return cur.fetchall() if cur.description else []

    def by_hand(self) -> None:
        subprocess.run(["psql", self.url, "-q", "-v", "ON_ERROR_STOP=1", "-c", HAND["postgres"]],
                       check=True, capture_output=True)

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Mysql:
    module, source, target = "mysql", "orders", "summary"

    def __init__(self, rows: int) -> None:
        self.name = f"ecluse_bench_{uuid.uuid4().hex[:8]}"
        self.url = f"mysql://root@127.0.0.1:3306/{self.name}"
        self.query(f"CREATE DATABASE {self.name} CHARACTER SET utf8mb4", db=None)
        self.query("CREATE TABLE orders (id BIGINT PRIMARY KEY, email VARCHAR(64), country "
                   "VARCHAR(8), amount DECIMAL(12, 1)) SELECT seq AS id, CONCAT(' User', seq % 50000, "
                   "'@X.com ') AS email, ELT(seq % 4 + 1, ' fr', 'de ', NULL, 'es') AS country, "
                   f"(seq % 1000) * 1.5 AS amount FROM seq_1_to_{rows}")

    def query(self, sql: str, db: str | None = "") -> list[tuple[Any, ...]]:
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True,
                               database=self.name if db == "" else db)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def by_hand(self) -> None:
        subprocess.run(["mariadb", "-h127.0.0.1", "-uroot", self.name, "-e", HAND["mysql"]],
                       check=True, capture_output=True)

    def drop(self) -> None:
        self.query(f"DROP DATABASE IF EXISTS {self.name}", db=None)


class Clickhouse:
    module, source, target = "clickhouse", "orders", "summary"

    def __init__(self, rows: int) -> None:
        from tests import servers

        base = servers.ensure_clickhouse().rpartition("/")[0]
        self.name = f"ecluse_bench_{uuid.uuid4().hex[:8]}"
        self.url = f"{base}/{self.name}"
        self.http = "http://127.0.0.1:18123/"
        self.query(f"CREATE DATABASE {self.name}")
        self.query(f"CREATE TABLE {self.name}.orders (id Int64, email Nullable(String), country "
                   "Nullable(String), amount Nullable(Decimal(12, 1))) ENGINE = MergeTree ORDER BY id")
        self.query(f"INSERT INTO {self.name}.orders SELECT number, concat(' User', "
                   "toString(number % 50000), '@X.com '), [toNullable(' fr'), 'de ', NULL, 'es']"
                   "[number % 4 + 1], toDecimal64((number % 1000) * 1.5, 1) "
                   f"FROM system.numbers LIMIT {rows}")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        from clickhouse_driver import Client

        client = Client.from_url(self.url.rpartition("/")[0] + "/default")
        try:
            result = client.execute(sql)
            return list(result) if isinstance(result, list) else []
        finally:
            client.disconnect()

    def by_hand(self) -> None:
        self.query(f"DROP TABLE IF EXISTS {self.name}.summary_hand")
        subprocess.run(["curl", "-sf", self.http, "--data-binary",
                        HAND["clickhouse"].format(db=self.name)], check=True, capture_output=True)

    def drop(self) -> None:
        self.query(f"DROP DATABASE IF EXISTS {self.name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgres", "mysql", "clickhouse"], default="postgres")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    kinds: dict[str, Callable[[int], Any]] = {"postgres": Postgres, "mysql": Mysql,
                                               "clickhouse": Clickhouse}
    db = kinds[args.db](args.rows)
    try:
        pipeline = Path(tempfile.mkdtemp()) / "elt.json"
        pipeline.write_text(json.dumps(doc(db.module, db.source, db.target)))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["ECLUSE_CONN_WH"] = db.url
        ecluse = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ecluse")
        times: dict[str, list[float]] = {"ecluse": [], "client": []}
        cpu: list[float] = []  # user + sys of the ecluse process (its own work, not the server's)
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            done = subprocess.run([ecluse, "run", str(pipeline), "--json"], env=env, check=True,
                                  capture_output=True, text=True)
            times["ecluse"].append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            nodes = json.loads(done.stdout)["nodes"]
            assert all("pushed_down" in n.get("extra", {}) for n in nodes.values()), nodes
            t0 = time.perf_counter()
            db.by_hand()
            times["client"].append(time.perf_counter() - t0)
        table = db.target if args.db != "clickhouse" else f"{db.name}.{db.target}"
        hand = table.rsplit("summary", 1)[0] + "summary_hand"

        def rows(t: str) -> list[tuple[Any, ...]]:
            return sorted((c, Decimal(str(s)), int(n))
                          for c, s, n in db.query(f"SELECT country, total, customers FROM {t}"))
        got, want = rows(table), rows(hand)
        assert got == want, (got, want)
        e, c = statistics.median(times["ecluse"]), statistics.median(times["client"])
        print(f"{args.db}, {args.rows:,} rows, median of {args.repeat}: ecluse run {e:.2f} s, "
              f"client {c:.2f} s, ratio {e / c:.2f}x; outputs agree ({len(got)} groups)")
        print(f"ecluse client CPU (user+sys) median {statistics.median(cpu):.2f} s; "
              f"load average {os.getloadavg()[0]:.2f}")
        print("runs:", {k: [round(x, 2) for x in v] for k, v in times.items()},
              "cpu:", [round(x, 2) for x in cpu])
    finally:
        db.drop()


if __name__ == "__main__":
    main()
