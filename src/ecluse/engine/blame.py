"""Put an execution failure on the node that caused it.

Relations are lazy, so a bad value in a transformer only raises when the query that reads it
runs: inside a loader's write, a preview, or while a step feeding several others is
materialised. Each transformer upstream is asked, in execution order, whether its rows explain
the failure (``Transformer.explain_failure``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecluse.engine.plan import Plan
from ecluse.sdk.errors import EcluseError, NodeError
from ecluse.sdk.module import Inputs, Transformer

if TYPE_CHECKING:
    from ecluse.engine.build import BuiltGraph


def blame(plan: Plan, built: BuiltGraph, node_id: str, error: NodeError) -> NodeError:
    """The error of the transformer upstream of ``node_id`` whose rows caused ``error``, with
    the engine's message kept as the cause; ``error`` itself when none does."""
    if isinstance(error.cause, EcluseError) or error.cause is None:
        return error  # a module's own, deliberate error already names its node
    for pn in plan.upstream(node_id):
        if not isinstance(pn.module, Transformer) or pn.id not in built.contexts:
            continue
        try:
            inputs = Inputs({port: [built.outputs[src] for src in sources]
                             for port, sources in pn.inputs.items()})
            found = pn.module.explain_failure(inputs, built.contexts[pn.id])
        except Exception:  # noqa: S112 - an input read once (a stream) cannot be checked: keep the error
            continue
        if found is not None:
            found.cause = error.cause
            return found
    return error
