"""Fixtures of the end-to-end tests."""

from pathlib import Path

import pytest


@pytest.fixture
def shared_cache(tmp_path_factory, monkeypatch) -> Path:
    """One cache per test session: tiny demonstrations and policies are recorded and trained once."""
    cache = tmp_path_factory.getbasetemp() / "e2e-cache"
    monkeypatch.setenv("CODEDIFFUSER_CACHE", str(cache))
    return cache
