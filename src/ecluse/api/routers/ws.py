"""Live updates over WebSocket: one run, or the feed of all runs."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from ecluse.security.roles import Permission, allowed
from ecluse.services import runs
from ecluse.services.auth import authenticate
from ecluse.services.errors import NotFound, ServiceError
from ecluse.services.platform import Actor, Platform

router = APIRouter(tags=["live"])


async def _accept(ws: WebSocket) -> Actor | None:
    """Authenticate with ``?token=<access token>`` (browsers cannot set headers on a
    WebSocket) or an ``Authorization: Bearer`` header; close 4401/4403 when refused."""
    platform: Platform = ws.app.state.platform
    token = ws.query_params.get("token")
    header = ws.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:]
    if not token:
        await ws.close(code=4401, reason="missing token")
        return None
    try:
        actor = await run_in_threadpool(authenticate, platform, token,
                                        ws.client.host if ws.client else None)
    except ServiceError as exc:
        await ws.close(code=4401, reason=exc.detail[:120])
        return None
    if not allowed(actor.role, Permission.read):
        await ws.close(code=4403, reason="forbidden")
        return None
    await ws.accept()
    return actor


async def _pump(ws: WebSocket, sub: Any, run_id: str | None, first: dict[str, Any] | None
                ) -> None:
    receiver: asyncio.Future[Any] = asyncio.ensure_future(ws.receive_text())
    try:
        if first is not None:
            await ws.send_json(first)
            if first["data"]["status"] in runs.TERMINAL:
                return
        while True:
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                if receiver.exception() is not None:
                    return
                receiver = asyncio.ensure_future(ws.receive_text())  # client chatter: ignored
                continue
            ev = getter.result()
            if run_id is not None and ev.get("run_id") != run_id:
                continue
            await ws.send_json(ev)
            if run_id is not None and ev.get("kind") == "run_finished":
                return
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        receiver.cancel()
        sub.close()
        with contextlib.suppress(Exception):
            await ws.close()


@router.websocket("/ws/runs/{run_id}")
async def run_events(ws: WebSocket, run_id: str) -> None:
    """Status changes, per-node progress (rows so far) and log lines of one run, as they
    happen. The first message is a snapshot of the run; the last is ``run_finished``."""
    if await _accept(ws) is None:
        return
    platform: Platform = ws.app.state.platform
    sub = ws.app.state.bus.subscribe()
    try:
        view = await run_in_threadpool(runs.get, platform, run_id)
    except NotFound:
        sub.close()
        await ws.close(code=4404, reason="no such run")
        return
    snapshot = runs.event("snapshot", view, nodes=view.nodes, error=view.error)
    await _pump(ws, sub, run_id, snapshot)


@router.websocket("/ws/runs")
async def all_runs(ws: WebSocket) -> None:
    """The feed of every run's events, from the moment the connection is accepted."""
    sub = ws.app.state.bus.subscribe()  # before accepting: nothing published after is missed
    if await _accept(ws) is None:
        sub.close()
        return
    await _pump(ws, sub, None, None)
