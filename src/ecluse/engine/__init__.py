"""Compile a validated pipeline into a plan and run it. Knows nothing of HTTP or the
platform's database: the server is one client of this library, the CLI another."""

from ecluse.engine.design import node_schemas, preview_node
from ecluse.engine.events import RunEvent
from ecluse.engine.plan import Plan, compile_pipeline
from ecluse.engine.run import RunOptions, RunResult, run_pipeline

__all__ = ["Plan", "RunEvent", "RunOptions", "RunResult", "compile_pipeline", "node_schemas",
           "preview_node", "run_pipeline"]
