"""Engine backends: where relations live and how files are scanned and written."""

from __future__ import annotations

from pathlib import Path

from ecluse.engine.backends.base import EngineBackend


def connect_backend(name: str, *, work_dir: Path, memory_limit: str | None = None,
                    threads: int | None = None) -> EngineBackend:
    if name == "duckdb":
        from ecluse.engine.backends.duckdb import DuckDBBackend

        return DuckDBBackend(work_dir=work_dir, memory_limit=memory_limit, threads=threads)
    if name == "polars":
        from ecluse.engine.backends.polars import PolarsBackend

        return PolarsBackend(work_dir=work_dir)
    if name == "pyspark":
        from ecluse.engine.backends.pyspark import PySparkBackend

        return PySparkBackend(work_dir=work_dir)
    raise ValueError(f"unknown engine {name!r}; use duckdb, polars or pyspark")


__all__ = ["EngineBackend", "connect_backend"]
