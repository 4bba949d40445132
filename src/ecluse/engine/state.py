"""Local state stores (the CLI's); the server keeps state in its database."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class MemoryStateStore:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, Any]]] = {}

    def get(self, pipeline_id: str, node_id: str) -> dict[str, Any] | None:
        return self._data.get(pipeline_id, {}).get(node_id)

    def put(self, pipeline_id: str, node_id: str, value: dict[str, Any]) -> None:
        self._data.setdefault(pipeline_id, {})[node_id] = value

    def delete(self, pipeline_id: str, node_id: str) -> None:
        self._data.get(pipeline_id, {}).pop(node_id, None)

    def all(self, pipeline_id: str) -> dict[str, dict[str, Any]]:
        return dict(self._data.get(pipeline_id, {}))


class FileStateStore:
    """One JSON file per pipeline under ``<data dir>/state``, replaced atomically on write."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def _path(self, pipeline_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in pipeline_id)
        return self.directory / f"{safe}.json"

    def all(self, pipeline_id: str) -> dict[str, dict[str, Any]]:
        path = self._path(pipeline_id)
        if not path.exists():
            return {}
        data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def get(self, pipeline_id: str, node_id: str) -> dict[str, Any] | None:
        return self.all(pipeline_id).get(node_id)

    def _write(self, pipeline_id: str, data: dict[str, dict[str, Any]]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(pipeline_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, path)

    def put(self, pipeline_id: str, node_id: str, value: dict[str, Any]) -> None:
        with self._lock:
            data = self.all(pipeline_id)
            data[node_id] = value
            self._write(pipeline_id, data)

    def delete(self, pipeline_id: str, node_id: str) -> None:
        with self._lock:
            data = self.all(pipeline_id)
            data.pop(node_id, None)
            self._write(pipeline_id, data)
