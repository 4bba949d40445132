"""End to end through the CLI (``ecluse run``): postgres -> cleaner -> aggregate -> s3 and
rest -> cleaner -> postgres, plus ``ecluse state`` and ``ecluse connection test``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pyarrow.dataset as ds
import pytest
from pyarrow import fs

from tests.integration.connectors.test_rest import Api, api  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

ECLUSE = shutil.which("ecluse") or str(Path(__file__).resolve().parents[3] / ".venv/bin/ecluse")


def ecluse(workdir: Path, env: dict[str, str], *args: str, check: bool = True) -> Any:
    full = {**os.environ, "ECLUSE_DATA_DIR": str(workdir / ".ecluse"), **env}
    out = subprocess.run([ECLUSE, *args], capture_output=True, text=True, env=full, cwd=workdir)
    if check:
        assert out.returncode == 0, out.stderr + out.stdout
    return out


def write(workdir: Path, doc: dict[str, Any]) -> str:
    path = workdir / "pipeline.json"
    path.write_text(json.dumps(doc))
    return str(path)


def sql(url: str, text: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(text)
        return cur.fetchall() if cur.description else []


def test_postgres_cleaner_aggregate_s3(pg_database: str, s3_endpoint: str, workdir: Path) -> None:
    sql(pg_database, """
      CREATE TABLE orders (order_id int PRIMARY KEY, country text, amount numeric(10,2),
                           order_ts timestamptz);
      INSERT INTO orders SELECT g, (ARRAY[' fr', 'DE ', 'es'])[1 + g % 3],
             CASE WHEN g % 50 = 0 THEN NULL ELSE (g % 97) + 0.5 END,
             '2024-01-01'::timestamptz + g * interval '2 hours' FROM generate_series(1, 5000) g""")
    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="k",
                          aws_secret_access_key="s", region_name="us-east-1")
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    env = {"ECLUSE_CONN_WAREHOUSE": pg_database,
           "ECLUSE_CONN_LAKE": json.dumps({"type": "s3", "endpoint_url": s3_endpoint,
                                           "access_key_id": "k", "secret_access_key": "s",
                                           "region": "us-east-1"})}
    doc = {"name": "pg-to-lake", "nodes": [
        {"id": "src", "type": "extractor", "module": "postgres",
         "config": {"connection": "warehouse", "query": "SELECT * FROM orders WHERE order_ts >= :since"}},
        {"id": "clean", "type": "transformer", "module": "cleaner",
         "config": {"trim": True, "case": {"country": "upper"}, "drop_nulls": ["amount"]}},
        {"id": "agg", "type": "transformer", "module": "aggregate",
         "config": {"group_by": ["country"], "time_bucket": {"column": "order_ts", "unit": "month",
                                                              "name": "order_month"},
                    "aggregations": [{"column": "amount", "function": "sum", "name": "revenue"},
                                     {"function": "count", "name": "orders"}]}},
        {"id": "lake", "type": "loader", "module": "s3",
         "config": {"connection": "lake", "bucket": bucket, "prefix": "revenue",
                    "partition_by": {"column": "order_month", "parts": ["year", "month"]}}}],
        "edges": [{"source": "src", "target": "clean"}, {"source": "clean", "target": "agg"},
                  {"source": "agg", "target": "lake"}],
        "parameters": {"since": {"type": "timestamp", "default": "2024-01-01T00:00:00"}}}
    path = write(workdir, doc)
    out = ecluse(workdir, env, "run", path, "--json")
    result = json.loads(out.stdout)
    assert result["status"] == "succeeded"
    host = s3_endpoint.split("://", 1)[1]
    s3 = fs.S3FileSystem(access_key="k", secret_key="s", endpoint_override=host, scheme="http",
                         region="us-east-1")
    back = ds.dataset(f"{bucket}/revenue", filesystem=s3, partitioning="hive").to_table()
    got = {(r["country"], r["order_month"].strftime("%Y-%m")): (r["revenue"], r["orders"])
           for r in back.to_pylist()}
    expected = {(c, m): (rev, n) for c, m, rev, n in sql(pg_database, """
        SELECT upper(trim(country)), to_char(date_trunc('month', order_ts AT TIME ZONE 'UTC'), 'YYYY-MM'),
               sum(amount), count(*) FROM orders WHERE amount IS NOT NULL GROUP BY 1, 2""")}
    assert got.keys() == expected.keys()
    for k, (rev, n) in expected.items():
        assert Decimal(str(got[k][0])) == rev and got[k][1] == n


def test_rest_cleaner_postgres_and_state_commands(api: Api, pg_database: str,  # noqa: F811
                                                  workdir: Path) -> None:
    items = [{"id": i, "customer": {"email": f"  C{i}@X.IO "}, "total": i * 2.5} for i in range(1, 31)]

    @api.route("GET", "/v1/orders")
    def orders(q: dict[str, str], h: dict[str, str], _: bytes) -> Any:
        if h.get("authorization") != "Bearer t0k":
            return 401, {}, {}
        start = int(q.get("cursor", "0"))
        nxt = str(start + 7) if start + 7 < len(items) else None
        return 200, {}, {"data": {"items": items[start:start + 7]}, "next_cursor": nxt}

    env = {"ECLUSE_CONN_SHOP_API": json.dumps({"type": "http", "base_url": api.url + "/v1",
                                               "auth": {"type": "bearer", "token": "t0k"}}),
           "ECLUSE_CONN_WAREHOUSE": pg_database}
    doc = {"name": "shop", "nodes": [
        {"id": "api", "type": "extractor", "module": "rest",
         "config": {"connection": "shop-api", "url": "/orders", "records_path": "data.items",
                    "pagination": {"type": "cursor", "cursor_path": "next_cursor", "param": "cursor"}}},
        {"id": "clean", "type": "transformer", "module": "cleaner",
         "config": {"trim": True, "case": {"customer_email": "lower"}}},
        {"id": "db", "type": "loader", "module": "postgres",
         "config": {"connection": "warehouse", "table": "analytics.orders", "mode": "upsert",
                    "keys": ["id"]}}],
        "edges": [{"source": "api", "target": "clean"}, {"source": "clean", "target": "db"}]}
    path = write(workdir, doc)
    ecluse(workdir, env, "run", path)
    ecluse(workdir, env, "run", path)  # upsert: a second run changes nothing
    assert sql(pg_database, "SELECT count(*), min(customer_email), sum(total) FROM analytics.orders") == [
        (30, "c10@x.io", 1162.5)]
    # connection tests, for each kind
    assert "connected" in ecluse(workdir, env, "connection", "test", "warehouse").stdout
    assert "HTTP 200" in ecluse(workdir, env, "connection", "test", "shop-api", "--path", "/orders").stdout
    bad = ecluse(workdir, {**env, "ECLUSE_CONN_SHOP_API": json.dumps(
        {"type": "http", "base_url": api.url + "/v1", "auth": {"type": "bearer", "token": "nope"}})},
        "connection", "test", "shop-api", "--path", "/orders", check=False)
    assert bad.returncode == 1 and "401" in bad.stderr and "nope" not in bad.stderr
    missing = ecluse(workdir, env, "connection", "test", "ghost", check=False)
    assert missing.returncode == 1 and "ECLUSE_CONN_GHOST" in missing.stderr


def test_incremental_state_through_cli(pg_database: str, workdir: Path) -> None:
    sql(pg_database, "CREATE TABLE ev (id int PRIMARY KEY, at timestamptz);"
                     "INSERT INTO ev SELECT g, '2024-01-01'::timestamptz + g * interval '1 day' "
                     "FROM generate_series(1, 10) g")
    env = {"ECLUSE_CONN_WAREHOUSE": pg_database}
    doc = {"id": "ev-sync", "name": "events", "nodes": [
        {"id": "src", "type": "extractor", "module": "postgres",
         "config": {"connection": "warehouse", "table": "ev",
                    "incremental": {"cursor_column": "at", "key_column": "id"}}},
        {"id": "dst", "type": "loader", "module": "postgres",
         "config": {"connection": "warehouse", "table": "ev_copy"}}],
        "edges": [{"source": "src", "target": "dst"}]}
    path = write(workdir, doc)
    ecluse(workdir, env, "run", path)
    shown = json.loads(ecluse(workdir, env, "state", "show", path, "--node", "src").stdout)
    assert shown["last_key"] == "10" and shown["last_value"].startswith("2024-01-11")
    assert json.loads(ecluse(workdir, env, "state", "show", "ev-sync").stdout)["src"] == shown
    ecluse(workdir, env, "state", "set", path, "src", "--last-value", "2024-01-08T00:00:00+00:00")
    ecluse(workdir, env, "run", path)  # a mark set by hand is inclusive: ids 7..10 again
    assert sql(pg_database, "SELECT count(*) FROM ev_copy") == [(14,)]
    ecluse(workdir, env, "state", "reset", path)
    assert json.loads(ecluse(workdir, env, "state", "show", path).stdout) == {}
    ecluse(workdir, env, "run", path)
    assert sql(pg_database, "SELECT count(*) FROM ev_copy") == [(24,)]
    # a mark set by hand on a pipeline with no state yet
    ecluse(workdir, env, "state", "reset", path)
    ecluse(workdir, env, "state", "set", path, "src", "--last-value", "2024-01-10T12:00:00+00:00")
    ecluse(workdir, env, "run", path)  # only id 10 (2024-01-11) is after the mark
    assert sql(pg_database, "SELECT count(*) FROM ev_copy") == [(25,)]
