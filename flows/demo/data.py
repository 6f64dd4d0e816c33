"""The demo: a credit-risk classifier and a month of nightly production batches with known events.

Events (nights are 1-based, in the demo model's time zone):
- night 8:  a feature shift (a campaign brings younger applicants with lower incomes and larger loans)
- night 14: a broken feed (income null in 30% of rows, an unseen employment type in 20%)
- night 19 onwards: a concept change (defaults follow a new rule; the inputs look exactly as before)
- night 25: almost no rows (the feed died early)
Labels arrive one to four days after each prediction.

The model is registered as champion v1 and scores each night's applicants itself (batch scoring), so that when
the concept change leads to a retrain and a promotion, the following nights are scored by the new champion.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from driftwarden.config.model import ModelConfig, SourceConfig

NUMERICAL = ["age", "income", "loan_amount", "debt_to_income", "credit_history_years", "open_accounts"]
CATEGORICAL = ["employment_type", "region", "purpose"]
EMPLOYMENT = (["salaried", "self_employed", "contractor", "unemployed"], [0.6, 0.2, 0.15, 0.05])
REGION = (["north", "south", "east", "west"], [0.3, 0.25, 0.25, 0.2])
PURPOSE = (["car", "home", "education", "business", "personal"], [0.3, 0.25, 0.1, 0.15, 0.2])

START = pd.Timestamp("2026-10-01")
NIGHTS = 30
ROWS_PER_NIGHT = 2500
SHIFT_NIGHT, BROKEN_NIGHT, CONCEPT_FROM, THIN_NIGHT = 8, 14, 19, 25
EXPECTED = {SHIFT_NIGHT: "input_drift", BROKEN_NIGHT: "data_quality", THIN_NIGHT: "volume"}

LAYOUT = {
    "predictions": "predictions/*.parquet",
    "features": "applicants/*.parquet",
    "labels": "labels/*.parquet",
    "reference": "reference.parquet",
}
"""Each source's files in the demo's folder (``home/demo``)."""


@dataclass(frozen=True)
class DemoPaths:
    predictions: Path
    """Folder of one Parquet file per night, written by batch scoring."""
    features: Path
    """Folder of one Parquet file per night: the applicants to score."""
    labels: Path
    reference: Path


def applicants(rng: np.random.Generator, n: int, shifted: bool = False) -> pd.DataFrame:
    age = np.clip(rng.normal(33 if shifted else 42, 11, n), 18, 85).round()
    income = rng.lognormal(np.log(34_000 if shifted else 52_000), 0.45, n).round(-2)
    loan = rng.lognormal(np.log(24_000 if shifted else 15_000), 0.6, n).round(-2)
    history = np.clip((age - 18) * rng.uniform(0.3, 0.9, n), 0, None).round(1)
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "loan_amount": loan,
            "debt_to_income": (rng.beta(2, 5, n) * 0.9).round(3),
            "credit_history_years": history,
            "open_accounts": rng.poisson(4, n).astype(float),
            "employment_type": rng.choice(EMPLOYMENT[0], n, p=EMPLOYMENT[1]),
            "region": rng.choice(REGION[0], n, p=REGION[1]),
            "purpose": rng.choice(PURPOSE[0], n, p=PURPOSE[1]),
        }
    )


def default_probability(x: pd.DataFrame, concept: str = "old") -> np.ndarray:
    emp = x["employment_type"].map({"salaried": 0.0, "self_employed": 0.5, "contractor": 0.8, "unemployed": 2.0})
    burden = np.log(x["loan_amount"] / x["income"]) + 1.2
    z = -1.0 + 7.0 * (x["debt_to_income"] - 0.26) + 1.8 * burden - 0.12 * (x["credit_history_years"] - 9) + emp
    if concept == "new":  # a new lending environment: the old signals weaken, region and accounts matter
        reg = x["region"].map({"north": -1.2, "south": 1.8, "east": 0.4, "west": -0.8})
        z = 0.5 * z + reg + 0.35 * (x["open_accounts"] - 4)
    return 1 / (1 + np.exp(-2.0 * z.fillna(0).to_numpy()))


def train_model(rng: np.random.Generator, n: int = 20_000) -> Pipeline:
    x = applicants(rng, n)
    y = (rng.uniform(size=n) < default_probability(x)).astype(int)
    pre = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), CATEGORICAL)],
        remainder="passthrough",
    )
    model = Pipeline([("pre", pre), ("clf", HistGradientBoostingClassifier(random_state=0, max_iter=150))])
    return model.fit(x[NUMERICAL + CATEGORICAL], y)


def _score(model: Pipeline, x: pd.DataFrame) -> pd.DataFrame:
    out = x.copy()
    proba = model.predict_proba(x[NUMERICAL + CATEGORICAL])[:, 1]
    out["default_probability"] = proba.round(4)
    out["predicted_default"] = (proba >= 0.5).astype(int)
    return out


def night_batch(
    night: int, rng: np.random.Generator, tz: str, rows: int = ROWS_PER_NIGHT
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Applicants to score and (late) labels of one night (``rows`` on average)."""
    n = 40 if night == THIN_NIGHT else int(rng.poisson(rows))
    x = applicants(rng, n, shifted=night == SHIFT_NIGHT)
    concept = "new" if night >= CONCEPT_FROM else "old"
    y = (rng.uniform(size=n) < default_probability(x, concept)).astype(int)
    if night == BROKEN_NIGHT:
        x.loc[rng.uniform(size=n) < 0.3, "income"] = np.nan
        x.loc[rng.uniform(size=n) < 0.2, "employment_type"] = "UNKNOWN"
    day = (START + pd.Timedelta(days=night - 1)).tz_localize(tz)
    next_day = (START + pd.Timedelta(days=night)).tz_localize(tz)
    span = (next_day - day).total_seconds()
    ts = day + pd.to_timedelta(np.sort(rng.uniform(0, span, n)), unit="s")
    preds = x.copy()
    preds.insert(0, "scored_at", ts.tz_convert("UTC"))
    preds.insert(1, "application_id", [f"A{night:02d}-{i:05d}" for i in range(n)])
    labels = pd.DataFrame(
        {
            "application_id": preds["application_id"],
            "defaulted": y,
            "labelled_at": preds["scored_at"] + pd.to_timedelta(rng.uniform(1, 4, n), unit="D"),
        }
    )
    return preds, labels


