from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def _flows_share_one_prefect_server(prefect_server):
    """Every flow test runs against the one session server of tests/conftest.py."""
    yield


@dataclass(frozen=True)
class DemoMonth:
    """`driftwarden demo --json` as run once for the whole test run: its config (the demo's sources beside it,
    in ``root/.driftwarden``), its home (store, registry, reports) and what it printed."""

    root: Path
    config: Path
    home: Path
    stdout: str

    @property
    def nights(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def use(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point this test's settings at the demo's home, to read it (never to change it: see ``copy``)."""
        from driftwarden.config.settings import get_settings

        monkeypatch.setenv("DRIFTWARDEN_HOME", str(self.home))
        monkeypatch.delenv("DRIFTWARDEN_STORE_URL", raising=False)
        get_settings.cache_clear()

    def copy(self, dest: Path) -> DemoMonth:
        """A copy of its own for a test that changes the store or the reports (the store's paths still name
        the shared month's report files; what the copy writes lands in the copy)."""
        shutil.copytree(self.root, dest)
        return DemoMonth(dest, dest / "config" / self.config.name, dest / "home", self.stdout)


@pytest.fixture(scope="session")
def demo_month(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[DemoMonth]:
    """The demo month, replayed once per test run and shared by the xdist workers (the first to ask runs it,
    the other waits for it): a minute and a half of work that several tests only read."""
    from typer.testing import CliRunner

    from driftwarden.config.settings import get_settings
    from driftwarden.flows.cli.app import app

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if worker_id != "master" else base
    root = shared / "demo-month"
    month = DemoMonth(root, root / "config" / "credit_risk.yaml", root / "home", "")
    with FileLock(str(shared / "demo-month.lock")):
        printed = shared / "demo-month.out"
        if not printed.exists():
            shutil.rmtree(root, ignore_errors=True)
            month.config.parent.mkdir(parents=True)
            shutil.copy(REPO / "config" / "credit_risk.yaml", month.config)
            with pytest.MonkeyPatch.context() as mp:
                month.use(mp)
                args = ["demo", "--config", str(month.config), "--json"]
                result = CliRunner().invoke(app, args, catch_exceptions=False)
            get_settings.cache_clear()
            assert result.exit_code == 0, result.output
            printed.write_text(result.stdout)
        stdout = printed.read_text()
    yield replace(month, stdout=stdout)
