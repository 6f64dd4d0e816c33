from __future__ import annotations

import os
from pathlib import Path

# Two xdist workers share two cores, and the runs they start in subprocesses inherit this: one OpenMP thread
# per process (scikit-learn's gradient boosting), not two each spinning while the other worker computes.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

from driftwarden.config.settings import get_settings, prepare_environment
from tests.reliability import figures

prepare_environment()


def pytest_configure(config: pytest.Config) -> None:
    figures.configure(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules of the longest tests first (a real Prefect server, then whole flows), so that the workers
    do not end on one of them while the other has nothing left; each module's tests stay together, in order."""

    def rank(item: pytest.Item) -> int:
        return 0 if item.get_closest_marker("server") else 1 if item.get_closest_marker("slow") else 2

    first: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        first[module] = min(first.get(module, 2), rank(item))
    items.sort(key=lambda item: first[item.nodeid.split("::")[0]])


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    figures.summary(terminalreporter, config)


@pytest.fixture(autouse=True)
def _environment_as_it_was():
    """Each test leaves the environment as it found it: a command run in-process may set variables for its
    whole process (``--store-url`` sets DRIFTWARDEN_STORE_URL), which a later test on the worker would inherit."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


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
