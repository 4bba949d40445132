"""What runs inside a worker process: one pipeline run, its events sent to the supervisor."""

from __future__ import annotations

import os
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecluse.engine.events import RunEvent

if TYPE_CHECKING:
    from collections.abc import Callable

    from ecluse.sdk.context import CancelToken
    from ecluse.services.platform import Platform


def run_in_worker(settings_data: dict[str, Any], run_id: str, document: dict[str, Any],
                  parameters: dict[str, Any], base_dir: str, events: Any, cancel: Any) -> None:
    """Entry point of the worker process. Never raises: the supervisor learns everything
    through ``events`` (a multiprocessing queue); a process that dies says nothing, and the
    supervisor records that too."""
    os.environ.setdefault("ECLUSE_WORKER", "1")
    try:
        lower_priority(int(settings_data.get("worker_nice") or 0))
        from ecluse.observability.logging import bind_run, configure_logging, get_logger
        from ecluse.sdk.context import CancelToken
        from ecluse.services.config import PlatformSettings
        from ecluse.services.platform import Platform

        settings = PlatformSettings(**settings_data)
        configure_logging()
        bind_run(run_id)
        log = get_logger("ecluse.worker")
        platform = Platform(settings)
        token = CancelToken()

        def watch() -> None:
            # ``cancel`` is lock-free shared memory (a process killed mid-wait on a lock or a
            # condition would leave the parent blocked forever when it signals)
            while not cancel.value:
                time.sleep(0.1)
            token.cancel()

        threading.Thread(target=watch, daemon=True, name="ecluse-cancel-watch").start()

        def on_event(ev: RunEvent) -> None:
            if ev.kind in ("node_started", "node_finished", "node_failed"):
                log.info(ev.kind, node_id=ev.node_id)
            events.put(ev.to_dict())

        result = execute(platform, run_id, document, parameters, Path(base_dir), token, on_event)
        log.info("run finished", status=result["status"])
        events.put({"kind": "__result__", "result": result})
        platform.db.dispose()
    except BaseException as exc:
        events.put({"kind": "__crash__", "message": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc(limit=5)})
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
        join = getattr(events, "join_thread", None)
        if join is not None:
            join()


def lower_priority(increment: int) -> None:
    """Leave the CPU to the API process first (on a small machine, a run computing on every
    core otherwise shares it evenly with the requests)."""
    if increment > 0 and hasattr(os, "nice"):
        os.nice(increment)


def execute(platform: Platform, run_id: str, document: dict[str, Any], parameters: dict[str, Any],
            base_dir: Path, token: CancelToken, on_event: Callable[[RunEvent], None]
            ) -> dict[str, Any]:
    """Compile and run one pipeline of the platform (its connections, its state store, its
    engine settings); the result as a dict. Shared by the inline executor's worker processes
    and the Celery workers."""
    from ecluse.engine.plan import compile_pipeline
    from ecluse.engine.run import RunOptions, run_pipeline
    from ecluse.services.connections import resolver
    from ecluse.services.platform import DatabaseStateStore

    settings = platform.settings
    plan = compile_pipeline(document, platform.registry, connections=resolver(platform),
                            parameters=parameters)
    result = run_pipeline(plan, RunOptions(
        run_id=run_id, pipeline_id=str(document.get("id")), connections=resolver(platform),
        state=DatabaseStateStore(platform.db), cancel=token, on_event=on_event,
        memory_limit=settings.memory_limit, threads=settings.threads,
        data_dir=settings.data_dir, base_dir=base_dir))
    return result.to_dict()
