"""Champion against challenger on the same held-out rows, with a trivial baseline beside them (pure).

The challenger is promoted only when it beats the baseline, beats the champion on the promotion KPI by the
configured margin with a significant paired test (exact one-sided McNemar for accuracy, a paired bootstrap
otherwise), and no other KPI is worse by more than the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.stats import binomtest, norm

from driftwarden.checks.metrics import Labelled, Metric, get_metric
from driftwarden.checks.profile import category_text
from driftwarden.checks.training import Scored
from driftwarden.config.model import ModelConfig


@dataclass(frozen=True)
class Comparison:
    metric: str
    """The promotion KPI."""
    scores: dict[str, dict[str, float | None]]
    """Model (``champion``, ``challenger``, ``baseline``) -> KPI -> holdout value."""
    difference: float | None
    """Challenger minus champion on the promotion KPI, signed so that positive is better."""
    test: str
    p_value: float | None
    promote: bool
    reasons: tuple[str, ...]
    """Why promoted or refused, in plain words with the figures."""
    holdout_rows: int
    details: dict[str, float | int] = field(default_factory=dict)


def metric_value(cfg: ModelConfig, metric: str, y: np.ndarray, s: Scored) -> float | None:
    """One KPI of one model's output on labelled rows (None when undefined, e.g. one class only)."""
    m = get_metric(metric)
    d = _holdout(cfg, m, y, s)
    if m.probabilities and (d.proba is None or d.one_class):
        return None
    try:
        return float(m.point(d, None))
    except ValueError:
        return None


def _holdout(cfg: ModelConfig, m: Metric, y: np.ndarray, s: Scored, losses: bool = False) -> Labelled:
    """One model's output on the holdout as metric ``m`` reads it (``losses``: for the paired losses).

    Unlike a window's KPIs, the comparison averages multiclass precision and F1 over the holdout's classes
    only; reads multiclass probabilities renormalised over those classes, floored at 1e-15 for log loss, and
    none for AUC on a holdout of two classes or with rows not summing to one (scikit-learn's multiclass AUC
    refuses both); and scores negative predictions as 0 for rmsle (the labels too in the paired losses)."""
    if cfg.task == "regression":
        yf, pf = y.astype(float), s.prediction.astype(float)
        if m.name == "rmsle":
            pf = np.clip(pf, 0, None)
            yf = np.clip(yf, 0, None) if losses else yf
        return Labelled("regression", yf, pf, value=cfg.value)
    if cfg.task == "binary":
        return Labelled("binary", y, s.prediction, s.probability, s.classes, _positive(cfg), value=cfg.value)
    d = Labelled("multiclass", y, s.prediction, macro_over_predicted=False, value=cfg.value)
    if not m.probabilities or s.probability is None or d.one_class:
        return d
    proba = _align(s, d.present)
    if m.name == "log_loss":
        proba = np.clip(proba, 1e-15, 1)
    if m.name == "roc_auc" and (len(d.present) == 2 or not np.allclose(1, proba.sum(axis=1))):
        return d
    return replace(d, proba=proba, classes=tuple(d.present))


def _f(v: float | None, spec: str = ".4f") -> str:
    return "n/a" if v is None else format(v, spec)


def _positive(cfg: ModelConfig) -> str:
    return category_text(cfg.columns.positive_label)


def _align(s: Scored, present: list[str]) -> np.ndarray:
    assert s.probability is not None
    cols = [s.classes.index(c) if c in s.classes else None for c in present]
    out = np.column_stack([s.probability[:, k] if k is not None else np.zeros(len(s.prediction)) for k in cols])
    return out / np.clip(out.sum(axis=1, keepdims=True), 1e-15, None)


def _take(s: Scored, idx: np.ndarray) -> Scored:
    return Scored(s.prediction[idx], None if s.probability is None else s.probability[idx], s.classes)


