"""The Celery application shared by the API (which sends runs) and ``ecluse worker`` (which
executes them).

Delivery semantics, chosen so that a lost worker never loses a run nor runs it twice:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only once
  its run is recorded as finished. A prefork child killed mid-run (SIGKILL, OOM killer) makes
  the worker put the message back at once, and the run is taken over straight away.
- A whole worker killed (the machine, ``kill -9`` of the main process) cannot give its
  messages back; Redis would only redeliver them after ``visibility_timeout``. So the API
  does not wait for that: a run whose heartbeat went stale is sent again
  (``CeleryExecutor``), and ``visibility_timeout`` stays long (12 h by default, above the
  longest run), since a redelivery of a run that is still running is only a wasted message.
- Whatever the path, the worker that receives a run first takes the run's PostgreSQL
  advisory lock (``RunLock``): a duplicate delivery finds it held and drops out; a
  delivery after a death finds it free (PostgreSQL released it with the dead connection).
- Prefetch of one: a worker holds no more messages than it executes, so queued runs wait in
  Redis where any free worker can take them, and a cancelled one is dropped before it starts.
"""

from __future__ import annotations

import os
import socket
import uuid
from functools import cache
from typing import Any

from celery import Celery
from sqlalchemy.exc import OperationalError

from ecluse.services.config import PlatformSettings

TASK = "ecluse.run"


def make_celery(settings: PlatformSettings) -> Celery:
    if not settings.redis_url:
        raise ValueError("The Celery executor needs a broker: set ECLUSE_REDIS_URL "
                         "(e.g. redis://127.0.0.1:6379/0).")
    app = Celery("ecluse", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_lost_wait=1.0,  # no results to wait for: give a lost child's run back at once
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.celery_visibility_timeout_seconds},
    )
    # the metadata database unreachable (before or after the run): try the delivery again
    app.task(name=TASK, bind=True, autoretry_for=(OperationalError,), retry_backoff=2,
             retry_backoff_max=60, max_retries=None)(_run_task)
    return app


def _run_task(task: Any, run_id: str) -> str:
    """The task: executes in a prefork child of ``ecluse worker``."""
    from ecluse.orchestration.celery_run import deliver

    owner = f"{task.request.hostname or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return deliver(_child_platform(os.getpid()), run_id, owner)


@cache
def _child_platform(pid: int) -> Any:
    """One platform per worker process (built after the fork: no connection is shared with
    the parent); ``pid`` keys the cache."""
    from ecluse.orchestration.bus import make_bus
    from ecluse.services.config import platform_settings
    from ecluse.services.platform import Platform

    settings = platform_settings()
    platform = Platform(settings)
    platform.bus = make_bus(settings.redis_url)  # publish only: the API instances listen
    return platform
