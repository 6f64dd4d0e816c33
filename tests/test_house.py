"""The installed distribution claims one name, ``driftwarden``: the top-level folders install as its
sub-packages, nothing generic (``config``, ``checks``, ``flows``) is importable from another folder, and the
package list in pyproject.toml names every folder that is a package (a new room that is not listed would be
missing from the wheel)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_and_mapped():
    spec = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        "driftwarden." + ".".join(init.parent.relative_to(REPO).parts)
        for top in ("checks", "config", "flows")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert set(spec["packages"]) == found
    assert spec["package-dir"] == {f"driftwarden.{top}": top for top in ("checks", "config", "flows")}


def test_nothing_generic_is_importable_from_another_folder(tmp_path):
    probe = "import importlib.util as u; print([n for n in ('checks', 'config', 'flows') if u.find_spec(n)])"
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    done = subprocess.run(
        [sys.executable, "-c", "import driftwarden.flows.cli.app, driftwarden.checks.verdict, driftwarden.config"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_the_wheel_claims_only_driftwarden(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = next(tmp_path.glob("driftwarden-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        top = zf.read(next(n for n in names if n.endswith("top_level.txt"))).decode().split()
    assert top == ["driftwarden"]
    assert {n.split("/")[0] for n in names if not n.startswith("driftwarden-")} == {"driftwarden"}
    for data in ("driftwarden/config/credit_risk.yaml", "driftwarden/flows/store/migrations/script.py.mako"):
        assert data in names
