"""Fixtures shared by the end-to-end tests (demo and eval)."""

from pathlib import Path

import pytest


@pytest.fixture
def shared_cache(tmp_path_factory, monkeypatch) -> Path:
    """One cache per test session: the tiny demonstrations are recorded once for the demo and eval tests."""
    cache = tmp_path_factory.getbasetemp() / "e2e-cache"
    monkeypatch.setenv("CODEDIFFUSER_CACHE", str(cache))
    return cache