def paired_test(
    cfg: ModelConfig,
    metric: str,
    y: np.ndarray,
    champion: Scored,
    challenger: Scored,
    resamples: int,
    margin: float = 0.0,
    seed: int = 0,
) -> tuple[str, float | None, dict[str, float | int]]:
    """One-sided p-value of H0: the challenger is better than the champion by at most ``margin`` (on the same
    rows); a small p means the gain beyond the margin is real, not the luck of this holdout."""
    m = get_metric(metric)
    if m.mcnemar:
        assert m.share is not None
        right_champ, right_chal = (m.share(_holdout(cfg, m, y, s))[0] for s in (champion, challenger))
        b = int((right_champ & ~right_chal).sum())  # champion right, challenger wrong
        c = int((~right_champ & right_chal).sum())  # challenger right, champion wrong
        details: dict[str, float | int] = {"challenger_only_right": c, "champion_only_right": b}
        if margin == 0:
            p = 1.0 if b + c == 0 else float(binomtest(c, b + c, 0.5, alternative="greater").pvalue)
            return "McNemar exact (one-sided)", p, details
        n = len(y)
        gain = (c - b) / n
        var = ((b + c) / n - gain**2) / n
        p = float(norm.sf((gain - margin) / np.sqrt(var))) if var > 0 else float(gain <= margin)
        # A gain beyond a margin is a stronger claim than a gain at all: never easier to show than the exact
        # test at zero (the z approximation alone made a 0.001 margin easier to pass than none).
        exact = 1.0 if b + c == 0 else float(binomtest(c, b + c, 0.5, alternative="greater").pvalue)
        return "paired z-test on accuracy (one-sided, vs the margin)", max(p, exact), details
    if m.interval(cfg.task) == "delong" and champion.probability is not None:
        if challenger.probability is not None:
            return delong_paired(y == _positive(cfg), champion.probability, challenger.probability, margin)
    losses = _row_losses(cfg, m, y, champion, challenger)
    if losses is not None:
        return _bootstrap_losses(m, *losses, resamples, seed, margin)
    rng = np.random.default_rng(seed)
    n = len(y)
    not_better = 0
    valid = 0
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        a = metric_value(cfg, metric, y[idx], _take(challenger, idx))
        b_ = metric_value(cfg, metric, y[idx], _take(champion, idx))
        if a is None or b_ is None:
            continue
        valid += 1
        not_better += m.better(a, b_) <= margin
    if valid < resamples // 2:
        return "paired bootstrap (one-sided)", None, {"resamples": valid}
    return "paired bootstrap (one-sided)", (1 + not_better) / (valid + 1), {"resamples": valid}


