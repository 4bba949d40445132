"""Put an execution failure on the node that caused it.

Relations are lazy, so a bad value in a transformer, or an extractor's failure while it streams
rows, only raises when the query that reads it runs: inside a loader's write, a preview, or
while a step feeding several others is materialised. A stream that failed names its extractor;
otherwise each extractor and transformer upstream is asked, in execution order, whether its rows
explain the failure (``explain_failure``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecluse.engine.plan import Plan
from ecluse.sdk.errors import ConfigError, EcluseError, NodeError
from ecluse.sdk.module import Extractor, Inputs, Transformer

if TYPE_CHECKING:
    from ecluse.engine.build import BuiltGraph


def blame(plan: Plan, built: BuiltGraph, node_id: str, error: NodeError) -> NodeError:
    """The error of the extractor upstream of ``node_id`` whose stream failed, or of the
    transformer whose rows caused ``error`` (with the engine's message kept as the cause);
    ``error`` itself when none did."""
    upstream = plan.upstream(node_id)
    ids = {pn.id for pn in upstream}
    for stream in built.streams:
        if stream.failure is not None and stream.node_id in ids:
            return as_node_error(stream.node_id, stream.failure)
    if isinstance(error.cause, EcluseError) or error.cause is None:
        return error  # a module's own, deliberate error already names its node
    for pn in upstream:
        if pn.id not in built.contexts:
            continue
        try:
            if isinstance(pn.module, Extractor):
                found = pn.module.explain_failure(built.contexts[pn.id], error.cause)
            elif isinstance(pn.module, Transformer):
                inputs = Inputs({port: [built.outputs[src] for src in sources]
                                 for port, sources in pn.inputs.items()})
                found = pn.module.explain_failure(inputs, built.contexts[pn.id])
            else:
                continue
        except Exception:  # noqa: S112 - an input read once (a stream) cannot be checked: keep the error
            continue
        if found is not None:
            found.cause = error.cause
            return found
    return error


def as_node_error(node_id: str, exc: BaseException) -> NodeError:
    if isinstance(exc, NodeError):
        return exc
    field_name = exc.field if isinstance(exc, ConfigError) else None
    return NodeError(node_id, describe_exception(exc), cause=exc, field=field_name)


def describe_exception(exc: BaseException) -> str:
    """One readable sentence for an exception from a module, Ibis or an engine."""
    text = str(exc).strip()
    if isinstance(exc, EcluseError):
        return text
    if hasattr(exc, "errors") and callable(exc.errors):  # pydantic ValidationError
        return text.splitlines()[0]
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("LINE", "  "))]
    head = lines[0] if lines else type(exc).__name__
    return head if len(head) < 500 else head[:497] + "..."
