"""Retraining closes the loop on the Agrawal stream (concept change at row 10000), with batch scoring on:
monitoring breaches, the policy starts retraining, the challenger is promoted on a holdout it never saw, and
the windows scored by the new champion recover."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier
from typer.testing import CliRunner

from driftwarden.flows.cli.app import app
from driftwarden.flows.monitor.flow import monitor_model
from driftwarden.flows.registry.trust import RegistryError
from driftwarden.flows.registry.versions import Registry
from tests.streams import AGRAWAL_CAT, AGRAWAL_NUM, agrawal, agrawal_config

ROWS_PER_DAY = 2000
START = pd.Timestamp("2024-01-01", tz="UTC")


def _retimed(revert_from: int | None = None) -> pd.DataFrame:
    """The stream at 2,000 rows a day: days 0-4 follow the old concept, days 5-9 the new one; with
    ``revert_from``, the old concept is back from that day on (old-concept rows again, under new ids)."""
    df = agrawal()
    if revert_from is not None:
        keep = revert_from * ROWS_PER_DAY
        back = df.iloc[10_000 - (len(df) - keep) : 10_000].copy()  # the last rows before the change
        back["row"] = back["row"] + 100_000
        df = pd.concat([df.iloc[:keep], back], ignore_index=True)
        df["timestamp"] = START + pd.to_timedelta(df.index * 86_400 / ROWS_PER_DAY, unit="s")
        return df
    df["timestamp"] = START + pd.to_timedelta(df["row"] * 86_400 / ROWS_PER_DAY, unit="s")
    return df


def _setup(folder: Path, revert_from: int | None = None, **retrain: object) -> tuple[Path, pd.DataFrame]:
    folder.mkdir(parents=True, exist_ok=True)
    df = _retimed(revert_from)
    features = AGRAWAL_NUM + AGRAWAL_CAT
    df[["row", "timestamp", *features]].to_csv(folder / "features.csv", index=False)
    labels = df[["row", "y"]].assign(labelled_at=df["timestamp"] + pd.Timedelta(hours=6))
    labels.to_csv(folder / "labels.csv", index=False)
    champion = HistGradientBoostingClassifier(random_state=0).fit(df[features][:5000], df["y"][:5000].astype(str))
    (folder / "champion.skops").write_bytes(sio.dumps(champion))
    ref = df.iloc[5000:10000].copy()
    ref["y_pred"] = champion.predict(ref[features]).astype(int)
    ref["y_pred_proba"] = champion.predict_proba(ref[features])[:, 1]
    ref.to_csv(folder / "reference.csv", index=False)
    policy = {
        "auto": True,
        "consecutive": 2,
        "min_labelled_rows": 1000,
        "cooldown": "3d",
        "registry": "registry",
        "holdout": {"windows": 1, "min_rows": 300},
        "scoring": {"enabled": True},
        # one 2,000-row day decides a waiting challenger (the default asks 3,000 rows: two days here)
        "promotion": {"shadow_min_rows": 2000},
        **retrain,
    }
    cfg = agrawal_config(
        sources={
            "predictions": {"path": "predictions/*.parquet"},
            "labels": {"path": "labels.csv", "arrived_at": "labelled_at"},
            "reference": {"path": "reference.csv"},
            "features": {"path": "features.csv"},
        },
        label_horizon="2d",
        kpis=[{"metric": "accuracy", "target": 0.9, "min_labelled": 100}],
        retrain=policy,
    )
    path = folder / "agrawal.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, df


def _register(path: Path) -> None:
    result = CliRunner().invoke(
        app, ["models", "register", "--config", str(path), "--file", str(path.parent / "champion.skops")]
    )
    assert result.exit_code == 0, result.output


def _night(path: Path, day: int) -> dict:
    end = START + pd.Timedelta(days=day + 1)
    return monitor_model(str(path), window_end=end.isoformat(), as_of=(end + pd.Timedelta(days=1)).isoformat())


@pytest.mark.slow
def test_concept_change_retrains_promotes_and_recovers(tmp_path, dw_home):
    path, df = _setup(tmp_path / "agrawal")
    _register(path)
    nights = [_night(path, day) for day in range(10)]
    status = [n["status"] for n in nights]
    accuracy = [n["kpis"]["accuracy"]["value"] for n in nights]
    assert status[:5] == ["ok"] * 5
    assert status[5:7] == ["breach", "breach"] and nights[5]["causes"] == ["concept_change"]
    assert all(a > 0.95 for a in accuracy[:5]) and all(a < 0.6 for a in accuracy[5:7])
    # The policy waits for two consecutive breached mature windows, then retrains once.
    assert nights[5]["retrain"]["started"] is False and "1 of 2" in nights[5]["retrain"]["reason"]
    assert nights[6]["retrain"]["started"] is True
    attempt = nights[6]["retrain"]["attempt"]
    # It beat the champion on its holdout (day 6, a window whose breach started the retrain), so it waits,
    # registered but not served, for a window that did not choose the champion's low score: day 7, scored by
    # v1, whose labels night 8's run knows. That run decides first, then scores its own night with v2.
    assert attempt["outcome"] == "pending" and attempt["champion_after"] == 1, attempt
    assert attempt["p_value"] < 1e-6
    assert nights[7]["retrain"]["promotion"]["state"] == "waiting"  # day 7 not scored yet when night 7 began
    decided = nights[8]["retrain"]["promotion"]
    assert decided["state"] == "promoted" and decided["version"] == 2 and decided["p_value"] < 1e-6, decided
    assert decided["rows"] == ROWS_PER_DAY
    assert accuracy[7] < 0.6 and all(a > 0.9 for a in accuracy[8:]), accuracy
    assert [n["status"] for n in nights[8:]] == ["ok"] * 2
    registry = Registry(_load(path))
    [record] = registry.attempts()
    assert record["outcome"] == "promoted" and record["champion_after"] == 2
    assert record["shadow"]["state"] == "promoted" and record["shadow"]["windows_used"] == [
        str(START + pd.Timedelta(days=7)).replace(" ", "T")
    ]
    assert record["retrain_holdout"]["holdout_scores"]["champion"]["accuracy"] < 0.6  # the trigger window, as context
    assert record["shadow"]["scores"]["challenger"]["accuracy"] > 0.9
    listing = CliRunner().invoke(app, ["models", "--config", str(path)])
    assert listing.exit_code == 0 and "promoted" in listing.output and "(shadow)" in listing.output, listing.output
    v2 = registry.version(2).meta
    day = lambda d: str(START + pd.Timedelta(days=d))  # noqa: E731
    assert v2["training_windows"] == [day(5)] and v2["holdout_windows"] == [day(6)]
    assert v2["holdout_scores"]["champion"]["accuracy"] < 0.6 < 0.9 < v2["holdout_scores"]["challenger"]["accuracy"]
    written = pd.read_parquet(tmp_path / "agrawal" / "predictions")
    assert set(written["model_version"]) == {"v1", "v2"}
    assert (written[written["timestamp"] >= START + pd.Timedelta(days=8)]["model_version"] == "v2").all()
    # After the promotion the drift reference is the holdout scored by the new champion: a new version.
    from driftwarden.config.settings import get_settings
    from driftwarden.flows import store

    refs = pd.read_sql(
        'select version, source from "references"', store.open_store(get_settings().resolved_store_url())
    )
    assert list(refs["version"]) == [1, 2]
    print("accuracy by night:", [round(a, 3) for a in accuracy])


def _load(path: Path):
    from driftwarden.config.loader import load_model_config

    return load_model_config(path)


@pytest.mark.slow
def test_a_challenger_that_won_only_on_its_holdout_is_refused_on_the_shadow_windows(tmp_path, dw_home):
    """A change that passes (days 5-6 follow a new concept, the old one is back from day 7): the challenger
    trained on day 5 wins on day 6, the window whose breach started the retrain, and loses on day 7, the window
    after it. Decided at once it would have been promoted; judged on day 7 it is refused and v1 stays."""
    path, _ = _setup(tmp_path / "agrawal", revert_from=7)
    _register(path)
    nights = [_night(path, day) for day in range(10)]
    assert [n["status"] for n in nights[5:7]] == ["breach", "breach"]
    attempt = nights[6]["retrain"]["attempt"]
    assert attempt["outcome"] == "pending", attempt
    decided = nights[8]["retrain"]["promotion"]
    assert decided["state"] == "refused" and decided["version"] == 2, decided
    registry = Registry(_load(path))
    assert registry.aliases()["champion"] == 1
    [record] = registry.attempts()
    assert record["outcome"] == "kept" and record["shadow"]["state"] == "refused"
    assert record["retrain_holdout"]["holdout_scores"]["challenger"]["accuracy"] > 0.9  # it did win there
    assert record["shadow"]["scores"]["challenger"]["accuracy"] < record["shadow"]["scores"]["champion"]["accuracy"]
    assert [n["status"] for n in nights[7:]] == ["ok"] * 3  # v1 serves the old concept, back
    written = pd.read_parquet(tmp_path / "agrawal" / "predictions")
    assert set(written["model_version"]) == {"v1"}
    listing = CliRunner().invoke(app, ["models", "--config", str(path)])
    assert listing.exit_code == 0 and "refused" in listing.output, listing.output
    # The next retrain may start once it is decided: the policy no longer waits for it.
    assert "waits for its shadow windows" not in nights[9]["retrain"]["reason"]


@pytest.mark.slow
def test_manual_retrain_registry_commands_and_a_tampered_model(tmp_path, dw_home):
    # decided at once, on the retrain's holdout: the record says that window selected the champion's low score
    path, _ = _setup(tmp_path / "agrawal", auto=False, promotion={"shadow_windows": 0})
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "failures": {"mask": ["row"]}}))  # the failure log keeps id tokens
    _register(path)
    nights = [_night(path, day) for day in range(4, 7)]  # the day before the change, and two after it
    assert [n["status"] for n in nights] == ["ok", "breach", "breach"]
    # The policy would retrain, but automatic retraining is off: the run record says so and nothing starts.
    assert nights[2]["retrain"]["started"] is False and "attempt" not in nights[2]["retrain"]
    assert nights[2]["retrain"]["reason"].startswith("accuracy breached on 2 consecutive mature windows")
    assert Registry(_load(path)).aliases()["champion"] == 1
    runner = CliRunner()
    as_of = (START + pd.Timedelta(days=8)).isoformat()  # what was known two days after the breaches
    bad = runner.invoke(app, ["retrain", "--config", str(path), "--as-of", "yesterday"])
    assert bad.exit_code == 2 and "--as-of" in bad.output
    result = runner.invoke(
        app, ["retrain", "--config", str(path), "--reason", "on-call saw the breach", "--as-of", as_of, "--json"]
    )
    assert result.exit_code == 0, result.output
    attempt = json.loads(result.output.strip().splitlines()[-1])
    assert attempt["outcome"] == "promoted" and attempt["cause"] == "concept_change", attempt
    assert "low by selection" in attempt["judged_on"]
    assert attempt["as_of"].startswith("2024-01-09"), attempt["as_of"]
    # The failure samples v2 was trained on are kept by retention, found by their tokens.
    import sqlalchemy as sa

    from driftwarden.flows import store
    from driftwarden.flows.store import failure_samples as fs

    with store.open_store(f"sqlite:///{dw_home.resolve() / 'store.db'}").connect() as conn:
        kept = conn.execute(sa.select(sa.func.count()).where(fs.c.used_in_training.is_(True))).scalar()
        tokens = conn.execute(sa.select(fs.c.row_id).where(fs.c.used_in_training.is_(True)).limit(1)).scalar()
    assert kept > 0 and str(tokens).startswith("hmac:"), (kept, tokens)
    # validate says which reference is in force, and still checks the configured one (a rollback needs it).
    checked = runner.invoke(app, ["validate", "--config", str(path)])
    assert checked.exit_code == 0 and "in force: v2's holdout, from the registry" in checked.output, checked.output
    raw = yaml.safe_load(path.read_text())
    raw["sources"]["reference"]["path"] = "referense.csv"
    (path.parent / "typo.yaml").write_text(yaml.safe_dump(raw))
    typo = runner.invoke(app, ["validate", "--config", str(path.parent / "typo.yaml")])
    assert typo.exit_code != 0 and "referense.csv" in typo.output, typo.output
    assert attempt["reason"] == "on-call saw the breach" and attempt["trigger"] == "manual"
    status = runner.invoke(app, ["status", str(path), "--json"])
    assert status.exit_code == 0, status.output
    board = json.loads(status.output.strip().splitlines()[-1])
    assert board["champion"] == "v2" and board["status"] == "breach" and board["breaches_open"] == 2
    assert board["last_retrain"]["outcome"] == "promoted" and board["next_run"] > board["last_window"]
    assert "agrawal/kpi/accuracy (critical)" in board["open_conditions"], board
    listing = runner.invoke(app, ["models", "--config", str(path)])
    assert listing.exit_code == 0 and "v2 (champion)" in listing.output, listing.output
    # Rollback and promote move the alias by hand.
    assert runner.invoke(app, ["rollback", "--config", str(path)]).exit_code == 0
    assert Registry(_load(path)).aliases()["champion"] == 1
    assert runner.invoke(app, ["promote", "--config", str(path), "--version", "2"]).exit_code == 0
    assert runner.invoke(app, ["promote", "--config", str(path), "--version", "9"]).exit_code == 2
    # A model file changed on disk is refused before anything is unpickled.
    model_file = tmp_path / "agrawal" / "registry" / "agrawal" / "versions" / "2" / "model.skops"
    blob = bytearray(model_file.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    model_file.write_bytes(bytes(blob))
    with pytest.raises(RegistryError, match="sha256 .* does not match"):
        Registry(_load(path)).load(2)
    end = (START + pd.Timedelta(days=8)).isoformat()
    scored = runner.invoke(app, ["score", "--config", str(path), "--window-end", end])
    assert scored.exit_code != 0
    failed = runner.invoke(app, ["run", "--config", str(path), "--window-end", end, "--json"])
    assert failed.exit_code == 1 and "does not match the registered" in json.loads(failed.output)["error"]


def test_registering_a_file_that_is_not_a_model_is_refused(tmp_path, dw_home):
    path, _ = _setup(tmp_path / "agrawal")
    bogus = tmp_path / "model.skops"
    bogus.write_bytes(b"not a zip file")
    result = CliRunner().invoke(app, ["models", "register", "--config", str(path), "--file", str(bogus)])
    assert result.exit_code == 2 and "not a readable skops file" in " ".join(result.output.split())
    assert Registry(_load(path)).versions() == []


def broken_trainer(x, y, weight):
    """A trainer named in a config that crashes, as user code sometimes does."""
    raise RuntimeError("out of memory while fitting")


@pytest.mark.slow
def test_a_crashed_training_never_touches_the_champion_and_the_webhook_hears_of_promotions(
    tmp_path, dw_home, monkeypatch
):
    import http.server
    import threading

    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the stdlib's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PROMOTION_HOOK", f"http://127.0.0.1:{server.server_address[1]}/promoted?token=s3cret")
    try:
        path, _ = _setup(
            tmp_path / "agrawal",
            auto=False,
            trainer="tests.flows.retrain.test_retrain:broken_trainer",
            webhook_url="${PROMOTION_HOOK}",
            export_path=str(tmp_path / "serving" / "model.skops"),
            promotion={"shadow_windows": 0},
        )
        _register(path)
        for day in range(5, 7):
            _night(path, day)
        runner = CliRunner()
        crashed = runner.invoke(app, ["retrain", "--config", str(path), "--json"])
        assert crashed.exit_code == 1
        attempt = json.loads(crashed.output.strip().splitlines()[-1])
        assert attempt["outcome"] == "failed" and "out of memory while fitting" in attempt["error"]
        registry = Registry(_load(path))
        assert registry.aliases()["champion"] == 1 and [v.number for v in registry.versions()] == [1]
        assert received == []
        # The default trainer succeeds: promoted, exported where the server picks it up, and announced.
        raw = yaml.safe_load(path.read_text())
        raw["retrain"].pop("trainer")
        path.write_text(yaml.safe_dump(raw))
        ok = runner.invoke(app, ["retrain", "--config", str(path), "--json"])
        assert ok.exit_code == 0 and json.loads(ok.output.strip().splitlines()[-1])["outcome"] == "promoted"
        assert (tmp_path / "serving" / "model.skops").read_bytes() == (
            tmp_path / "agrawal" / "registry" / "agrawal" / "versions" / "2" / "model.skops"
        ).read_bytes()
        assert [r["champion"] for r in received] == [2]
        assert "s3cret" not in json.dumps(registry.attempts())
        # A rollback by hand reaches the serving side too: v1 exported back, and announced; so does a promote.
        back = runner.invoke(app, ["rollback", "--config", str(path), "--reason", "v2 misbehaves"])
        assert back.exit_code == 0, back.output
        v1 = tmp_path / "agrawal" / "registry" / "agrawal" / "versions" / "1" / "model.skops"
        assert (tmp_path / "serving" / "model.skops").read_bytes() == v1.read_bytes()
        again = runner.invoke(app, ["promote", "--config", str(path), "--version", "2"])
        assert again.exit_code == 0, again.output
        assert [r["champion"] for r in received] == [2, 1, 2]
        assert received[1]["reasons"] == ["v2 misbehaves"]
    finally:
        server.shutdown()


def test_a_retrain_that_cannot_even_start_is_reported_not_raised(monkeypatch):
    """The monitoring result is already stored when the policy starts retraining: a registry that cannot be
    reached (no attempt recorded yet) must come back as a failed attempt, not fail monitor-model."""
    from driftwarden.checks.policy import RetrainDecision
    from driftwarden.flows.retrain import trigger as retrain_trigger
    from driftwarden.flows.retrain.trigger import start_retraining

    def unreachable(*args: object, **kwargs: object) -> dict[str, object]:
        raise OSError("s3://models: connection refused")

    monkeypatch.setattr(retrain_trigger, "retrain_model", unreachable)
    decision = RetrainDecision(retrain=True, reason="two breached mature windows", cause="concept_change")
    attempt = start_retraining("agrawal", "config/agrawal.yaml", decision, pd.Timestamp("2024-01-10", tz="UTC"))
    assert attempt["outcome"] == "failed" and "connection refused" in attempt["error"], attempt


def test_scoring_a_night_without_features_writes_nothing_and_later_nights_still_run(tmp_path, dw_home):
    """A night with no input rows (the feed was down) scores nothing and writes no file: an empty predictions
    file without the prediction columns made every later run of the model fail (found on a fresh clone)."""
    path, _ = _setup(tmp_path / "agrawal")
    _register(path)
    result = CliRunner().invoke(app, ["score", "--config", str(path), "--window-end", "2024-03-01", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scored"] == 0 and "no feature rows" in result.stdout
    assert not list((path.parent / "predictions").glob("*20240229*"))
    night = _night(path, 2)  # a night with features: scored and monitored as before
    assert night["status"] != "failed" and night["rows"] > 1000, night
    empty = monitor_model(str(path), window_end="2024-03-01", as_of="2024-03-02")
    assert empty["status"] == "breach" and empty["causes"] == ["volume"], empty
