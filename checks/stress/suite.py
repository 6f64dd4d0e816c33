"""The stress suite: every perturbation at every strength on the holdout, every KPI for each model on the same
perturbed rows, the perturbed rows that hurt each model most, and the declared gates (pure).

Advisory by default. A gate (``retrain.stress.gates``) is a perturbation declared realistic: the challenger is
refused when, on the same perturbed rows, the champion is better on the promotion KPI by the paired test of
``checks/champion.py`` (one-sided), Holm-corrected across the gates. There is deliberately no gate on relative
fragility (a drop from the clean score): it would refuse a good challenger replacing a champion already near
chance, whose score has little left to lose.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from driftwarden.checks.champion import metric_value, paired_test
from driftwarden.checks.profile import category_text
from driftwarden.checks.slices import holm
from driftwarden.checks.stress.base import Columns, describe_columns, get_perturbation, perturbation_keys
from driftwarden.checks.training import Scored, features_frame, score_rows, target_values
from driftwarden.config.model import ModelConfig

TOP_FEATURES = 3
"""How many of the most important numeric features ``shift`` moves."""
IMPORTANCE_ROWS = 1000
"""Rows the permutation importance is measured on (a seeded sample of the holdout)."""


@dataclass(frozen=True)
class StressCell:
    """One perturbation at one strength: each model's KPIs on the same perturbed rows."""

    perturbation: str
    strength: float
    scores: Mapping[str, Mapping[str, float | None]]
    """Model -> KPI -> value on the perturbed holdout."""
    errors: Mapping[str, str] = field(default_factory=dict)
    """Model -> why it could not score the perturbed rows (a model that crashes on a missing value)."""
    touched: int = 0
    """Feature values changed."""
    note: str = ""


@dataclass(frozen=True)
class GateResult:
    perturbation: str
    strength: float
    metric: str
    test: str
    p_value: float | None
    """One-sided p of H0: the champion is not better than the challenger on the perturbed rows."""
    level: float
    """The level Holm's step-down held this gate's p-value to."""
    refuses: bool
    champion: float | None
    challenger: float | None

    def reason(self) -> str:
        def f(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.4f}"

        p = "n/a" if self.p_value is None else f"{self.p_value:.3g}"
        verdict = "refused by the stress gate" if self.refuses else "passes the stress gate"
        return (
            f"{verdict} {self.perturbation} at {self.strength:g}: {self.metric} {f(self.challenger)} (challenger) vs "
            f"{f(self.champion)} (champion) on the same perturbed rows ({self.test or 'no test'}: p = {p}, Holm "
            f"level {self.level:.3g})"
        )


@dataclass(frozen=True)
class StressResult:
    rows: int
    kpis: tuple[str, ...]
    models: tuple[str, ...]
    clean: Mapping[str, Mapping[str, float | None]]
    """Model -> KPI -> value on the unperturbed holdout."""
    cells: tuple[StressCell, ...]
    gates: tuple[GateResult, ...]
    shifted: tuple[str, ...]
    """The most important numeric features (what ``shift`` moved)."""
    seconds: float
    worst: pd.DataFrame = field(compare=False, repr=False)
    """The perturbed rows that hurt each model most: model, perturbation, strength, position (in the
    holdout), label, prediction, loss clean and perturbed, then the perturbed features (never private ones)."""

    @property
    def refused_by(self) -> GateResult | None:
        refusing = [g for g in self.gates if g.refuses]
        return min(refusing, key=lambda g: g.p_value or 0.0) if refusing else None

    def record(self) -> dict[str, Any]:
        """The result as JSON-able data (the attempt record, ``--json``)."""
        refused = self.refused_by
        return {
            "rows": self.rows,
            "kpis": list(self.kpis),
            "models": list(self.models),
            "clean": {m: dict(v) for m, v in self.clean.items()},
            "shifted": list(self.shifted),
            "table": [
                {
                    "perturbation": c.perturbation,
                    "strength": c.strength,
                    "touched": c.touched,
                    "scores": {m: dict(v) for m, v in c.scores.items()},
                    **({"errors": dict(c.errors)} if c.errors else {}),
                    **({"note": c.note} if c.note else {}),
                }
                for c in self.cells
            ],
            "gates": [
                {
                    "perturbation": g.perturbation,
                    "strength": g.strength,
                    "metric": g.metric,
                    "test": g.test,
                    "p_value": g.p_value,
                    "level": g.level,
                    "refuses": g.refuses,
                    "champion": g.champion,
                    "challenger": g.challenger,
                    "reason": g.reason(),
                }
                for g in self.gates
            ],
            "refused_by": None
            if refused is None
            else {
                "perturbation": refused.perturbation,
                "strength": refused.strength,
                "reason": refused.reason(),
            },  # fmt: skip
            "worst_rows": len(self.worst),
            "seconds": round(self.seconds, 3),
        }


