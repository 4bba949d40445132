"""A module's Arrow stream, pulled by one thread of its own.

An engine pulls a stream from whichever of its threads runs the scan, one batch here, the next
there. Module code is not always safe for that (lxml's parser, a database driver's cursor),
and an engine thread left inside Python's code when a run stops early aborted the process at
exit. The pump alone calls the module's code; engine threads only take batches from a short
queue, and ``stop`` ends the pump before the run finishes its modules.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

_DEPTH = 2
"""Batches read ahead: the module works while the engine processes the previous batch."""
_END = object()


class StreamStopped(RuntimeError):
    """The run ended while an engine query still read the stream (a failed loader's)."""


class Pump:
    def __init__(self, reader: pa.RecordBatchReader, *, on_end: Callable[[], None],
                 on_failure: Callable[[Exception], None]) -> None:
        self._reader = reader
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_DEPTH)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._pulling = 0
        """Engine threads inside ``batches`` now (waiting for a batch)."""
        self._lock = threading.Lock()
        self._on_end = on_end
        self._on_failure = on_failure

    def batches(self) -> Iterator[pa.RecordBatch]:
        """What the engine pulls from; closing it (the engine stops early) stops the pump."""
        self._thread = threading.Thread(target=self._run, name="ecluse-stream", daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._take()
                if item is _END:
                    self._on_end()
                    return
                if isinstance(item, Exception):
                    self._on_failure(item)
                    raise item
                yield item
        finally:
            self._stopped.set()

    def halt(self) -> None:
        """Stop feeding the engine: a thread waiting for a batch gets an error instead."""
        self._stopped.set()

    def stop(self, *, wait_s: float) -> None:
        """End the pump and wait for it, and for engine threads still waiting for a batch (a
        module blocked on its source gets ``wait_s``); a stream never pulled is closed here, so
        the module releases its connection now."""
        self._stopped.set()
        if self._thread is None:
            self._reader.close()
            return
        deadline = time.monotonic() + wait_s
        self._thread.join(wait_s)
        while self._pulling and time.monotonic() < deadline:
            time.sleep(0.005)

    def _take(self) -> Any:
        with self._lock:
            self._pulling += 1
        try:
            while True:
                try:
                    return self._queue.get(timeout=0.05)
                except queue.Empty:
                    if self._stopped.is_set():
                        raise StreamStopped("the run stopped this stream before its end") from None
        finally:
            with self._lock:
                self._pulling -= 1

    def _run(self) -> None:
        try:
            for batch in self._reader:
                if not self._put(batch):
                    return
            self._put(_END)
        except Exception as exc:
            self._put(exc)
        finally:
            self._reader.close()  # the module's generator ends here, in the thread it ran in

    def _put(self, item: Any) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False
