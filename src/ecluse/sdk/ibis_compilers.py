"""Import Ibis's SQL compilers one dialect at a time.

``ibis.backends.sql.compilers`` imports the compiler of every dialect Ibis knows (Athena,
BigQuery, Trino, …) and with them most of sqlglot's dialects: 0.2 s of every ``ecluse``
command and every worker start, for the one or two dialects a run uses. Before any Ibis
backend is loaded, :func:`install` puts the real package in ``sys.modules`` without running
its ``__init__``; ``compilers.DuckDBCompiler`` then imports ``compilers.duckdb`` on first use.
Submodules (``compilers.base``, ``compilers.duckdb``) import exactly as before.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

PACKAGE = "ibis.backends.sql.compilers"


def _submodule(attribute: str) -> str:
    """``DuckDBCompiler`` → ``duckdb`` (Ibis names each compiler after its file); backends
    also reach a dialect's module directly (``compilers.duckdb.compiler``)."""
    if attribute.endswith("Compiler") and attribute != "Compiler":
        return attribute.removesuffix("Compiler").lower()
    return attribute


def install() -> None:
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None:
        return
    package = importlib.util.module_from_spec(spec)

    def lazy_attribute(attribute: str) -> object:
        name = _submodule(attribute)
        if attribute.startswith("_") or importlib.util.find_spec(f"{PACKAGE}.{name}") is None:
            raise AttributeError(f"module {PACKAGE!r} has no attribute {attribute!r}")
        module = importlib.import_module(f"{PACKAGE}.{name}")
        value = module if name == attribute else getattr(module, attribute)
        setattr(package, attribute, value)
        return value

    package.__getattr__ = lazy_attribute  # type: ignore[method-assign]
    sys.modules[PACKAGE] = package
    parent: ModuleType = importlib.import_module(PACKAGE.rsplit(".", 1)[0])
    parent.compilers = package  # type: ignore[attr-defined]
