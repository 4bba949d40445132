"""Imported once by the worker fork server: everything a run needs, so each forked worker
starts warm (the engine, its backends, the module catalog)."""

from __future__ import annotations

import ibis

import ecluse.engine
import ecluse.engine.backends.duckdb
import ecluse.orchestration.worker
import ecluse.services.connections
import ecluse.services.platform
from ecluse.sdk.registry import default_registry

default_registry().all()  # the catalog imports module files on demand: all of them, now
ibis.duckdb  # noqa: B018  (loads the default engine's Ibis backend and SQL dialect)
__all__ = ["ecluse"]