def usable_columns(cfg: ModelConfig) -> tuple[list[str], list[str]]:
    """The features a perturbation may touch: never masked, excluded or id columns."""
    c = cfg.columns
    private = cfg.private_columns | {c.id}
    return [f for f in c.numerical if f not in private], [f for f in c.categorical if f not in private]


def row_losses(cfg: ModelConfig, y: np.ndarray, s: Scored) -> np.ndarray:
    """Per row: the absolute error (regression), 1 - P(true class) (with probabilities), or 0/1 for right/wrong."""
    if cfg.task == "regression":
        return np.abs(y.astype(float) - s.prediction.astype(float))
    yt = np.asarray([category_text(v) for v in y], dtype=object)
    if s.probability is None:
        return (s.prediction != yt).astype(float)
    if cfg.task == "binary":
        positive = category_text(cfg.columns.positive_label)
        return np.where(yt == positive, 1 - s.probability, s.probability).astype(float)
    col = {c: k for k, c in enumerate(s.classes)}
    idx = np.asarray([col.get(v, -1) for v in yt])
    p = np.where(idx >= 0, s.probability[np.arange(len(yt)), np.clip(idx, 0, None)], 0.0)
    return (1 - p).astype(float)


def important_features(
    cfg: ModelConfig, models: Mapping[str, Any], x: pd.DataFrame, y: np.ndarray, numeric: Sequence[str], seed: int
) -> tuple[str, ...]:
    """The numeric features whose shuffling costs the models most on the holdout (permutation importance on the
    promotion KPI, summed over the models; one seeded shuffle each), most important first."""
    if not numeric:
        return ()
    rng = np.random.default_rng(seed)
    if len(x) > IMPORTANCE_ROWS:
        keep = np.sort(rng.choice(len(x), IMPORTANCE_ROWS, replace=False))
        x, y = x.iloc[keep].reset_index(drop=True), y[keep]
    metric = promotion_metric(cfg)
    from driftwarden.checks.metrics import get_metric

    better = get_metric(metric).better
    drop = dict.fromkeys(numeric, 0.0)
    for model in models.values():
        base = metric_value(cfg, metric, y, score_rows(cfg, model, x))
        if base is None:
            continue
        for col in numeric:
            shuffled = x.copy()
            shuffled[col] = rng.permutation(shuffled[col].to_numpy())
            v = metric_value(cfg, metric, y, score_rows(cfg, model, shuffled))
            drop[col] += 0.0 if v is None else better(base, v)
    ranked = sorted(numeric, key=lambda c: -drop[c])
    return tuple(ranked[:TOP_FEATURES])


def promotion_metric(cfg: ModelConfig) -> str:
    return cfg.retrain.promotion.metric or cfg.kpis[0].metric


def _touched(a: pd.DataFrame, b: pd.DataFrame, cols: Sequence[str]) -> int:
    n = 0
    for col in cols:
        x, z = a[col], b[col]
        n += int(((x != z) & ~(x.isna() & z.isna())).sum())
    return n


