"""The ``ecluse`` command's entry point: no cyclic garbage collection while it loads.

Importing Ibis, sqlglot, PyArrow and Polars creates a few hundred thousand long-lived objects;
the collector walks them over and over while they load (about 300 collections, 0.05 to 0.2 s of
every ``ecluse run``) and finds nothing to free. :func:`main` turns the collector off before
importing the command line; :func:`settle` moves everything loaded so far to the permanent
generation, which later collections skip, and turns the collector back on.
"""

from __future__ import annotations

import gc

_loading = False


def main() -> None:
    global _loading
    _loading = True
    gc.disable()
    from ecluse.cli import app

    app()


def settle() -> None:
    """The start-up is over: freeze what it made and collect normally from now on."""
    global _loading
    if _loading:
        _loading = False
        gc.freeze()
        gc.enable()
