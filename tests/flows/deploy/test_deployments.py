"""deployments/prefect.yaml points at real flows with identifier-only parameters."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect.flows import load_flow_from_entrypoint

from driftwarden.config.loader import load_model_config

REPO = Path(__file__).resolve().parents[3]


def test_every_deployment_loads_its_flow_and_config(monkeypatch):
    monkeypatch.chdir(REPO)
    spec = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())
    assert spec["deployments"]
    flows: dict[str, list[str]] = {}
    for dep in spec["deployments"]:
        flow = load_flow_from_entrypoint(dep["entrypoint"])
        flows.setdefault(flow.name, []).append(dep["name"])
        assert set(dep["parameters"]) == {"config_path"}
        cfg = load_model_config(REPO / dep["parameters"]["config_path"])
        assert dep["name"] == cfg.name
        if flow.name in ("monitor-model", "check-silence"):  # nightly, and the hourly dead-man's switch
            assert dep["schedules"][0]["timezone"] == cfg.window.timezone
        elif flow.name == "review-model":  # the review, where the config schedules one
            assert dep["schedules"] == [{"cron": cfg.review.schedule, "timezone": cfg.window.timezone}]
        else:  # retraining runs by hand or when the monitoring run's policy starts it
            assert flow.name == "retrain-model" and "schedules" not in dep
    assert sorted(flows["monitor-model"]) == sorted(flows["retrain-model"]) == sorted(flows["check-silence"])
    reviewed = [load_model_config(p) for p in sorted((REPO / "config").glob("*.yaml"))]
    assert sorted(flows.get("review-model", [])) == sorted(c.name for c in reviewed if c.review.schedule)


def test_the_committed_file_is_what_the_configs_generate(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from driftwarden.flows.cli.app import app

    monkeypatch.chdir(REPO)
    runner = CliRunner()
    assert runner.invoke(app, ["deployments", "--check"]).exit_code == 0
    stale = tmp_path / "prefect.yaml"
    stale.write_text("deployments: []\n")
    result = runner.invoke(app, ["deployments", "--check", "--out", str(stale)])
    assert result.exit_code == 1 and "out of date" in result.output


def test_serve_builds_the_same_deployments_with_live_schedules(monkeypatch):
    from driftwarden.flows.deploy.deployments import runner_deployments

    monkeypatch.chdir(REPO)
    spec = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())
    served = runner_deployments(sorted((REPO / "config").glob("*.yaml")), REPO)
    assert sorted((d.flow_name, d.name, d.parameters["config_path"]) for d in served) == sorted(
        (load_flow_from_entrypoint(d["entrypoint"]).name, d["name"], d["parameters"]["config_path"])
        for d in spec["deployments"]
    )
    monitor = [d for d in served if d.flow_name in ("monitor-model", "check-silence")]
    assert all(len(d.schedules) == 1 and d.schedules[0].schedule.timezone for d in monitor)
    assert all(not d.schedules for d in served if d.flow_name == "retrain-model")
