"""Events a run emits while it goes (the CLI's progress display, the server's WebSocket)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["run_started", "node_started", "node_progress", "node_finished", "node_failed",
                    "log", "run_finished"]


@dataclass(frozen=True)
class RunEvent:
    kind: EventKind
    run_id: str
    node_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "node_id": self.node_id,
                "at": self.at.isoformat(), "data": self.data}
