"""REST extractor benchmark: overhead per page beyond the server's own time.

A local HTTP server (stdlib, 127.0.0.1, keep-alive) serves N pre-serialised pages of 100
nested records with cursor pagination. Contenders:
- a bare httpx loop: GET each page and ``json.loads`` it (the floor: server + HTTP + parse);
- the Ecluse ``rest`` extractor: the same pages, auth, retries, records_path, flattening,
  Arrow batches, bound in DuckDB and read to Arrow.
Overhead per page = (Ecluse - bare loop) / pages.

Usage: python bench/connectors/bench_rest.py [--pages 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ecluse.engine.backends import connect_backend  # noqa: E402
from ecluse.sdk.connections import StaticConnections, parse_connection  # noqa: E402
from ecluse.sdk.context import CancelToken, NodeContext  # noqa: E402
from ecluse.sdk.registry import default_registry  # noqa: E402


def serve(pages: int) -> tuple[ThreadingHTTPServer, str, dict[str, float]]:
    bodies = []
    for p in range(pages):
        items = [{"id": p * 100 + i, "status": "paid", "total": (p * 100 + i) * 1.5,
                  "customer": {"email": f"c{i}@x.io", "address": {"city": "Lyon", "zip": "69001"}},
                  "tags": ["a", "b"]} for i in range(100)]
        nxt = str(p + 1) if p + 1 < pages else None
        bodies.append(json.dumps({"data": {"items": items}, "next_cursor": nxt}).encode())
    stats = {"server_s": 0.0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every response
        wbufsize = 1 << 16

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            t0 = time.perf_counter()
            query = self.path.partition("?")[2]
            cursor = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv).get("cursor", "0")
            body = bodies[int(cursor)]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            stats["server_s"] += time.perf_counter() - t0

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", stats


def bare_loop(url: str) -> int:
    import httpx

    n = 0
    with httpx.Client() as client:
        cursor: str | None = "0"
        while cursor is not None:
            data = json.loads(client.get(url, params={"cursor": cursor}).content)
            n += len(data["data"]["items"])
            cursor = data["next_cursor"]
    return n


def ecluse_rest(base: str) -> int:
    work = Path(tempfile.mkdtemp())
    (work / "spill").mkdir()
    backend = connect_backend("duckdb", work_dir=work, threads=2)
    cls = default_registry().get("extractor", "rest")
    assert cls is not None
    config = {"connection": "api", "url": "/orders", "records_path": "data.items",
              "pagination": {"type": "cursor", "cursor_path": "next_cursor", "param": "cursor"}}
    conns = StaticConnections({"api": parse_connection("api", json.dumps(
        {"type": "http", "base_url": base, "auth": {"type": "bearer", "token": "t"}}))})
    ctx = NodeContext(run_id="b", pipeline_id="b", node_id="api", backend=backend, parameters={},
                      connections=conns, mode="run", work_dir=work, cancel=CancelToken())
    table = cls(cls.parse_config(config), "api").read(ctx)  # type: ignore[attr-defined]
    rows = backend.to_arrow(table).num_rows
    backend.close()
    return int(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=500)
    args = parser.parse_args()
    server, base, stats = serve(args.pages)
    try:
        ecluse_rest(base)  # warm-up: imports, first connection
        bare_loop(base + "/orders")
        results = {}
        for name, fn in (("bare httpx loop + json.loads", lambda: bare_loop(base + "/orders")),
                         ("Ecluse rest extractor (to Arrow via DuckDB)", lambda: ecluse_rest(base))):
            best = float("inf")
            for _ in range(3):
                stats["server_s"] = 0.0
                t0 = time.perf_counter()
                rows = fn()
                best = min(best, time.perf_counter() - t0)
            assert rows == args.pages * 100
            results[name] = (best, stats["server_s"])
    finally:
        server.shutdown()
    pages = args.pages
    print(f"\n{pages} pages x 100 nested records, local HTTP server, best of 3\n")
    print("| contender | seconds | ms per page | server ms per page |")
    print("|---|---:|---:|---:|")
    for name, (seconds, server_s) in results.items():
        print(f"| {name} | {seconds:.3f} | {1000 * seconds / pages:.2f} | {1000 * server_s / pages:.2f} |")
    (bare, _), (ours, _) = results.values()
    print(f"\nEcluse overhead per page beyond the bare loop: {1000 * (ours - bare) / pages:.2f} ms")


if __name__ == "__main__":
    main()
