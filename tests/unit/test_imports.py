"""Every module of the engine's layers imports on its own, first: an import cycle shows only
when the modules in it are imported in one order (``ecluse.sdk.connection_types`` imported
first failed while ``ecluse.spec`` imported first worked), and a tool or a plugin may start
anywhere. One child interpreter forgets the package's modules before each import, so this
test's re-imports touch no other test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ecluse

LAYERS = ("sdk", "spec", "engine", "modules")

_CHILD = """
import importlib, sys
for name in sys.argv[1:]:
    for loaded in [k for k in sys.modules if k == "ecluse" or k.startswith("ecluse.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as exc:
        print(f"{name}: {exc}")
"""


def _modules() -> list[str]:
    root = Path(ecluse.__file__).parent
    names = []
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            names.append(".".join(("ecluse", *parts)))
    return names


def test_every_module_imports_first() -> None:
    names = _modules()
    assert "ecluse.sdk.connection_types" in names
    done = subprocess.run([sys.executable, "-c", _CHILD, *names], capture_output=True,
                          text=True, check=True, timeout=300)
    assert done.stdout == "", done.stdout
