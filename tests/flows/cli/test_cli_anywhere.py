"""The installed ``driftwarden`` from a folder outside the checkout: it finds what it needs in the package and
writes only under DRIFTWARDEN_HOME (the demo's config, data, registry and store included)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # whole monitoring runs, end to end

REPO = Path(__file__).resolve().parents[3]
DRIFTWARDEN = Path(sys.executable).parent / "driftwarden"
SKIPPED = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
COMMANDS = [
    "validate", "run", "backfill", "history", "failures", "deployments", "mute", "unmute", "ack", "accept", "status",
    "postmortem", "report", "errors", "review", "serve",
    "prune", "purge", "demo", "retrain", "score", "promote", "rollback", "stress", "alerts", "db", "models",
]  # fmt: skip
"""What ``driftwarden --help`` lists, in its order."""
WRITTEN = {".parquet", ".db", ".skops", ".html", ".key", ".lock"}  # what a run or the demo writes


def _checkout_data() -> dict[str, int]:
    """The checkout's data files (its .driftwarden, and any file of a kind the CLI writes) with their mtimes:
    other files of the checkout may be edited meanwhile."""
    found = {}
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIPPED]
        for name in files:
            path = Path(folder) / name
            rel = path.relative_to(REPO)
            if rel.parts[0] == ".driftwarden" or path.suffix in WRITTEN:
                found[str(rel)] = path.stat().st_mtime_ns
    return found


@pytest.fixture
def elsewhere(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """An empty folder outside the checkout, a home beside it, and the environment naming that home."""
    from prefect.settings import PREFECT_API_URL

    folder, home = tmp_path / "elsewhere", tmp_path / "home"
    folder.mkdir()
    env = {**os.environ, "DRIFTWARDEN_HOME": str(home), "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("DRIFTWARDEN_STORE_URL", None)
    if PREFECT_API_URL.value():  # the test server: no Prefect server of its own to start per command
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    assert not folder.resolve().is_relative_to(REPO)
    return folder, home, env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_help_and_validate_from_another_folder(elsewhere, tmp_path):
    from tests.streams import write_agrawal_sources

    folder, home, env = elsewhere
    config = write_agrawal_sources(tmp_path / "model")
    before = _checkout_data()
    done = _run([str(DRIFTWARDEN), "--help"], folder, env)
    assert done.returncode == 0, done.stderr
    listed = re.findall(r"^│ ([a-z][a-z-]*) ", done.stdout, re.MULTILINE)
    assert listed == COMMANDS, done.stdout
    done = _run([str(DRIFTWARDEN), "validate", "--config", str(config)], folder, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith(f"{config}: valid (agrawal, binary, 9 features)"), done.stdout
    assert list(folder.iterdir()) == []
    assert _checkout_data() == before


def test_the_demo_config_and_data_land_in_the_home_from_any_folder(elsewhere):
    """The demo without --config, up to its backfill: the packaged config written into the home, its data and
    champion v1 there; a night scored and the config validated by the executable, all from another folder."""
    folder, home, env = elsewhere
    before = _checkout_data()
    prepare = "from driftwarden.flows.cli.demo import prepare; prepare(None, None)"
    done = _run([sys.executable, "-c", prepare], folder, env)
    assert done.returncode == 0, done.stderr
    assert "generating the demo data for credit_risk" in done.stderr
    config = home / "demo" / "credit_risk.yaml"
    assert config.exists() and (home / "demo" / "reference.parquet").exists()
    assert len(list((home / "demo" / "applicants").glob("*.parquet"))) == 30
    assert len(list((home / "demo" / "labels").glob("*.parquet"))) == 30
    assert (home / "registry" / "credit_risk" / "aliases.json").exists() and (home / "store.db").exists()

    done = _run([str(DRIFTWARDEN), "score", "--config", str(config), "--window-end", "2026-10-02"], folder, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "scored" in done.stdout and "with v1" in done.stdout, done.stdout
    assert len(list((home / "demo" / "predictions").glob("*.parquet"))) == 1
    done = _run([str(DRIFTWARDEN), "validate", "--config", str(config)], folder, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid (credit_risk, binary, 9 features)" in done.stdout
    done = _run([str(DRIFTWARDEN), "models", "--config", str(config)], folder, env)
    assert done.returncode == 0 and "v1 (champion)" in done.stdout, done.stdout + done.stderr

    assert list(folder.iterdir()) == []
    assert _checkout_data() == before
