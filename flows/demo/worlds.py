"""Generated worlds with known covariate shifts and a calibrated model, for the study of the estimated KPIs
(``benchmarks/estimation.py`` prints it in full; ``tests/checks/test_estimation.py`` runs a small share of it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from driftwarden.checks.estimation import estimates, fit_estimator
from driftwarden.checks.kpis import _frame_to_labelled
from driftwarden.checks.metrics import get_metric
from driftwarden.config.model import ModelConfig

FEATURES = ["x1", "x2", "x3", "x4"]
METRICS = {
    "binary": ["accuracy", "precision", "recall", "f1", "roc_auc"],
    "binary_rare": ["accuracy", "precision", "recall", "f1", "roc_auc"],
    "multiclass": ["accuracy", "f1", "roc_auc"],
    "regression": ["mae", "rmse"],
}


def config(task: str) -> ModelConfig:
    """The study's model config for a task (``binary``, ``multiclass``, ``regression``)."""
    cols: dict[str, Any] = {"timestamp": "ts", "id": "id", "numerical": FEATURES, "categorical": ["group"],
                            "prediction": "pred", "target": "y"}  # fmt: skip
    if task == "binary":
        cols["probability"] = "p"
    if task == "multiclass":
        cols["probabilities"] = {"a": "pa", "b": "pb", "c": "pc"}
    return ModelConfig.model_validate(
        {
            "name": f"study-{task}",
            "task": task,
            "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
            "columns": cols,
            "kpis": [{"metric": m, "target": 0.0 if task == "regression" else 0.5} for m in METRICS[task]],
        }
    )


@dataclass(frozen=True)
class World:
    """A task's generating law: features, the model's output and the label."""

    task: str
    w: np.ndarray
    """The direction that hurts the model when the features move along it."""
    intercept: float = 2.0
    """Binary: the logit's intercept (2.0: 74% positives; -4.5: 7%, a rare event)."""

    def draw(self, n: int, rng: np.random.Generator, shift: float = 0.0, flip: float = 0.0) -> pd.DataFrame:
        """``n`` rows, the features moved by ``shift`` standard deviations along ``w``; ``flip``: the share of
        rows whose label follows another law (concept change: the inputs as before)."""
        x = rng.normal(size=(n, len(FEATURES))) + shift * self.w
        group = rng.choice(np.array(["g1", "g2", "g3"], dtype=object), n, p=[0.5, 0.3, 0.2])
        frame = pd.DataFrame(x, columns=FEATURES).assign(group=group, id=np.arange(n), ts=0)
        flipped = rng.random(n) < flip
        if self.task == "binary":
            logit = 2.0 * x[:, 0] - 1.5 * x[:, 1] + 0.5 * x[:, 2] + self.intercept
            p = 1 / (1 + np.exp(-logit))
            label = (rng.random(n) < np.where(flipped, 1 - p, p)).astype(int)
            return frame.assign(p=p, pred=(p >= 0.5).astype(int), y=label)
        if self.task == "multiclass":
            a = x[:, 0] + 1.0  # the reference's rows sit in class a's region, a step from where all three meet
            logits = np.column_stack([1.5 * a, 1.5 * x[:, 1] - 0.5, -a - x[:, 1]])
            prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            classes = np.array(["a", "b", "c"], dtype=object)
            draw = (rng.random(n)[:, None] > np.cumsum(prob, axis=1)).sum(axis=1)
            label = classes[np.where(flipped, (draw + 1) % 3, draw)]
            pred = classes[prob.argmax(axis=1)]
            return frame.assign(pa=prob[:, 0], pb=prob[:, 1], pc=prob[:, 2], pred=pred, y=label)
        mean = 3.0 * x[:, 0] + np.sin(x[:, 1]) * 2.0
        noise = 0.5 + np.abs(x[:, 2]) * 1.0 + np.where(group == "g3", 0.8, 0.0)
        y = mean + rng.normal(size=n) * noise + np.where(flipped, 4.0, 0.0)
        return frame.assign(pred=mean, y=y)


def worlds() -> dict[str, World]:
    return {
        # toward the decision boundary: at a shift of 1.5 the features' mean sits on it
        "binary": World("binary", -np.array([2.0, -1.5, 0.5, 0.0]) * 2.0 / 1.5 / (2.0**2 + 1.5**2 + 0.5**2)),
        # a rare positive class (7%): shifted toward the boundary, more rows become positive or doubtful
        "binary_rare": World("binary", np.array([2.0, -1.5, 0.5, 0.0]) * 2.0 / 1.5 / 6.5, intercept=-4.5),
        "multiclass": World("multiclass", np.array([-1.095, 0.238, 0.0, 0.0]) / 1.5),  # to where all three meet
        "regression": World("regression", np.array([0.0, 0.0, 1.0, 0.0])),  # into the noisy region
    }


def realized(frame: pd.DataFrame, cfg: ModelConfig, metric: str) -> float | None:
    try:
        return float(get_metric(metric).point(_frame_to_labelled(frame, cfg), None))
    except ValueError:
        return None


def window_estimates(fitted: Any, frame: pd.DataFrame) -> dict[str, Any]:
    return {e.metric: e for e in estimates(fitted, fitted.tally(fitted.row_values(frame)))}


def study(
    task: str, windows: int, sizes: list[int], reference_rows: int = 5000, seed: int = 0, references: int = 8
) -> dict[str, Any]:
    """Coverage and error of the estimates over ``windows`` shifted windows of each size, and the concept test.
    The windows are spread over ``references`` reference draws, each with its own fit: a band's coverage is the
    procedure's, over the references a user may have, not one reference's luck (its calibration error is shared
    by every window held to it)."""
    world = worlds()[task]
    cfg = config(world.task)
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(max(1, min(references, windows))):
        fitted = fit_estimator(world.draw(reference_rows, rng), cfg)
        assert fitted is not None and not hasattr(fitted, "reason"), fitted
        fits.append(fitted)
    out: dict[str, Any] = {"task": task, "references": len(fits), "by_size": {}}
    for n in sizes:
        covered: dict[str, list[bool]] = {m: [] for m in METRICS[task]}
        errors: dict[str, list[float]] = {m: [] for m in METRICS[task]}
        for i in range(windows):
            frame = world.draw(n, rng, shift=1.5 * (i // len(fits)) / max(windows // len(fits) - 1, 1))
            est = window_estimates(fits[i % len(fits)], frame)
            for m in METRICS[task]:
                real, e = realized(frame, cfg, m), est[m]
                if real is None or e.value is None:
                    continue
                covered[m].append(bool(e.lower <= real <= e.upper))
                errors[m].append(abs(e.value - real))
        out["by_size"][n] = {
            m: {
                "coverage": round(float(np.mean(covered[m])), 3),
                "mae": round(float(np.mean(errors[m])), 4),
                "windows": len(covered[m]),
            }  # fmt: skip
            for m in METRICS[task]
        }
    fitted = fits[0]
    n = max(sizes)
    clean, changed = world.draw(n, rng), world.draw(n, rng, flip=0.3)
    metric = METRICS[task][0]
    out["concept"] = {
        "metric": metric,
        "clean": {"estimate": window_estimates(fitted, clean)[metric].value, "realized": realized(clean, cfg, metric)},
        "changed": {
            "estimate": window_estimates(fitted, changed)[metric].value,
            "realized": realized(changed, cfg, metric),
        },
    }
    return out
