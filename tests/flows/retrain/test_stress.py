"""Stress tests in the retrain flow and from the CLI, on the Agrawal stream (concept change at row 10000): the
attempt records the robustness table, the worst perturbed rows stay in the registry (never in the failure log),
and a declared gate refuses a challenger that cannot take missing values."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from typer.testing import CliRunner

from driftwarden.flows.cli.app import app
from driftwarden.flows.registry.versions import Registry
from driftwarden.flows.reports.model_page import _attempt_figures
from driftwarden.flows.retrain.flow import retrain_model
from tests.flows.retrain.test_retrain import START, _load, _register, _setup
from tests.streams import AGRAWAL_CAT, AGRAWAL_NUM

AS_OF = (START + pd.Timedelta(days=9)).isoformat()  # days 0-7 labelled and mature; day 7 is the holdout
NEW_CONCEPT = {"windows": 2, "include_reference": False}  # train on days 5-6, after the concept change


def _with_predictions(folder: Path, df: pd.DataFrame) -> None:
    """The champion's predictions of days 0-8, as nightly batch scoring would have written them."""
    champion = sio.load(folder / "champion.skops", trusted=sio.get_untrusted_types(file=folder / "champion.skops"))
    features = AGRAWAL_NUM + AGRAWAL_CAT
    preds = df[df["timestamp"] < START + pd.Timedelta(days=9)][["row", "timestamp", *features]].copy()
    preds["y_pred"] = champion.predict(preds[features]).astype(int)
    preds["y_pred_proba"] = champion.predict_proba(preds[features])[:, 1]
    preds["model_version"] = "v1"
    (folder / "predictions").mkdir(exist_ok=True)
    preds.to_parquet(folder / "predictions" / "days.parquet", index=False)


def without_imputation(x: pd.DataFrame, y: pd.Series, weight):
    """A challenger that cannot take a missing value (scikit-learn's LogisticRegression refuses NaN)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [("num", StandardScaler(), AGRAWAL_NUM), ("cat", OneHotEncoder(handle_unknown="ignore"), AGRAWAL_CAT)]
    )
    model = Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=2000))])
    return model.fit(x, y, model__sample_weight=weight)


def _failure_log_size(home: Path) -> int:
    import sqlalchemy as sa

    from driftwarden.flows import store
    from driftwarden.flows.store import failure_samples as fs

    with store.open_store(f"sqlite:///{home.resolve() / 'store.db'}").connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(fs)).scalar() or 0)


@pytest.mark.slow
def test_the_retrain_records_the_stress_table_and_the_cli_stresses_a_version(tmp_path, dw_home):
    path, df = _setup(
        tmp_path / "agrawal",
        auto=False,
        training=NEW_CONCEPT,
        stress={"strengths": [0.1, 0.5], "worst_rows": 30},
        promotion={"shadow_windows": 0},  # decided at once: what the CLI then stresses is the new champion
    )
    _register(path)
    _with_predictions(path.parent, df)
    attempt = retrain_model(str(path), reason="stress", as_of=AS_OF)
    assert attempt["outcome"] == "promoted", attempt  # advisory: no gate, the stress tests do not decide
    stress = attempt["stress"]
    assert stress["models"] == ["champion", "challenger"] and stress["kpis"] == ["accuracy"]
    assert len(stress["table"]) == 7 * 2 and stress["gates"] == [] and stress["refused_by"] is None
    noise = {c["strength"]: c["scores"] for c in stress["table"] if c["perturbation"] == "noise"}
    assert noise[0.5]["challenger"]["accuracy"] < noise[0.1]["challenger"]["accuracy"]
    assert set(stress["shifted"]) <= set(AGRAWAL_NUM) and len(stress["shifted"]) == 3
    registry = Registry(_load(path))
    assert registry.attempts()[-1]["stress"]["table"] == stress["table"]
    rows = registry.stress_rows(2)
    assert rows is not None and 0 < len(rows) <= 60 and set(rows["model"]) == {"champion", "challenger"}
    assert "row" not in rows and "y" not in rows  # the id is never kept
    assert _failure_log_size(dw_home) == 0  # synthetic rows never reach the failure log
    runner = CliRunner()
    listing = runner.invoke(app, ["models", "--config", str(path)])
    assert listing.exit_code == 0 and "accuracy" in listing.output and "->" in listing.output, listing.output
    # The CLI stresses a version beside the champion (now v2) on the holdout a retrain would use.
    result = runner.invoke(app, ["stress", "--config", str(path), "--version", "1", "--as-of", AS_OF, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["versions"] == {"champion": "v2", "challenger": "v1"} and record["version"] == 1
    assert record["rows"] == 2000 and registry.stress(1)["table"] == record["table"]
    printed = runner.invoke(app, ["stress", "--config", str(path), "--as-of", AS_OF])
    assert printed.exit_code == 0 and "missing" in printed.output and "unseen_category" in printed.output
    unknown = runner.invoke(app, ["stress", "--config", str(path), "--version", "9"])
    assert unknown.exit_code == 2 and "no version 9" in unknown.output


@pytest.mark.slow
def test_a_stress_gate_refuses_a_challenger_that_cannot_take_missing_values(tmp_path, dw_home):
    gates = [{"perturbation": "missing", "strength": 0.1}, {"perturbation": "noise", "strength": 0.1}]
    path, df = _setup(
        tmp_path / "agrawal",
        auto=False,
        training=NEW_CONCEPT,
        trainer="tests.flows.retrain.test_stress:without_imputation",
        stress={"perturbations": ["noise"], "strengths": [0.1], "gates": gates},
    )
    _register(path)
    _with_predictions(path.parent, df)
    attempt = retrain_model(str(path), reason="stress gate", as_of=AS_OF)
    assert attempt["outcome"] == "refused" and attempt["champion_after"] == 1, attempt
    assert attempt["refused_by"]["perturbation"] == "missing" and attempt["refused_by"]["strength"] == 0.1
    assert attempt["reasons"][0].startswith("the challenger is refused by the stress gate missing at 0.1")
    # Without the gate it would have been promoted: it beats the champion on the clean holdout.
    assert attempt["reasons"][1].startswith("the challenger beats the champion"), attempt["reasons"]
    missing = next(c for c in attempt["stress"]["table"] if c["perturbation"] == "missing")
    assert "NaN" in missing["errors"]["challenger"]
    registry = Registry(_load(path))
    assert registry.aliases()["champion"] == 1 and registry.version(2).meta["comparison_passed"] is False
    assert registry.last_attempt_time() is not None  # a verdict: the cooldown starts
    event = _attempt_figures(attempt)  # the model page's retrain event
    assert "Stress tests on 2,000 holdout rows" in event and "refused by the stress gate missing at 0.1" in event
