"""Database modules against hand-written bulk paths, on the same data in the same run.

    .venv/bin/python bench/databases/bench_databases.py [--rows N] [--quick]

``--quick`` leaves out the slow reference paths (multi-row INSERTs, upsert of every row);
``--only files`` times the DuckDB and SQLite file modules alone (no server needed); MongoDB runs
on the secantusdb emulator with ``--mongo-rows`` rows (default 100,000).

MySQL (MariaDB on 127.0.0.1) and ClickHouse (the test server) must be reachable: the test
helpers in tests/servers.py start them when missing. Prints a Markdown table for
bench/RESULTS.md. Loads go through a real pipeline (in-memory Arrow source -> loader); extracts
are timed on the module's own Arrow stream, consumed to its end.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pyarrow as pa
from tests import servers
from tests.integration.databases.harness import load
from tests.integration.databases.test_bounded_memory import peak_rss, stream_rows

T = TypeVar("T", bound=tuple[float, ...])


def data(rows: int) -> pa.Table:
    base = dt.datetime(2024, 1, 1)
    return pa.table({
        "id": pa.array(range(rows), pa.int64()),
        "name": pa.array([f"customer {i % 10_000} ünïcødé" for i in range(rows)]),
        "amount": pa.array([decimal.Decimal(i % 100_000) / 100 for i in range(rows)],
                           pa.decimal128(12, 2)),
        "at": pa.array([base + dt.timedelta(seconds=i) for i in range(rows)], pa.timestamp("us")),
        "flag": pa.array([i % 3 == 0 for i in range(rows)]),
    })


def timed(label: str, fn: Any, results: list[tuple[str, float, str]], note: str = "") -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    results.append((label, elapsed, note))
    print(f"{label}: {elapsed:.2f} s {note}", flush=True)
    return elapsed


def best_alternating(sides: dict[str, Callable[[int], T]], rounds: int = 2) -> dict[str, T]:
    """Each side's best of ``rounds`` timings (the smallest tuple: seconds first, then what the
    side noted), the sides taking turns so that what drifts during the measurement (a server
    warming up, an emulator's store growing) hits them alike. A side gets the attempt number."""
    best: dict[str, T] = {}
    labels = list(sides)
    for attempt in range(rounds * len(labels)):
        label = labels[attempt % len(labels)]
        got = sides[label](attempt)
        print(f"  {label}, attempt {attempt // len(labels) + 1}: {got[0]:.2f} s", flush=True)
        best[label] = min(best[label], got) if label in best else got
    return best


def scan(read: Callable[[], Any]) -> Callable[[int], tuple[float, float]]:
    """A timing of ``read`` for ``best_alternating``: seconds, and peak RSS growth in MB."""
    def timed_scan(_attempt: int) -> tuple[float, float]:
        with peak_rss() as growth:
            start = time.perf_counter()
            read()
            elapsed = time.perf_counter() - start
        return elapsed, growth()
    return timed_scan


def bench_mysql(table: pa.Table, work: Path, results: list[tuple[str, float, str]],
                quick: bool, rounds: int = 2) -> None:
    import duckdb
    import pymysql
    import pymysql.cursors

    s = servers.ensure_mariadb()
    db = f"ecluse_bench_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host=str(s["host"]), port=int(str(s["port"])), user=str(s["user"]),
                            password=str(s["password"]), autocommit=True, local_infile=True)
    admin.cursor().execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    os.environ["ECLUSE_CONN_BENCH_MYSQL"] = (
        f"mysql://{s['user']}:{s['password']}@{s['host']}:{s['port']}/{db}")
    cur = admin.cursor()
    cur.execute(f"USE {db}")
    try:
        def by_hand() -> None:
            csv = work / "hand.csv"
            con = duckdb.connect()
            con.register("t", table)
            con.execute("COPY (SELECT id, name, amount, strftime(t.at_, '%Y-%m-%d %H:%M:%S.%f'), "
                        "CAST(flag AS INTEGER) FROM (SELECT *, \"at\" AS at_ FROM t) AS t) "
                        f"TO '{csv}' (HEADER false, NULLSTR 'NULL', "
                        "FORCE_QUOTE *, QUOTE '\"', ESCAPE '\"')")
            cur.execute("CREATE TABLE hand (id BIGINT, name LONGTEXT, amount DECIMAL(12,2), "
                        "at DATETIME(6), flag BOOLEAN) DEFAULT CHARSET=utf8mb4")
            cur.execute(f"LOAD DATA LOCAL INFILE '{csv}' INTO TABLE hand CHARACTER SET utf8mb4 "
                        "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                        "LINES TERMINATED BY '\\n'")

        hand = timed("mysql load: hand-written DuckDB CSV + LOAD DATA", by_hand, results)
        for method in ("load_data",) if quick else ("load_data", "insert"):
            def run(method: str = method) -> None:
                result = load("mysql", table, work, chunk=100_000, connection="bench-mysql",
                              table=f"via_{method}", mode="replace", bulk_method=method)
                assert result.status == "succeeded", result.error
            t = timed(f"mysql loader, bulk_method={method}", run, results)
            results[-1] = (results[-1][0], t, f"{t / hand:.2f}x hand-written")

        def upsert() -> None:
            result = load("mysql", table, work, chunk=100_000, connection="bench-mysql",
                          table="via_load_data", mode="upsert", keys=["id"])
            assert result.status == "failed" or result.status == "succeeded"
        if not quick:
            cur.execute("ALTER TABLE via_load_data ADD PRIMARY KEY (id)")
            timed("mysql loader, upsert of every row (all updates)", upsert, results)

        # keyset pages need the cursor column indexed, as any real table would have it
        cur.execute("ALTER TABLE hand ADD PRIMARY KEY (id)")

        def connectorx() -> None:
            import connectorx as cx

            reader = cx.read_sql(f"mysql://{s['user']}@{s['host']}:{s['port']}/{db}",
                                 "SELECT * FROM hand", return_type="arrow_stream",
                                 batch_size=50_000)
            for _ in reader:
                pass

        # the first read after the load meets a colder server than the next ones
        best = best_alternating({
            "extractor": scan(lambda: stream_rows("mysql", work, connection="bench-mysql",
                                                  table="hand")),
            "connectorx": scan(connectorx)}, rounds)
        results.append(("mysql extractor (connectorx -> Arrow, cast to the probed types)",
                        best["extractor"][0], f"{best['extractor'][0] / best['connectorx'][0]:.2f}x "
                        f"the Arrow reader, best of {rounds}; peak RSS +{best['extractor'][1]:.0f} MB"))
        results.append(("connectorx arrow_stream (generic Arrow reader)", best["connectorx"][0],
                         f"best of {rounds}; peak RSS +{best['connectorx'][1]:.0f} MB"))
        reads: dict[str, dict[str, Any]] = {
            "a `where` condition (connectorx in a child process)": {"where": "id >= 0"},
            "incremental, keyset pages of 100,000 (connectorx `arrow` mode)": {"incremental": {
                "cursor_column": "id", "key_column": "id", "page_size": 100_000}}}
        for label, options in reads.items():
            with peak_rss() as growth:
                timed(f"mysql extractor, {label}", lambda options=options: stream_rows(
                    "mysql", work, connection="bench-mysql", table="hand", **options), results)
            results[-1] = (*results[-1][:2], f"peak RSS +{growth():.0f} MB")

        def scanner() -> None:
            import importlib.util

            spec = importlib.util.find_spec("duckdb_ext")
            config: dict[str, Any] = {"autoinstall_known_extensions": False}
            if spec is not None and spec.submodule_search_locations:
                config["extension_directory"] = str(
                    Path(next(iter(spec.submodule_search_locations))) / "extensions")
            con = duckdb.connect(config=config)
            con.execute(f"ATTACH 'host={s['host']} port={s['port']} user={s['user']} "
                        f"database={db}' AS m (TYPE mysql, READ_ONLY)")
            reader = con.execute("SELECT * FROM m.hand").fetch_record_batch(100_000)
            for _ in reader:
                pass

        with peak_rss() as growth:
            timed("DuckDB mysql scanner, ATTACH table scan (generic Arrow reader)", scanner, results)
        results[-1] = (*results[-1][:2], f"peak RSS +{growth():.0f} MB")

        def pymysql_rows() -> None:
            conn = pymysql.connect(host=str(s["host"]), port=int(str(s["port"])),
                                   user=str(s["user"]), password=str(s["password"]), database=db,
                                   cursorclass=pymysql.cursors.SSCursor)
            with conn.cursor() as c:
                c.execute("SELECT * FROM hand")
                while c.fetchmany(50_000):
                    pass
            conn.close()

        if not quick:
            timed("PyMySQL server-side cursor, rows only (the extractor's previous path)",
                  pymysql_rows, results)
    finally:
        cur.execute(f"DROP DATABASE {db}")
        admin.close()


def bench_clickhouse(table: pa.Table, work: Path, results: list[tuple[str, float, str]],
                     rounds: int = 2) -> None:
    from clickhouse_driver import Client

    url = servers.ensure_clickhouse()
    db = f"ecluse_bench_{uuid.uuid4().hex[:8]}"
    client = Client.from_url(url)
    client.execute(f"CREATE DATABASE {db}")
    os.environ["ECLUSE_CONN_BENCH_CLICKHOUSE"] = url.rpartition("/")[0] + f"/{db}"
    try:
        # The fastest hand-written path found with the driver's API (1M rows: 3.7x faster than
        # Python values with datetimes, 2x faster than Python values with epoch seconds): NumPy
        # columns (use_numpy), timestamps as epoch seconds, Decimals as Python objects (the driver
        # has no NumPy Decimal column and writes that one through its generic column).
        numpy_client = Client.from_url(url + ("&" if "?" in url else "?") + "use_numpy=true")
        logging.getLogger("clickhouse_driver.columns.service").setLevel(logging.ERROR)

        def by_hand() -> None:
            import numpy as np
            import pyarrow.compute as pc

            client.execute(f"CREATE TABLE {db}.hand (id Int64, name String, amount Decimal(12, 2), "
                           "at DateTime('UTC'), flag UInt8) ENGINE = MergeTree ORDER BY id")
            for batch in table.to_batches(max_chunksize=100_000):
                seconds = pc.divide(batch.column(3).cast(pa.int64()), 1_000_000)
                cols = [batch.column(0).to_numpy(),
                        np.array(batch.column(1).to_pylist(), dtype=object),
                        np.array(batch.column(2).to_pylist(), dtype=object),
                        seconds.to_numpy().astype(np.uint32),
                        batch.column(4).cast(pa.uint8()).to_numpy()]
                numpy_client.execute(f"INSERT INTO {db}.hand VALUES", cols, columnar=True)

        hand = timed("clickhouse load: hand-written clickhouse-driver columnar INSERT (NumPy "
                     "columns, use_numpy)", by_hand, results)
        numpy_client.disconnect()

        def run() -> None:
            result = load("clickhouse", table, work, chunk=100_000,
                          connection="bench-clickhouse", table="via_loader", mode="replace",
                          keys=["id"])
            assert result.status == "succeeded", result.error
        t = timed("clickhouse loader (staging + RENAME)", run, results)
        results[-1] = (results[-1][0], t, f"{t / hand:.2f}x hand-written")

        def raw() -> None:
            for _ in client.execute_iter(f"SELECT * FROM {db}.hand",
                                         settings={"max_block_size": 65536}):
                pass
        timed("clickhouse-driver execute_iter, rows only (no Arrow)", raw, results)

        def arrow_stream() -> None:
            for _ in client.query_arrow_stream(f"SELECT * FROM {db}.hand",
                                               settings={"max_block_size": 65536,
                                                         "use_numpy": True}):
                pass
        best = best_alternating({
            "extractor": scan(lambda: stream_rows("clickhouse", work,
                                                  connection="bench-clickhouse", table="hand")),
            "arrow stream": scan(arrow_stream)}, rounds)
        results.append(("clickhouse extractor (driver Arrow stream, cast to the probed types)",
                        best["extractor"][0], f"{best['extractor'][0] / best['arrow stream'][0]:.2f}x "
                        f"the Arrow reader, best of {rounds}; peak RSS +{best['extractor'][1]:.0f} MB"))
        results.append(("clickhouse-driver query_arrow_stream, NumPy columns (generic Arrow "
                         "reader)", best["arrow stream"][0], f"best of {rounds}"))
    finally:
        client.execute(f"DROP DATABASE {db}")
        client.disconnect()


def bench_mongodb(table: pa.Table, work: Path, results: list[tuple[str, float, str]]) -> None:
    """On the secantusdb emulator (no real mongod installs here). It writes a few thousand
    documents a second, so ``--mongo-rows`` keeps this part short, and it slows down as its store
    grows: each timing gets a new, empty emulator, best of two, alternating the sides."""
    import bson
    import pymongo

    def by_hand(url: str) -> None:
        coll = pymongo.MongoClient(url).bench.hand
        for batch in table.to_batches(max_chunksize=5_000):
            docs = batch.to_pylist()
            for doc in docs:
                doc["amount"] = bson.Decimal128(doc["amount"])
            coll.insert_many(docs, ordered=False)

    def loader(url: str) -> None:
        os.environ["ECLUSE_CONN_BENCH_MONGODB"] = url.replace("/?", "/bench?")
        result = load("mongodb", table, work, chunk=5_000, connection="bench-mongodb",
                      collection="via_loader", mode="insert")
        assert result.status == "succeeded", result.error
        assert pymongo.MongoClient(url).bench.via_loader.count_documents({}) == table.num_rows

    def on_new_emulator(write: Callable[[str], None]) -> Callable[[int], tuple[float]]:
        def timed_write(attempt: int) -> tuple[float]:
            url, proc = servers.start_mongodb(work / f"mongo-{attempt}")
            try:
                start = time.perf_counter()
                write(url)
                return (time.perf_counter() - start,)
            finally:
                proc.terminate()  # type: ignore[attr-defined]
        return timed_write

    best = best_alternating({"hand": on_new_emulator(by_hand), "loader": on_new_emulator(loader)})
    hand, loaded = best["hand"][0], best["loader"][0]
    results.append(("mongodb load: hand-written pymongo insert_many (unordered, 5,000 a batch)",
                    hand, "emulator, best of 2"))
    results.append(("mongodb loader (insert)", loaded,
                    f"{loaded / hand:.2f}x hand-written (emulator, best of 2)"))


def _file_module(kind: str, path: Path, table: pa.Table, work: Path,
                 results: list[tuple[str, float, str]], by_hand: tuple[str, Any],
                 read: tuple[str, Any]) -> None:
    """One database-file module: its loader against ``by_hand`` (a label and the hand-written
    load of ``table`` into ``hand``), its extractor on ``hand`` against ``read``."""
    hand = timed(*by_hand, results)

    def loader() -> None:
        result = load(kind, table, work, chunk=100_000, path=str(path), table="via_loader",
                      mode="replace")
        assert result.status == "succeeded", result.error
    t = timed(f"{kind} loader (replace)", loader, results)
    results[-1] = (results[-1][0], t, f"{t / hand:.2f}x hand-written")

    reference = timed(*read, results)
    with peak_rss() as growth:
        t = timed(f"{kind} extractor", lambda: stream_rows(kind, work, path=str(path),
                                                           table="hand"), results)
    results[-1] = (results[-1][0], t,
                   f"{t / reference:.2f}x the reference read; peak RSS +{growth():.0f} MB")


def bench_files(table: pa.Table, work: Path, results: list[tuple[str, float, str]]) -> None:
    """The database-file modules (duckdb, sqlite) against the fastest hand-written path of each:
    DuckDB's own CREATE TABLE AS from Arrow, sqlite3's executemany in one transaction; reads
    against DuckDB's Arrow batches and connectorx (the generic Arrow reader for SQLite)."""
    import sqlite3

    import connectorx
    import duckdb

    duck = work / "bench.duckdb"

    def duck_by_hand() -> None:
        con = duckdb.connect(str(duck))
        con.register("t", table)
        con.execute("CREATE OR REPLACE TABLE hand AS SELECT * FROM t")
        con.close()

    def duck_read() -> None:
        con = duckdb.connect(str(duck), read_only=True)
        for _ in con.execute("SELECT * FROM hand").fetch_record_batch(100_000):
            pass
        con.close()

    _file_module("duckdb", duck, table, work, results,
                 ("duckdb load: hand-written CREATE TABLE AS from Arrow", duck_by_hand),
                 ("DuckDB Arrow batches (hand-written read)", duck_read))

    lite = work / "bench.sqlite"

    def sqlite_by_hand() -> None:
        con = sqlite3.connect(lite)
        con.execute("CREATE TABLE hand (id INTEGER, name TEXT, amount DECIMAL(12,2), "
                    "at TIMESTAMP, flag BOOLEAN)")  # the loader's own DDL
        cols = [c.to_pylist() for c in table.columns]
        with con:
            con.executemany("INSERT INTO hand VALUES (?, ?, ?, ?, ?)",
                            zip(cols[0], cols[1], map(str, cols[2]),
                                (v.isoformat(" ") for v in cols[3]), cols[4], strict=True))
        con.close()

    def connectorx_read() -> None:
        # connectorx refuses REAL values in a DECIMAL column: it reads that one as text
        connectorx.read_sql(f"sqlite://{lite}", "SELECT id, name, CAST(amount AS TEXT) AS amount, "
                            "at, flag FROM hand", return_type="arrow")

    _file_module("sqlite", lite, table, work, results,
                 ("sqlite load: hand-written sqlite3 executemany, one transaction", sqlite_by_hand),
                 ("connectorx arrow (generic Arrow reader; amount as text)", connectorx_read))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["mysql", "clickhouse", "files", "mongodb"], nargs="+",
                        default=["mysql", "clickhouse", "files", "mongodb"])
    parser.add_argument("--mongo-rows", type=int, default=100_000,
                        help="rows for MongoDB (the emulator writes a few thousand a second)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="timings per side where an extractor and its reference reader alternate "
                        "(the best is kept)")
    args = parser.parse_args()
    rows = args.rows
    table = data(rows)
    work = Path(tempfile.mkdtemp(prefix="ecluse-bench-db-"))
    results: list[tuple[str, float, str]] = []
    if "mysql" in args.only:
        bench_mysql(table, work, results, args.quick, args.rounds)
    if "clickhouse" in args.only:
        bench_clickhouse(table, work, results, args.rounds)
    if "files" in args.only:
        bench_files(table, work, results)
    if "mongodb" in args.only:
        bench_mongodb(table.slice(0, args.mongo_rows), work, results)
    print(f"\n| {rows:,} rows | seconds | note |\n|---|---:|---|")
    for label, seconds, note in results:
        print(f"| {label} | {seconds:.2f} | {note} |")


if __name__ == "__main__":
    main()