def run_suite(cfg: ModelConfig, models: Mapping[str, Any], holdout: pd.DataFrame) -> StressResult:
    """Every configured perturbation at every strength (and each gate's) for ``models`` (name -> fitted model;
    ``champion`` and ``challenger`` for the gates) on the labelled ``holdout`` rows."""
    st = cfg.retrain.stress
    started = time.perf_counter()
    if not cfg.kpis:
        raise ValueError("stress tests need at least one KPI in the model's config to measure")
    rng = np.random.default_rng(st.seed)
    if len(holdout) > st.max_rows:
        holdout = holdout.iloc[np.sort(rng.choice(len(holdout), st.max_rows, replace=False))]
    holdout = holdout.reset_index(drop=True)
    x, y = features_frame(cfg, holdout), target_values(cfg, holdout)
    numeric, categorical = usable_columns(cfg)
    important = important_features(cfg, models, x, y, numeric, st.seed)
    columns = describe_columns(x, numeric, categorical, important)
    kpis = tuple(dict.fromkeys(k.metric for k in cfg.kpis))
    clean_scored = {name: score_rows(cfg, m, x) for name, m in models.items()}
    clean = {name: _kpis(cfg, kpis, y, s) for name, s in clean_scored.items()}
    clean_loss = {name: row_losses(cfg, y, s) for name, s in clean_scored.items()}
    gate_points = {(g.perturbation, g.strength) for g in st.gates}
    cells: list[StressCell] = []
    kept: dict[tuple[str, float], dict[str, Scored | None]] = {}
    worst: list[pd.DataFrame] = []
    for key in dict.fromkeys([*st.perturbations, *(g.perturbation for g in st.gates)]):
        p = get_perturbation(key)
        strengths = sorted({*st.strengths, *(s for k, s in gate_points if k == key)})
        for s in strengths:
            if not p.applies(columns):
                cells.append(StressCell(key, s, {}, {}, 0, "no feature it applies to"))
                continue
            # Seeded per cell: a cell's rows do not depend on which other perturbations are configured.
            cell_rng = np.random.default_rng([st.seed, perturbation_keys().index(key), round(s * 1e6)])
            px = p.apply(x, columns, s, cell_rng)
            scores: dict[str, dict[str, float | None]] = {}
            errors: dict[str, str] = {}
            scored: dict[str, Scored | None] = {}
            for name, model in models.items():
                try:
                    out = score_rows(cfg, model, px)
                except Exception as exc:  # a model that cannot take the perturbed rows: that is the finding
                    errors[name] = f"{type(exc).__name__}: {exc}"[:300]
                    scored[name] = None
                    continue
                scored[name] = out
                scores[name] = _kpis(cfg, kpis, y, out)
                if st.worst_rows:
                    worst.append(_worst(cfg, name, key, s, px, columns, y, out, clean_loss[name], st.worst_rows))
            if (key, s) in gate_points:
                kept[(key, s)] = scored
            cells.append(StressCell(key, s, scores, errors, _touched(x, px, [*numeric, *categorical])))
    gates = _gates(cfg, y, models, kept)
    rows = pd.concat(worst, ignore_index=True) if worst else pd.DataFrame()
    if len(rows):
        rows = (
            rows.sort_values(["model", "harm"], ascending=[True, False], kind="stable")
            .groupby("model", sort=False)
            .head(st.worst_rows)
            .reset_index(drop=True)
        )
    return StressResult(
        len(holdout), kpis, tuple(models), clean, tuple(cells), gates, important, time.perf_counter() - started, rows
    )


def _kpis(cfg: ModelConfig, kpis: Sequence[str], y: np.ndarray, s: Scored) -> dict[str, float | None]:
    return {k: metric_value(cfg, k, y, s) for k in kpis}


def _worst(
    cfg: ModelConfig,
    model: str,
    key: str,
    strength: float,
    px: pd.DataFrame,
    columns: Columns,
    y: np.ndarray,
    scored: Scored,
    clean_loss: np.ndarray,
    n: int,
) -> pd.DataFrame:
    """The ``n`` rows this perturbation hurt most for this model (its loss grew most), with their features."""
    loss = row_losses(cfg, y, scored)
    harm = loss - clean_loss
    top = np.argsort(-harm, kind="stable")[:n]
    top = top[harm[top] > 0]
    feats = px.iloc[top][[*columns.numeric, *columns.categorical]].reset_index(drop=True)
    head = pd.DataFrame(
        {
            "model": model,
            "perturbation": key,
            "strength": strength,
            "position": top.astype(int),
            "label": [str(v) for v in y[top]],
            "prediction": [str(v) for v in scored.prediction[top]],
            "loss_clean": clean_loss[top],
            "loss": loss[top],
            "harm": harm[top],
        }
    )
    return pd.concat([head, feats.astype(object)], axis=1)