def not_a_demo_config(cfg: ModelConfig, path: Path) -> str | None:
    """Why ``cfg`` must not be given to the demo (which deletes and rewrites its sources' files, its registry
    and its stored runs), or None for a config of the demo's model (its URLs and folders may differ)."""
    c = cfg.columns
    if set(c.numerical) == set(NUMERICAL) and set(c.categorical) == set(CATEGORICAL):
        return None
    return (
        f"{path}: not a config of the demo's credit-risk model (its features differ); the demo deletes and "
        "rewrites its sources' files, its registry and its stored runs, so it runs only on a copy of "
        "config/credit_risk.yaml"
    )


def demo_config(home: Path) -> Path:
    """The demo's own config, ``home/demo/credit_risk.yaml``, written (again on each call) from the packaged
    ``config/credit_risk.yaml`` with its file sources beside it: the demo then reads and writes only under
    ``home``, whatever the current folder (the packaged sources point into a checkout's ``.driftwarden``)."""
    text = resources.files("driftwarden.config").joinpath("credit_risk.yaml").read_text()
    data = yaml.safe_load(text)
    for name, src in data["sources"].items():
        if src.get("path") is not None:
            text = text.replace(src["path"], LAYOUT[name])
            src["path"] = LAYOUT[name]
    if yaml.safe_load(text) != data:  # a source's path is also written elsewhere: the values, without comments
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path = home / "demo" / "credit_risk.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Written by `driftwarden demo` from its packaged config/credit_risk.yaml (on each run).\n{text}")
    return path


