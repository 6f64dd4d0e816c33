"""The data-path settings of a model config: late data, missed windows, retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from driftwarden.config.loader import ConfigError, load_model_config
from tests.streams import agrawal_config


def _load(tmp_path, **overrides):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(agrawal_config(**overrides)))
    return load_model_config(path)


def test_defaults_keep_todays_behaviour(tmp_path):
    cfg = _load(tmp_path)
    assert cfg.lateness == timedelta(0) and cfg.max_missed_windows == 7
    assert cfg.retention.reports is None and cfg.retention.failure_samples is None
    assert cfg.retention.prune_after_run is False


def test_bad_values_are_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, data_lateness="two hours", max_missed_windows=-1, retention={"reports": "a year", "x": 1})
    msg = str(err.value)
    assert "data_lateness: expected a duration" in msg
    assert "max_missed_windows" in msg
    assert "retention.reports: expected a duration" in msg
    assert "retention.x: unknown key" in msg