def delong_paired(
    positive: np.ndarray, first: np.ndarray, second: np.ndarray, margin: float = 0.0
) -> tuple[str, float | None, dict[str, float | int]]:
    """DeLong's test for two correlated ROC AUCs on the same rows: one-sided p of H0 ``second`` - ``first``
    <= ``margin``."""
    from scipy.stats import rankdata

    pos, neg = positive.astype(bool), ~positive.astype(bool)
    m, n = int(pos.sum()), int(neg.sum())
    if min(m, n) < MIN_CLASS_ROWS:  # its normal approximation rejects too often with a handful of one class
        return "DeLong (one-sided)", None, {"positives": m, "negatives": n, "needed_per_class": MIN_CLASS_ROWS}
    v10, v01, aucs = [], [], []
    for score in (first, second):
        ranks = rankdata(np.concatenate([score[pos], score[neg]]))
        aucs.append((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((ranks[:m] - rankdata(score[pos])) / n)
        v01.append(1 - (ranks[m:] - rankdata(score[neg])) / m)
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    diff = aucs[1] - aucs[0]
    if var <= 0:
        return "DeLong (one-sided)", 0.0 if diff > margin else 1.0, {}
    return "DeLong (one-sided)", float(norm.sf((diff - margin) / np.sqrt(var))), {"auc_difference": float(diff)}


MIN_CLASS_ROWS = 30
"""DeLong's test needs this many holdout rows of each class (with 5 positives its size at 5% is ~8%)."""


def _row_losses(
    cfg: ModelConfig, m: Metric, y: np.ndarray, champion: Scored, challenger: Scored
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-row losses of both models for metrics that are (root) means of them, else None."""
    loss = m.losses(cfg.task)
    if loss is None or (m.probabilities and (champion.probability is None or challenger.probability is None)):
        return None
    return loss(_holdout(cfg, m, y, champion, losses=True)), loss(_holdout(cfg, m, y, challenger, losses=True))


def _bootstrap_losses(
    m: Metric, champ: np.ndarray, chal: np.ndarray, resamples: int, seed: int, margin: float = 0.0
) -> tuple[str, float | None, dict[str, float | int]]:
    """Paired bootstrap of mean (or root-mean) losses, vectorised in blocks of resamples."""
    rng = np.random.default_rng(seed)
    n = len(champ)
    not_better = 0
    done = 0
    while done < resamples:
        k = min(100, resamples - done)
        idx = rng.integers(0, n, (k, n))
        a, b = chal[idx].mean(axis=1), champ[idx].mean(axis=1)
        if m.root:
            a, b = np.sqrt(a), np.sqrt(b)
        not_better += int((b - a <= margin).sum())  # a loss: lower is better
        done += k
    return "paired bootstrap (one-sided)", (1 + not_better) / (resamples + 1), {"resamples": resamples}


def compare_models(
    cfg: ModelConfig,
    y: np.ndarray,
    challenger: Scored,
    champion: Scored | None,
    baseline: Scored,
) -> Comparison:
    """Judge a challenger on the holdout; ``champion`` None means there is none yet (first model)."""
    promo = cfg.retrain.promotion
    kpis: list[str] = [k.metric for k in cfg.kpis]
    if not kpis:
        raise ValueError("retraining needs at least one KPI in the model's config to compare models on")
    metric = promo.metric or kpis[0]
    better = get_metric(metric).better
    models = {"challenger": challenger, "baseline": baseline, **({"champion": champion} if champion else {})}
    scores = {name: {k: metric_value(cfg, k, y, s) for k in kpis} for name, s in models.items()}
    reasons: list[str] = []
    ok = True
    chal = scores["challenger"][metric]
    base = scores["baseline"][metric]
    if chal is None:
        return Comparison(metric, scores, None, "", None, False, (f"{metric} is undefined on the holdout",), len(y))
    if base is None:
        ok = False
        reasons.append(f"the trivial baseline's {metric} is undefined on the holdout, so nothing is proven")
    else:
        # Beating the baseline needs evidence too: a point estimate a hair above the class prior is noise.
        _, p_base, _ = paired_test(cfg, metric, y, baseline, challenger, promo.bootstrap)
        if better(chal, base) <= 0 or p_base is None or p_base >= promo.p_value:
            ok = False
            reasons.append(
                f"the challenger does not beat the trivial baseline on {metric} ({chal:.4f} vs {base:.4f}; "
                f"paired p = {_f(p_base, '.3g')})"
            )
    if champion is None:
        if ok:
            reasons.append(f"no champion yet; the challenger beats the baseline on {metric} ({chal:.4f} vs {_f(base)})")
        return Comparison(metric, scores, None, "", None, ok, tuple(reasons), len(y))
    champ = scores["champion"][metric]
    if champ is not None and base is not None and better(champ, base) <= 0:
        reasons.append(f"note: the champion does not beat the trivial baseline ({champ:.4f} vs {base:.4f})")
    if champ is None:
        diff: float | None = None
        test, p = "", None
        details: dict[str, float | int] = {}
        ok = False
        reasons.append(
            f"the champion's {metric} is undefined on the holdout (e.g. it gives no probabilities), so the paired "
            "test cannot run: set retrain.promotion.metric to a KPI both models can be scored on"
        )
    else:
        diff = better(chal, champ)
        test, p, details = paired_test(cfg, metric, y, champion, challenger, promo.bootstrap, promo.margin)
        if diff < promo.margin or diff <= 0:
            ok = False
            reasons.append(
                f"the challenger's {metric} {chal:.4f} is not better than the champion's {champ:.4f} by the "
                f"margin {promo.margin} (difference {diff:+.4f})"
            )
        if p is None or p >= promo.p_value:
            ok = False
            reasons.append(
                f"the paired test is not significant ({test}: p = {'n/a' if p is None else f'{p:.3g}'} "
                f">= {promo.p_value} for a gain beyond the margin {promo.margin}; {len(y)} holdout rows)"
            )
    for k in kpis:
        if k == metric or champion is None:
            continue
        a, b = scores["challenger"][k], scores["champion"][k]
        if a is None and b is not None:  # e.g. a challenger without probabilities, judged on AUC or log loss
            ok = False
            reasons.append(f"the challenger cannot be scored on {k} (the champion's is {b:.4f})")
        if a is not None and b is not None and get_metric(k).better(a, b) < -promo.tolerance:
            ok = False
            reasons.append(f"{k} regresses beyond the tolerance {promo.tolerance}: {a:.4f} vs {b:.4f}")
    if ok:
        reasons.insert(
            0,
            f"the challenger beats the champion on {metric}: {chal:.4f} vs {_f(champ)} "
            f"({test or 'no paired test'}: p = {_f(p, '.3g')}; baseline {_f(base)})",
        )
    return Comparison(metric, scores, diff, test, p, ok, tuple(reasons), len(y), details)
