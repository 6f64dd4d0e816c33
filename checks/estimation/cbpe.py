"""Confidence-based performance estimation (CBPE) for classifiers that give probabilities.

The model's probabilities are calibrated on the reference (isotonic regression of the label on the score, one
class against the rest for multiclass, rows renormalised): a calibrated probability is the chance that the row
is of that class. A window's expected confusion matrix is then the sum of those chances by predicted class, and
from it come the expected accuracy, precision, recall and F1; the expected ROC AUC comes from the calibrated
chances binned by score (the chance that a positive outranks a negative). It holds while the relationship
between inputs and label holds (covariate shift moves the estimate with the realized KPI); a pure concept
change, the same inputs now meaning another label, is invisible to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from driftwarden.checks.estimation.base import (
    FOLDS,
    MAX_SHIFT_COLUMNS,
    Fitted,
    NotEstimable,
    Support,
    Tally,
    folds_of,
    held_out_sigma,
    register_estimator,
)
from driftwarden.checks.profile import as_category_text, category_text
from driftwarden.config.model import ModelConfig

BINS = 1000
"""Score bins of the expected ROC AUC, cut at the reference's score quantiles (a window's sums stay this size
however many rows it has; uniform bins would put most rows of a confident or imbalanced model in one bin, and
ties within a bin pull the AUC toward 0.5)."""
MIN_CLASS_ROWS = 50
"""Fewer reference rows of a class (the positives of a rare event): its calibration, and every band, is noise."""
MIN_DISTINCT_SCORES = 5
"""Fewer distinct probabilities in the reference (0/1 only, a hard classifier): nothing to be confident about."""
EPS = 1e-12


@dataclass(frozen=True)
class Calibrator:
    """An isotonic map from score to probability, as its breakpoints (applied by interpolation)."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def fit(cls, score: np.ndarray, label: np.ndarray) -> Calibrator:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, label)
        return cls(np.asarray(iso.X_thresholds_, dtype=float), np.asarray(iso.y_thresholds_, dtype=float))

    def __call__(self, score: np.ndarray) -> np.ndarray:
        return np.interp(score, self.x, self.y)

    def to_json(self) -> list[list[float]]:
        return [self.x.tolist(), self.y.tolist()]

    @classmethod
    def from_json(cls, data: list[list[float]]) -> Calibrator:
        return cls(np.asarray(data[0], dtype=float), np.asarray(data[1], dtype=float))


