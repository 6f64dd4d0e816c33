from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import get_settings, prepare_environment

prepare_environment()


@pytest.fixture
def dw_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh driftwarden home (store, reports) for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("DRIFTWARDEN_HOME", str(home))
    monkeypatch.delenv("DRIFTWARDEN_STORE_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
