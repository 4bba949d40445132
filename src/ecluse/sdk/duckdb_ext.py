"""DuckDB extensions come from PyPI wheels (``duckdb-ext-*``), never downloaded at run time."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any


def extension_directory() -> str | None:
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))) / "extensions")


def duckdb_config(**settings: Any) -> dict[str, Any]:
    """A DuckDB configuration that loads extensions from the installed wheels only."""
    config: dict[str, Any] = {"autoinstall_known_extensions": False, **settings}
    if ext := extension_directory():
        config["extension_directory"] = ext
    return config
