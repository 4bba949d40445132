"""Imported once by the worker fork server: everything a run needs, so each forked worker
starts warm (the engine, its backends, the module catalog)."""

from __future__ import annotations

import ecluse.engine
import ecluse.orchestration.worker
import ecluse.services.connections
import ecluse.services.platform
from ecluse.engine.backends import connect_backend
from ecluse.sdk.registry import default_registry

default_registry()
__all__ = ["connect_backend", "ecluse"]
