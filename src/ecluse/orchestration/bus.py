"""Pub/sub of run events: in-process by default, Redis when ``ECLUSE_REDIS_URL`` is set (so
several API instances serve the same events)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

CHANNEL = "ecluse:runs"


class Subscription:
    def __init__(self, bus: InProcessBus, loop: asyncio.AbstractEventLoop) -> None:
        self._bus, self.loop = bus, loop
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)

    def offer(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a slow client loses events, not the server
            self.queue.put_nowait(event)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)


class InProcessBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

    def publish(self, event: dict[str, Any]) -> None:
        self.deliver(event)

    def deliver(self, event: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # its loop closed
                self.unsubscribe(sub)

    def subscribe(self) -> Subscription:
        sub = Subscription(self, asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


class RedisBus(InProcessBus):
    """Publishes to a Redis channel; one listener thread per instance fans events out to this
    instance's subscribers (its WebSockets)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self._redis = redis.Redis.from_url(url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()

    def publish(self, event: dict[str, Any]) -> None:
        self._redis.publish(CHANNEL, json.dumps(event, default=str))

    def start(self) -> None:
        self._pubsub.subscribe(CHANNEL)
        self._thread = threading.Thread(target=self._listen, name="ecluse-redis-bus", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._pubsub.get_message(timeout=0.5)
            except Exception:
                if self._stop.is_set():
                    return
                self._stop.wait(1.0)
                continue
            if message and message.get("type") == "message":
                with contextlib.suppress(ValueError):
                    self.deliver(json.loads(message["data"]))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._pubsub.close()
            self._redis.close()


def make_bus(redis_url: str | None) -> InProcessBus:
    return RedisBus(redis_url) if redis_url else InProcessBus()
