"""Bad configs through the real CLI (``validate`` and ``run``): each is refused before anything runs (exit 2),
its message naming the key; a missing source file fails naming the file (exit 1). Nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from driftwarden.flows.cli.app import app
from tests.reliability.conftest import Observed, assert_as_table
from tests.streams import agrawal_config

runner = CliRunner()
WINDOW_END = "2025-02-12"


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _write(folder: Path, data: dict[str, Any] | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _refused(case: str, config: dict[str, Any] | str, key: str, tmp_path: Path, dw_home: Path, tally=None) -> None:
    """``validate`` and ``run`` of ``config``: both refuse it (exit 2) naming ``key``; nothing is stored. The case
    is counted once (``tally`` is given for one of its variants only)."""
    path = _write(tmp_path / "model", config)
    for command in (["validate", "--config", str(path)], ["run", "--config", str(path), "--window-end", WINDOW_END]):
        code, message = _cli(*command)
        assert "Traceback" not in message, message
        assert str(path) in message, f"{command[0]}: the message does not name the file: {message}"
        assert_as_table(case, Observed("refused", message, {"key": key}, code), tally if command[0] == "run" else None)
    assert not dw_home.exists() or not any(dw_home.rglob("*.db")), "a refused config stored something"


@pytest.mark.case("cfg.unknown_key")
def test_a_misspelt_key_is_refused(tmp_path, dw_home, tally):
    _refused("cfg.unknown_key", agrawal_config(drift={"min_row": 10}), "drift.min_row", tmp_path, dw_home, tally)


@pytest.mark.case("cfg.wrong_type")
def test_text_where_a_number_belongs_is_refused(tmp_path, dw_home, tally):
    _refused("cfg.wrong_type", agrawal_config(volume={"min_rows": "many"}), "volume.min_rows", tmp_path, dw_home, tally)


@pytest.mark.case("cfg.missing_source_file")
def test_a_missing_source_file_fails_naming_it(tmp_path, dw_home, prefect_server, tally):
    from tests.streams import write_agrawal_sources

    path = write_agrawal_sources(tmp_path / "model")
    (path.parent / "predictions.csv").unlink()
    code, message = _cli("validate", "--config", str(path))
    assert "Traceback" not in message, message
    assert_as_table("cfg.missing_source_file", Observed("failed", message, {"file": "predictions.csv"}, code))
    code, output = _cli("run", "--config", str(path), "--window-end", WINDOW_END, "--json")
    [summary] = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert summary["status"] == "failed", summary
    seen = Observed("failed", summary["error"], {"file": "predictions.csv"}, code)
    assert_as_table("cfg.missing_source_file", seen, tally)


@pytest.mark.case("cfg.cron_never_fires")
def test_a_schedule_that_never_fires_is_refused(tmp_path, dw_home, tally):
    variants = (
        ("schedule", agrawal_config(schedule="0 0 30 2 *")),
        ("schedule", agrawal_config(schedule="0 0 * 2 MON#5")),  # next on 29 February 2044
        ("review.schedule", agrawal_config(review={"schedule": "0 8 31 4 *"})),
    )
    for i, (key, config) in enumerate(variants):
        _refused("cfg.cron_never_fires", config, key, tmp_path / str(i), dw_home, tally if i == 0 else None)


@pytest.mark.case("cfg.timezone_does_not_exist")
def test_a_time_zone_that_does_not_exist_is_refused(tmp_path, dw_home, tally):
    for i, zone in enumerate(("Mars/Olympus", "America", "Europe/" + "x" * 300, "../../etc/passwd", "")):
        config = agrawal_config(window={"length": "1d", "timezone": zone})
        _refused(
            "cfg.timezone_does_not_exist",
            config,
            "window.timezone",
            tmp_path / str(i),
            dw_home,
            tally if i == 0 else None,
        )


@pytest.mark.case("cfg.kpi_does_not_fit_task")
def test_a_kpi_of_another_task_is_refused(tmp_path, dw_home, tally):
    config = agrawal_config(kpis=[{"metric": "accuracy", "target": 0.9}, {"metric": "mae", "target": 1}])
    _refused("cfg.kpi_does_not_fit_task", config, "kpis.1.metric", tmp_path, dw_home, tally)
    message = _cli("validate", "--config", str(tmp_path / "model" / "model.yaml"))[1]
    assert "'mae'" in message and "binary" in message, message


@pytest.mark.case("cfg.mask_names_no_column")
def test_a_mask_naming_no_column_is_refused(tmp_path, dw_home, tally):
    config = agrawal_config(failures={"mask": ["zipcod"]})
    _refused("cfg.mask_names_no_column", config, "failures.mask", tmp_path, dw_home, tally)
    assert "zipcod" in _cli("validate", "--config", str(tmp_path / "model" / "model.yaml"))[1]


@pytest.mark.case("cfg.huge_max_per_run")
def test_a_huge_max_per_run_is_refused(tmp_path, dw_home, tally):
    for i, value in enumerate((10**12, 10**30, float("inf"), float("nan"))):
        config = agrawal_config(failures={"max_per_run": value})
        _refused(
            "cfg.huge_max_per_run",
            config,
            "failures.max_per_run",
            tmp_path / str(i),
            dw_home,
            tally if i == 0 else None,
        )


@pytest.mark.case("cfg.yaml_tags")
def test_a_yaml_tag_is_never_constructed(tmp_path, dw_home, tally):
    planted = tmp_path / "constructed"
    text = yaml.safe_dump(agrawal_config()).replace(
        "timezone: UTC", f"timezone: !!python/object/apply:os.system ['touch {planted}']"
    )
    assert "!!python" in text
    _refused("cfg.yaml_tags", text, "window.timezone", tmp_path, dw_home, tally)
    message = _cli("validate", "--config", str(tmp_path / "model" / "model.yaml"))[1]
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "!!python" in row)
    assert f"line {line}" in message and "!!python/object/apply:os.system" in message, message
    assert not planted.exists()
