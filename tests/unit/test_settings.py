"""Settings come from ECLUSE_* variables; an empty one means "not set"."""

from __future__ import annotations

import pytest

from ecluse.services.config import PlatformSettings
from ecluse.settings import Settings


def test_an_empty_variable_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECLUSE_THREADS", "")
    monkeypatch.setenv("ECLUSE_MEMORY_LIMIT", "")
    monkeypatch.setenv("ECLUSE_DATABASE_URL", "")
    assert Settings().threads is None and Settings().memory_limit is None
    assert PlatformSettings().database_url is None


def test_a_set_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECLUSE_THREADS", "3")
    assert Settings().threads == 3
