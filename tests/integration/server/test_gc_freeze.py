"""What the server built at start-up is frozen out of the garbage collector's full
collections while it serves, and handed back when it stops."""

from __future__ import annotations

import gc
from typing import Any

from fastapi.testclient import TestClient

from ecluse.api import create_app


def test_startup_objects_are_frozen_while_serving(settings: dict[str, Any]) -> None:
    gc.unfreeze()
    with TestClient(create_app(**settings)) as client:
        assert client.get("/api/v1/ready").status_code == 200
        frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the modules, the app and the catalog at least
    assert gc.get_freeze_count() == 0
