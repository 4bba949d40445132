"""Load generator for the platform server (issue 3 targets, measured, never asserted):
list endpoints and run start under 50 concurrent clients, and the delay to the first
WebSocket event of a run. Starts its own server on a free loopback port with a temp data dir.

    .venv/bin/python bench/server_load.py [--clients 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def hammer(base: str, headers: dict[str, str], paths: list[str], clients: int,
                 seconds: float, method: str = "GET", body: dict | None = None,
                 think_ms: float = 0) -> list[float]:
    """Each client sends a request, waits for the answer, pauses ``think_ms`` (randomised
    ±50 % so clients do not march in step; 0 = closed loop, a saturation test) and goes on."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def client(i: int) -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:
            if think_ms:
                await asyncio.sleep(random.uniform(0, think_ms) / 1000)
            while time.monotonic() < stop:
                path = paths[i % len(paths)]
                t0 = time.perf_counter()
                r = await c.request(method, path, json=body)
                latencies.append((time.perf_counter() - t0) * 1000)
                assert r.status_code < 400, r.text
                if think_ms:
                    await asyncio.sleep(random.uniform(0.5, 1.5) * think_ms / 1000)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies


def report(name: str, lat: list[float], seconds: float) -> dict[str, float]:
    out = {"requests": len(lat), "rps": round(len(lat) / seconds, 1),
           "p50_ms": round(statistics.median(lat), 1), "p99_ms": round(pct(lat, 99), 1)}
    print(f"{name:28s} {out}")
    return out


async def first_ws_event(base: str, ws_base: str, headers: dict[str, str], token: str,
                         pipeline_id: str, n: int = 5) -> list[float]:
    """Milliseconds from the run's start request to its first pushed event after the snapshot
    (the executor's run_started when a worker slot is free)."""
    delays = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:
        for _ in range(n):
            async with websockets.connect(f"{ws_base}/api/v1/ws/runs?token={token}") as ws:
                t0 = time.perf_counter()
                run = (await c.post(f"/api/v1/pipelines/{pipeline_id}/runs",
                                    json={"parameters": {}})).json()
                async for msg in ws:
                    ev = json.loads(msg)
                    if ev["run_id"] == run["id"] and ev["kind"] == "run_started":
                        delays.append((time.perf_counter() - t0) * 1000)
                        break
            while (await c.get(f"/api/v1/runs/{run['id']}")).json()["status"] not in (
                    "succeeded", "failed", "cancelled"):
                await asyncio.sleep(0.2)
    return delays


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--skip-ws", action="store_true", help="skip the first-event test (for a "
                    "server started with ECLUSE_EXECUTOR_ENABLED=false, whose runs never start)")
    ap.add_argument("--think-ms", type=float, default=0, help="pause of each client between "
                    "requests (0: closed loop, as fast as the server answers)")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    data = Path(tempfile.mkdtemp(prefix="ecluse-bench-"))
    port = free_port()
    env = {**os.environ, "ECLUSE_DATA_DIR": str(data), "ECLUSE_ADMIN_USERNAME": "admin",
           "ECLUSE_ADMIN_PASSWORD": "bench-password", "ECLUSE_SCHEDULER": "off"}
    server = subprocess.Popen([sys.executable, "-m", "ecluse.cli", "serve", "--port", str(port)],
                              cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        token = httpx.post(f"{base}/api/v1/auth/login", json={
            "username": "admin", "password": "bench-password"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        doc = json.loads((root / "examples/demo/orders_pipeline.json").read_text())
        doc.pop("schedule", None)
        ids = []
        for i in range(20):
            r = httpx.post(f"{base}/api/v1/pipelines", json={**doc, "name": f"bench {i}"},
                           headers=headers)
            ids.append(r.json()["id"])
        print(f"load average before: {os.getloadavg()}")
        results = {}
        if not args.skip_ws:
            ws_delays = asyncio.run(first_ws_event(base, ws_base, headers, token, ids[0]))
            results["first_ws_event_ms"] = {"p50": round(statistics.median(ws_delays), 1),
                                            "max": round(max(ws_delays), 1)}
            print(f"{'first WS event after start':28s} {results['first_ws_event_ms']}")
        lat = asyncio.run(hammer(base, headers, ["/api/v1/pipelines", "/api/v1/runs",
                                                 "/api/v1/connections"],
                                 args.clients, args.seconds, think_ms=args.think_ms))
        results["list"] = report("list endpoints", lat, args.seconds)
        lat = asyncio.run(hammer(base, headers, [f"/api/v1/pipelines/{i}/runs" for i in ids],
                                 args.clients, args.seconds, "POST", {"parameters": {}},
                                 think_ms=args.think_ms))
        results["run_start"] = report("run start", lat, args.seconds)
        print(f"load average after: {os.getloadavg()}")
        print(json.dumps(results))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