@dataclass(frozen=True)
class CBPE:
    """The fitted estimator. ``classes``: binary, (negative, positive); multiclass, each probability column's class."""

    method: str
    metrics: tuple[str, ...]
    classes: tuple[str, ...]
    score_columns: tuple[str, ...]
    prediction: str
    calibrators: tuple[Calibrator, ...]
    """Binary: one (the positive class); multiclass: one per class."""
    sigma: dict[str, tuple[float, float, float]]
    support: Support | None
    folds: tuple[tuple[Calibrator, ...], ...] = ()
    edges: tuple[np.ndarray, ...] = ()
    """Per score column, the inner edges of its AUC bins (the reference's score quantiles)."""
    correct: tuple[Calibrator, ...] = ()
    """Multiclass: the chance that the prediction is right from the predicted class's own probability (the
    full fit, then each fold's): calibrated directly, accuracy does not inherit the error of renormalising
    one-against-the-rest calibrations."""
    """The calibrators of the cross-fitting, each fitted without one fold: how much the calibration itself
    varies with the reference's rows, where the window's scores lie (a jackknife; see ``variants``)."""
    costs: tuple[float, ...] = ()
    """The ``cost`` KPI: what each cell of the confusion matrix costs (binary: TP, FP, FN, TN; multiclass: the
    k x k matrix [label, predicted] row by row), from ``value`` in the config it was fitted for."""

    @property
    def binary(self) -> bool:
        return len(self.calibrators) == 1

    def to_json(self) -> dict[str, Any]:
        """Plain JSON of the fit (stored with the reference profile, so a run need not refit it)."""
        support = self.support
        return {
            "method": self.method, "metrics": list(self.metrics), "classes": list(self.classes),
            "score_columns": list(self.score_columns), "prediction": self.prediction,
            "calibrators": [c.to_json() for c in self.calibrators],
            "sigma": {m: list(v) for m, v in self.sigma.items()},
            "support": None if support is None else {
                "columns": list(support.columns), "low": support.low.tolist(), "high": support.high.tolist(),
                "reference_share": support.reference_share,
            },
            "folds": [[c.to_json() for c in fold] for fold in self.folds],
            "edges": [e.tolist() for e in self.edges],
            "correct": [c.to_json() for c in self.correct],
            "costs": list(self.costs),
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CBPE:
        s = d["support"]
        support = None if s is None else Support(
            tuple(s["columns"]), np.asarray(s["low"], dtype=float), np.asarray(s["high"], dtype=float),
            float(s["reference_share"]),
        )  # fmt: skip
        return cls(
            d["method"], tuple(d["metrics"]), tuple(d["classes"]), tuple(d["score_columns"]), d["prediction"],
            tuple(Calibrator.from_json(c) for c in d["calibrators"]),
            {m: (float(v[0]), float(v[1]), float(v[2])) for m, v in d["sigma"].items()}, support,
            tuple(tuple(Calibrator.from_json(c) for c in fold) for fold in d["folds"]),
            tuple(np.asarray(e, dtype=float) for e in d["edges"]),
            tuple(Calibrator.from_json(c) for c in d["correct"]), tuple(float(x) for x in d.get("costs", ())),
        )  # fmt: skip

    @property
    def variants(self) -> tuple[str, ...]:
        """The suffixes of the fold calibrators' sums: ``estimates`` takes their spread as the calibration's
        own uncertainty (the delete-a-group jackknife)."""
        return tuple(f"_f{k}" for k in range(len(self.folds)))

    @property
    def value_columns(self) -> tuple[str, ...]:
        k = len(self.calibrators)
        beyond = ("_beyond",) if self.support is not None else ()
        q = [f"_q{i}{v}" for v in ("", *self.variants) for i in range(k)]
        right = [f"_c{v}" for v in ("", *self.variants)] if self.correct else []
        return (*q, *right, "_pred", *(f"_bin{i}" for i in range(k)), *beyond)

    def row_values(self, chunk: pd.DataFrame, labels: np.ndarray | None = None) -> pd.DataFrame:
        """Per row: the calibrated chance of each class (``_q<i>``, and by each fold calibrator ``_q<i>_f<k>``),
        the predicted class's index (``_pred``, -1 for a class the model does not score) and the binned raw
        score of each class (``_bin<i>``). With ``labels`` (text), each chance is 1 for the row's own class and 0
        for the others: the same sums then give the realized KPIs."""
        scores = np.column_stack([_scores(chunk[c]) for c in self.score_columns])
        codes, uniques = pd.factorize(as_category_text(chunk[self.prediction]), use_na_sentinel=True)
        index = {c: i for i, c in enumerate(self.classes)}
        lookup = np.array([index.get(u, -1) for u in uniques] + [-1], dtype=np.int64)
        pred = lookup[codes]  # a missing prediction (code -1) takes the last entry: no class
        out: dict[str, np.ndarray] = {}
        if labels is not None:
            known = self.classes[1:] if self.binary else self.classes
            for i, k in enumerate(known):
                out[f"_q{i}"] = (labels == k).astype(float)
            if self.correct:
                out["_c"] = (pred >= 0) & (labels == np.array(self.classes, dtype=object)[np.maximum(pred, 0)])
                out["_c"] = out["_c"].astype(float)
        else:
            for suffix, cals in (("", self.calibrators), *zip(self.variants, self.folds, strict=True)):
                q = self._calibrated(cals, scores)
                out |= {f"_q{i}{suffix}": q[:, i] for i in range(q.shape[1])}
            if self.correct:
                own = np.where(pred >= 0, scores[np.arange(len(pred)), np.maximum(pred, 0)], 0.0)
                for suffix, cal in zip(("", *self.variants), self.correct, strict=True):
                    out[f"_c{suffix}"] = np.where(pred >= 0, cal(own), 0.0)
        if self.binary:
            pred = np.where(pred == 1, 1, 0)  # anything but the positive class is a negative prediction
        bins = self._bins(scores)
        out["_pred"] = pred
        out |= {f"_bin{i}": bins[:, i] for i in range(bins.shape[1])}
        if self.support is not None:
            out["_beyond"] = self.support.beyond(chunk)
        return pd.DataFrame(out, index=chunk.index)

    def _bins(self, scores: np.ndarray) -> np.ndarray:
        if not self.edges:
            return np.clip((scores * BINS).astype(np.int64), 0, BINS - 1)
        return np.column_stack(
            [np.searchsorted(edges, scores[:, i], side="right") for i, edges in enumerate(self.edges)]
        ).astype(np.int64)

    def _calibrated(self, cals: tuple[Calibrator, ...], scores: np.ndarray) -> np.ndarray:
        q = np.column_stack([cal(scores[:, i]) for i, cal in enumerate(cals)])
        if not self.binary:
            total = q.sum(axis=1, keepdims=True)
            q = np.where(total > EPS, q / np.maximum(total, EPS), 1.0 / q.shape[1])
        return q

    def tally(self, values: pd.DataFrame) -> Tally:
        k = len(self.calibrators)
        n = len(values)
        pred = values["_pred"].to_numpy()
        bins = [values[f"_bin{i}"].to_numpy() if n else np.zeros(0, dtype=np.int64) for i in range(k)]
        sums = _beyond(values)
        arrays: dict[str, np.ndarray] = {}
        for suffix in ("", *self.variants):
            if f"_q0{suffix}" not in values:
                continue  # labels in place of chances: no fold variants
            q = np.column_stack([values[f"_q{i}{suffix}"].to_numpy(dtype=float) for i in range(k)])
            if self.binary:
                p, pos = q[:, 0], pred == 1
                sums |= {f"tp{suffix}": float(p[pos].sum()), f"fp{suffix}": float((1 - p[pos]).sum()),
                         f"fn{suffix}": float(p[~pos].sum()), f"tn{suffix}": float((1 - p[~pos]).sum())}  # fmt: skip
                if not suffix:  # each row's Bernoulli variance, by predicted class (see ``effective``)
                    var = p * (1 - p)
                    sums |= {"var_pos": float(var[pos].sum()), "var_neg": float(var[~pos].sum())}
            else:  # expected confusion matrix: [true j, predicted i] = sum of q_j over the rows predicted i
                confusion = np.zeros((k, k + 1))  # the last column: predictions of a class the model does not score
                for i in range(-1, k):
                    rows = pred == i
                    if rows.any():
                        confusion[:, i if i >= 0 else k] = q[rows].sum(axis=0)
                arrays[f"confusion{suffix}"] = confusion
                if f"_c{suffix}" in values:
                    right = values[f"_c{suffix}"].to_numpy(dtype=float)
                    sums[f"right{suffix}"] = float(right.sum())
                else:
                    right = q[np.arange(n), np.clip(pred, 0, k - 1)] * (pred >= 0)
                if not suffix:
                    sums["var_right"] = float((right * (1 - right)).sum())
            for i in range(k):
                arrays[f"auc_pos{i}{suffix}"] = np.bincount(bins[i], weights=q[:, i], minlength=BINS)
                arrays[f"auc_neg{i}{suffix}"] = np.bincount(bins[i], weights=1 - q[:, i], minlength=BINS)
        return Tally(n, sums, arrays)

    def effective(self, tally: Tally) -> dict[str, float]:
        """What each metric's sampling spread shrinks with: the rows it counts (binary precision the predicted
        positives, recall the actual ones, F1 both, the AUC the pairs, 1 / (1/P + 1/N); accuracy and multiclass
        every row) over their rows' mean Bernoulli variance, which a shift toward the decision boundary raises."""
        n = float(tally.rows)
        s = tally.sums
        if not self.binary:
            v = s.get("var_right", 0.0) / max(n, 1.0)
            return dict.fromkeys(self.metrics, n / max(v, EPS))
        if "tp" not in s or "var_pos" not in s:
            return dict.fromkeys(self.metrics, n)
        predicted = s["tp"] + s["fp"]
        positives, negatives = s["tp"] + s["fn"], s["fp"] + s["tn"]
        v_all = max((s["var_pos"] + s["var_neg"]) / max(n, 1.0), EPS)
        v_pos = max(s["var_pos"] / max(predicted, EPS), EPS)
        pairs = positives * negatives / (positives + negatives) if positives + negatives > EPS else 0.0
        counts = {
            "accuracy": n / v_all,
            "precision": predicted / v_pos,
            "recall": positives / v_all,
            "f1": (s["tp"] + (s["fp"] + s["fn"]) / 2) / v_all,
            "roc_auc": pairs / v_all,
        }
        return {m: counts.get(m, n) for m in self.metrics}

    def point(self, tally: Tally, variant: str = "") -> dict[str, float | None]:
        if tally.rows == 0:
            return dict.fromkeys(self.metrics)
        v = variant
        if self.binary:
            s = tally.sums
            tp, fp, fn, tn = s[f"tp{v}"], s[f"fp{v}"], s[f"fn{v}"], s[f"tn{v}"]
            values = {
                "accuracy": (tp + tn) / tally.rows,
                "precision": tp / (tp + fp) if tp + fp > EPS else None,
                "recall": tp / (tp + fn) if tp + fn > EPS else None,
                "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > EPS else None,
                "roc_auc": _auc(tally.arrays[f"auc_pos0{v}"], tally.arrays[f"auc_neg0{v}"]),
                "cost": float(np.dot(self.costs, (tp, fp, fn, tn)) / tally.rows) if self.costs else None,
            }
            return {m: values.get(m) for m in self.metrics}
        c = tally.arrays[f"confusion{v}"]
        k = c.shape[0]
        right = np.diag(c[:, :k])
        predicted = c[:, :k].sum(axis=0)
        actual = c.sum(axis=1)
        # macro averages as the realized KPIs take them: precision and F1 over the classes expected to occur or
        # predicted (a class never predicted has precision 0), recall over the classes expected to occur
        seen = [i for i in range(k) if predicted[i] > 0.5 or actual[i] > 0.5]
        precision = [right[i] / predicted[i] if predicted[i] > 0.5 else 0.0 for i in seen]
        recall = [right[i] / actual[i] for i in range(k) if actual[i] > 0.5]
        f1 = [2 * right[i] / (predicted[i] + actual[i]) if predicted[i] > 0.5 else 0.0 for i in seen]
        aucs = [
            _auc(tally.arrays[f"auc_pos{i}{v}"], tally.arrays[f"auc_neg{i}{v}"]) for i in range(k) if actual[i] > 0.5
        ]
        aucs_known = [a for a in aucs if a is not None]
        values = {
            "accuracy": float(tally.sums.get(f"right{v}", right.sum()) / tally.rows),
            "precision": float(np.mean(precision)) if precision else None,
            "recall": float(np.mean(recall)) if recall else None,
            "f1": float(np.mean(f1)) if f1 else None,
            "roc_auc": float(np.mean(aucs_known)) if aucs_known else None,
            # predictions of a class the model does not score (the last column) cost nothing: no pair names them
            "cost": float((np.reshape(self.costs, (k, k)) * c[:, :k]).sum() / tally.rows) if self.costs else None,
        }
        return {m: values.get(m) for m in self.metrics}


def _beyond(values: pd.DataFrame) -> dict[str, float]:
    return {"beyond": float(values["_beyond"].sum())} if "_beyond" in values else {}


def _scores(series: pd.Series) -> np.ndarray:
    x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    return np.clip(np.nan_to_num(x, nan=0.5), 0.0, 1.0)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """P(a positive's score > a negative's), ties half: from the expected positives and negatives per bin."""
    p_total, n_total = pos.sum(), neg.sum()
    if p_total <= EPS or n_total <= EPS:
        return None
    below = np.cumsum(neg) - neg  # negatives in lower bins
    return float(((below + 0.5 * neg) * pos).sum() / (p_total * n_total))


@register_estimator(
    "cbpe", tasks=("binary", "multiclass"), metrics=("accuracy", "precision", "recall", "f1", "roc_auc", "cost")
)
def fit_cbpe(reference: pd.DataFrame, cfg: ModelConfig, metrics: tuple[str, ...]) -> Fitted | NotEstimable:
    """Calibrate on the reference: cross-fitted for the bands (each fold calibrated on the others), then on all
    of it for the windows."""
    c = cfg.columns
    if cfg.task == "binary":
        if not c.probability:
            return NotEstimable("cbpe", metrics, "the model gives no probability column (columns.probability)")
        positive = category_text(c.positive_label)
        classes: tuple[str, ...] = ("", positive)
        score_columns: tuple[str, ...] = (c.probability,)
    else:
        if not c.probabilities:
            return NotEstimable("cbpe", metrics, "the model gives no probability columns (columns.probabilities)")
        classes = tuple(category_text(k) for k in c.probabilities)
        score_columns = tuple(c.probabilities.values())
    scores = np.column_stack([_scores(reference[s]) for s in score_columns])
    distinct = min(len(np.unique(scores[:, i])) for i in range(scores.shape[1]))
    if distinct < MIN_DISTINCT_SCORES:
        return NotEstimable(
            "cbpe", metrics,
            f"the model's probabilities take {distinct} distinct values in the reference (a hard 0/1 output "
            "says nothing of its confidence); at least {MIN_DISTINCT_SCORES} are needed".replace(
                "{MIN_DISTINCT_SCORES}", str(MIN_DISTINCT_SCORES)
            ),
        )  # fmt: skip
    y = as_category_text(reference[c.target]).to_numpy(dtype=object)
    targets = [(y == classes[1]).astype(float)] if cfg.task == "binary" else [(y == k).astype(float) for k in classes]
    fewest = min(int(min(t.sum(), len(t) - t.sum())) for t in targets)
    if fewest < MIN_CLASS_ROWS:
        return NotEstimable(
            "cbpe", metrics,
            f"the reference's rarest class has {fewest} labelled rows; a calibration needs at least {MIN_CLASS_ROWS}",
        )  # fmt: skip
    edges = tuple(
        np.unique(np.quantile(scores[:, i], np.linspace(0, 1, BINS + 1)[1:-1])) for i in range(scores.shape[1])
    )

    support = Support.of(reference[list(c.numerical)]) if c.numerical else None

    pred_text = as_category_text(reference[c.prediction]).to_numpy(dtype=object)
    index = {k: i for i, k in enumerate(classes)}
    pred_index = np.array([index.get(p, -1) for p in pred_text], dtype=np.int64)
    column = np.clip(pred_index, 0, scores.shape[1] - 1)  # binary: one score column, no correctness calibrator
    own = np.where(pred_index >= 0, scores[np.arange(len(scores)), column], 0.0)
    right = (pred_text == y).astype(float)

    costs = cell_costs(cfg, classes) if "cost" in metrics else ()

    def fit(rows: np.ndarray) -> CBPE:
        cals = tuple(Calibrator.fit(scores[rows, i], t[rows]) for i, t in enumerate(targets))
        correct = () if cfg.task == "binary" else (Calibrator.fit(own[rows], right[rows]),)
        return CBPE(
            "cbpe", metrics, classes, score_columns, c.prediction, cals, {}, support, edges=edges, correct=correct,
            costs=costs,
        )  # fmt: skip

    shifts = reference[[*c.numerical, *score_columns]].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    # the score's own tails, and the features the score follows most closely (each costs two more fits)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant feature: no correlation (NaN, then 0)
        strength = shifts[list(c.numerical)].rank().corrwith(shifts[score_columns[0]].rank()).abs().fillna(0.0)
    shifts = shifts[[*score_columns, *strength.sort_values(ascending=False).index[:MAX_SHIFT_COLUMNS]]]
    full = fit(np.arange(len(reference)))
    sigma = held_out_sigma(fit, full, reference, y, shifts)
    folds = folds_of(len(reference))
    dropped = [fit(np.flatnonzero(folds != k)) for k in range(FOLDS)]
    return CBPE(
        "cbpe", metrics, classes, score_columns, c.prediction, full.calibrators, sigma, support,
        tuple(d.calibrators for d in dropped), edges, full.correct + tuple(x for d in dropped for x in d.correct),
        costs,
    )  # fmt: skip


def cell_costs(cfg: ModelConfig, classes: tuple[str, ...]) -> tuple[float, ...]:
    """The cost of each cell of the expected confusion matrix, as ``CBPE.costs`` holds them."""
    value = cfg.value
    if value is None:
        return ()
    if cfg.task == "binary":
        return value.cells
    pairs = {(category_text(a), category_text(b)): x for a, row in value.pairs.items() for b, x in row.items()}
    return tuple(pairs.get((label, pred), 0.0) for label in classes for pred in classes)
