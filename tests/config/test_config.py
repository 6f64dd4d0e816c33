"""Config errors name the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from driftwarden.config.loader import ConfigError, load_model_config
from tests.streams import agrawal_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_demo_config_is_valid():
    cfg = load_model_config(REPO / "config" / "credit_risk.yaml")
    assert cfg.name == "credit_risk" and cfg.window.timezone == "Europe/Berlin"
    assert cfg.resolve(cfg.sources.reference.path).startswith(str(REPO))


def test_unknown_key_is_refused_with_file_and_key(tmp_path):
    data = agrawal_config()
    data["drift"] = {"min_row": 10}
    with pytest.raises(ConfigError) as err:
        load_model_config(write(tmp_path, data))
    assert str(tmp_path / "model.yaml") in str(err.value) and "drift.min_row: unknown key" in str(err.value)


def test_wrong_types_and_missing_keys_are_named(tmp_path):
    data = agrawal_config(window={"length": "25h", "timezone": "Mars/Olympus"})
    del data["columns"]["id"]
    data["kpis"] = [{"metric": "mae", "target": "high"}]
    msg = str(pytest.raises(ConfigError, load_model_config, write(tmp_path, data)).value)
    assert "columns.id: required key is missing" in msg
    assert "window.length" in msg and "window.timezone" in msg and "Mars/Olympus" in msg
    assert "kpis.0.target" in msg


def test_kpi_must_fit_the_task_and_malformed_yaml_is_named(tmp_path):
    data = agrawal_config(kpis=[{"metric": "mae", "target": 1}])
    assert "does not fit task 'binary'" in str(
        pytest.raises(ConfigError, load_model_config, write(tmp_path, data)).value
    )
    msg = str(pytest.raises(ConfigError, load_model_config, write(tmp_path, "name: [unclosed")).value)
    assert "not valid YAML" in msg and "model.yaml" in msg
    assert "cannot read config file" in str(pytest.raises(ConfigError, load_model_config, tmp_path / "nope.yaml").value)
