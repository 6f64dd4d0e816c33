from __future__ import annotations

from pathlib import Path

import pytest

from driftwarden.config.settings import get_settings, prepare_environment
from tests.reliability import figures

prepare_environment()


def pytest_configure(config: pytest.Config) -> None:
    figures.configure(config)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    figures.summary(terminalreporter, config)


@pytest.fixture
def dw_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh driftwarden home (store, reports) for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("DRIFTWARDEN_HOME", str(home))
    monkeypatch.delenv("DRIFTWARDEN_STORE_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prefect_server():
    """One ephemeral Prefect server per test process (it takes seconds to start), for every test that runs
    flows; runs emit no heartbeats, as on the embedded default (``flows.embedded``): nothing watches them, and
    each would cost a second."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60), temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def _service_missing(what: str) -> None:
    """Skip on a machine without the service; fail in CI (.ci/run sets DRIFTWARDEN_REQUIRE_SERVICES=1)."""
    import os

    if os.environ.get("DRIFTWARDEN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required in CI but not reachable")
    pytest.skip(f"{what} not reachable")


PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres_url():
    """A SQLAlchemy URL into a schema of its own on the real PostgreSQL server, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    try:
        admin = sa.create_engine(PG_BASE, connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError:
        _service_missing("PostgreSQL on 127.0.0.1:5432")
    schema = f"dw_test_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()
