"""What a module sees of the run it takes part in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ecluse.sdk.backend import Backend
from ecluse.sdk.connections import Connection, ConnectionResolver, require
from ecluse.sdk.errors import RunCancelled

Mode = Literal["run", "preview", "schema"]


class StateStore(Protocol):
    """Per pipeline and node state (incremental high-water marks, manifests of files read)."""

    def get(self, pipeline_id: str, node_id: str) -> dict[str, Any] | None: ...

    def put(self, pipeline_id: str, node_id: str, value: dict[str, Any]) -> None: ...

    def delete(self, pipeline_id: str, node_id: str) -> None: ...

    def all(self, pipeline_id: str) -> dict[str, dict[str, Any]]: ...


class CancelToken:
    """Set once to cancel; callbacks (e.g. interrupting a running query) fire at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it."""
        with self._lock:
            self._callbacks.append(callback)
            already = self._event.is_set()
        if already:
            callback()

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise RunCancelled


@dataclass
class NodeContext:
    run_id: str
    pipeline_id: str
    node_id: str
    backend: Backend
    parameters: Mapping[str, Any]
    connections: ConnectionResolver
    mode: Mode
    work_dir: Path
    cancel: CancelToken
    previous_state: dict[str, Any] | None = None
    sample_rows: int | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    """Relative paths in configs resolve from here (the pipeline file's folder in the CLI)."""
    upstream: Mapping[str, list[str]] = field(default_factory=dict)
    """Input port -> ids of the nodes feeding it, in edge order (to name inputs in SQL)."""
    on_progress: Callable[[str, int], None] | None = None
    on_log: Callable[[str, str, str, Mapping[str, Any]], None] | None = None
    artifacts_dir: Path | None = None
    """A folder kept after the run for files users look at (quarantined rows...)."""
    staged_state: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    """Figures the module reports (``rows_rejected``...); merged into the node's metrics."""
    shared: dict[str, Any] = field(default_factory=dict)
    """Resources shared by the nodes of one run (one connection per database...); the same
    dict for every node; the engine closes what it holds (``close()``) when the run ends."""
    written: frozenset[str] = frozenset()
    """The databases the run's loaders write, by ``Loader.warehouse_key``: a source the run
    also loads into opens it for writing, any other read-only (so other programs can read it
    at the same time)."""
    scratch: dict[str, Any] = field(default_factory=dict)
    """The module's own per-run notes (kept between ``read`` and ``finish``)."""

    def connection(self, name: str) -> Connection:
        return require(self.connections, name)

    def set_state(self, value: dict[str, Any]) -> None:
        """Stage new state; the engine saves it only if the whole run commits."""
        self.staged_state = value

    def progress(self, rows: int) -> None:
        """Report rows processed so far by this node (for live progress)."""
        if self.on_progress is not None:
            self.on_progress(self.node_id, rows)

    def log(self, message: str, *, level: str = "info", **fields: Any) -> None:
        if self.on_log is not None:
            self.on_log(self.node_id, level, message, fields)

    def resolve_path(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p