def _gates(
    cfg: ModelConfig,
    y: np.ndarray,
    models: Mapping[str, Any],
    kept: Mapping[tuple[str, float], Mapping[str, Scored | None]],
) -> tuple[GateResult, ...]:
    st = cfg.retrain.stress
    if not st.gates or not {"champion", "challenger"} <= set(models):
        return ()
    metric = promotion_metric(cfg)
    found: list[tuple[str, float, str, float | None, float | None, float | None]] = []
    for g in st.gates:
        scored = kept.get((g.perturbation, g.strength), {})
        champ, chal = scored.get("champion"), scored.get("challenger")
        a = None if champ is None else metric_value(cfg, metric, y, champ)
        b = None if chal is None else metric_value(cfg, metric, y, chal)
        if champ is not None and chal is None:
            found.append((g.perturbation, g.strength, "the challenger cannot score the perturbed rows", 0.0, a, b))
            continue
        if champ is None or chal is None:
            found.append((g.perturbation, g.strength, "the champion cannot score the perturbed rows", None, a, b))
            continue
        # The roles swapped: a small p says the champion beats the challenger on the perturbed rows.
        test, p, _ = paired_test(cfg, metric, y, chal, champ, cfg.retrain.promotion.bootstrap, 0.0, st.seed)
        found.append((g.perturbation, g.strength, test, p, a, b))
    verdicts = holm([1.0 if f[3] is None else f[3] for f in found], st.p_value)
    return tuple(
        GateResult(k, s, metric, test, p, level, bool(rejected and p is not None), a, b)
        for (k, s, test, p, a, b), (rejected, level) in zip(found, verdicts, strict=True)
    )


# --- words -------------------------------------------------------------------------------------------------


def _f(v: Any) -> str:
    return "—" if not isinstance(v, int | float) else f"{v:.4f}"


def robustness_table(record: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The stored record as a table: one row per perturbation and strength, one column per KPI with the models
    side by side (``champion / challenger``), the clean holdout first."""
    models = list(record.get("models", []))
    kpis = list(record.get("kpis", []))
    header = ["perturbation", "strength", *(f"{k} ({' / '.join(models)})" for k in kpis)]
    rows = [["none (clean)", "", *(" / ".join(_f(record["clean"].get(m, {}).get(k)) for m in models) for k in kpis)]]
    for cell in record.get("table", []):
        if cell.get("note"):
            rows.append([cell["perturbation"], f"{cell['strength']:g}", *([cell["note"]] + [""] * (len(kpis) - 1))])
            continue
        errors = cell.get("errors", {})
        rows.append(
            [
                cell["perturbation"],
                f"{cell['strength']:g}",
                *(
                    " / ".join("error" if m in errors else _f(cell["scores"].get(m, {}).get(k)) for m in models)
                    for k in kpis
                ),
            ]
        )
    return header, rows


def worst_cell(record: Mapping[str, Any], model: str) -> tuple[str, float, str, float, float] | None:
    """Where ``model`` lost most of the first KPI against the clean holdout: (perturbation, strength, KPI, clean
    value, perturbed value), or None."""
    from driftwarden.checks.metrics import get_metric

    kpis = record.get("kpis") or []
    if not kpis:
        return None
    k = kpis[0]
    base = (record.get("clean") or {}).get(model, {}).get(k)
    if not isinstance(base, int | float):
        return None
    worst: tuple[str, float, str, float, float] | None = None
    for cell in record.get("table", []):
        v = cell.get("scores", {}).get(model, {}).get(k)
        if isinstance(v, int | float) and (worst is None or get_metric(k).better(worst[4], v) > 0):
            worst = (cell["perturbation"], cell["strength"], k, float(base), float(v))
    return worst


def summary_line(record: Mapping[str, Any]) -> str:
    """The stress result in one sentence: the worst perturbation for each model, and a gate's refusal."""
    if record.get("error"):
        return f"The stress tests failed: {record['error']}"
    parts = []
    for m in record.get("models", []):
        w = worst_cell(record, m)
        if w is not None:
            parts.append(f"{m} {w[3]:.3f} -> {w[4]:.3f} under {w[0]} at {w[1]:g}")
    if not parts:
        return ""
    text = f"Stress tests on {record.get('rows', 0):,} holdout rows, worst {record['kpis'][0]}: " + "; ".join(parts)
    refused = record.get("refused_by")
    if refused:
        text += f". The challenger was {refused['reason']}"
    return text