def demo_paths(cfg: ModelConfig, home: Path | None = None) -> DemoPaths:
    """Where the demo writes its files: the config's file sources, or, for a source in a database, a folder
    under the driftwarden ``home`` (the files are then loaded into the table: flows/demo/sql.py)."""
    folder = (home or Path(".driftwarden")).resolve() / "demo"
    labels = cfg.sources.labels
    if labels is None:
        raise ValueError("the demo config needs a labels source")
    if cfg.sources.features is None or cfg.sources.features.path is None:
        raise ValueError("the demo config needs a features file source (the applicants batch scoring reads)")

    def where(src: SourceConfig, name: str) -> Path:
        return Path(cfg.resolve(src.path)) if src.path is not None else folder / LAYOUT[name]

    return DemoPaths(
        where(cfg.sources.predictions, "predictions").parent,
        where(cfg.sources.features, "features").parent,
        where(labels, "labels").parent,
        where(cfg.sources.reference, "reference"),
    )


def generate(
    cfg: ModelConfig, seed: int = 7, home: Path | None = None, nights: int = NIGHTS, rows: int = ROWS_PER_NIGHT
) -> DemoPaths:
    """Train the model and register it as champion v1; write its out-of-sample reference and a month of nights
    (applicants and their labels; ``nights`` and ``rows`` a night for the benchmarks: the nights after the
    month go on with its new concept). Predictions are written by batch scoring as the nights are monitored."""
    from driftwarden.flows.registry.versions import Registry

    paths = demo_paths(cfg, home)
    for folder in (paths.predictions, paths.features, paths.labels, paths.reference.parent):
        folder.mkdir(parents=True, exist_ok=True)
    for old in [*paths.predictions.glob("*.parquet"), *paths.features.glob("*.parquet")]:
        old.unlink()
    for old in paths.labels.glob("*.parquet"):
        old.unlink()
    registry = Registry(cfg)
    if registry.fs.exists(registry.root):  # a fresh demo starts from its first model
        registry.fs.rm(registry.root, recursive=True)
    rng = np.random.default_rng(seed)
    model = train_model(rng)
    champion = registry.register(model, {"parent": None, "reason": "the demo's model, trained on 20,000 applicants"})
    registry.set_champion(champion.number, "the demo's first model")
    ref_x = applicants(rng, 5000)
    ref = _score(model, ref_x)
    ref["defaulted"] = (rng.uniform(size=len(ref)) < default_probability(ref_x)).astype(int)
    ref.to_parquet(paths.reference, index=False)
    for night in range(1, nights + 1):
        applicants_night, labels = night_batch(night, rng, cfg.window.timezone, rows)
        stamp = (START + pd.Timedelta(days=night - 1)).strftime("%Y-%m-%d")
        applicants_night.to_parquet(paths.features / f"{stamp}.parquet", index=False)
        labels.to_parquet(paths.labels / f"{stamp}.parquet", index=False)
    return paths


def demo_range(tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    return START.tz_localize(tz), (START + pd.Timedelta(days=NIGHTS)).tz_localize(tz)


def expected_cause(night: int, new_champion_from: int | None = None) -> str | None:
    """The cause the demo injected on a night (None: a clean night, before the concept change or scored by a
    champion retrained on the new concept from night ``new_champion_from`` on)."""
    if night in EXPECTED:
        return EXPECTED[night]
    if new_champion_from is not None and night >= new_champion_from:
        return None
    if night >= CONCEPT_FROM:
        return "concept_change"
    return None


def promotion_night(cfg: ModelConfig, tz: str) -> int | None:
    """The first night scored by a champion promoted during the replay (None: no promotion)."""
    from driftwarden.flows.registry.versions import Registry

    promoted = [a for a in Registry(cfg).attempts() if a.get("outcome") == "promoted"]
    if not promoted:
        return None
    decided = (promoted[0].get("shadow") or {}).get("decided_as_of")
    if decided:  # decided by a night's run before it scored its own night: that night is the first
        return (pd.Timestamp(decided).tz_convert(tz).normalize().tz_localize(None) - START).days
    as_of = pd.Timestamp(promoted[0]["as_of"]).tz_convert(tz)  # promoted by the retrain after a night's run
    return (as_of.normalize().tz_localize(None) - START).days + 1
