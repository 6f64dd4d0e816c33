from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _flows_share_one_prefect_server(prefect_server):
    """Every flow test runs against the one session server of tests/conftest.py."""
    yield
