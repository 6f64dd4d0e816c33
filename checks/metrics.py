"""The KPI metrics, one ``register(...)`` each: tasks, direction, value, interval method, per-row loss (pure).

The KPIs (``checks/kpis.py``) and the champion/challenger comparison (``checks/champion.py``) both compute
a metric through its entry here, so a metric has one definition. The schema's side of a metric (the names
a config may use, their tasks and directions) is ``driftwarden.config.model.METRICS``; adding a metric is a
row there and a ``register`` call here (``tests/checks/test_metrics_registry.py`` keeps the two in step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from driftwarden.checks.profile import category_text
from driftwarden.config.model import Direction, Task, ValueConfig

IntervalMethod = Literal["wilson", "delong", "mean_loss", "bootstrap"]
"""How a KPI's 95% interval is had: Wilson's for a proportion of rows, DeLong's for a binary AUC, the central
limit or a seeded bootstrap of the mean for a mean of per-row losses, a seeded bootstrap of the value
otherwise."""

Rows = np.ndarray | None
"""Row positions to compute on (a bootstrap resample); None: all rows."""


@dataclass(frozen=True, eq=False)
class Labelled:
    """Labels and one model's output on the same rows, as every metric reads them."""

    task: Task
    y: np.ndarray
    """Labels: text (classification) or floats (regression)."""
    pred: np.ndarray
    """Predicted labels (text) or values (floats)."""
    proba: np.ndarray | None = None
    """Binary: P(positive), shape (n,); multiclass: (n, k) in ``classes`` order."""
    classes: tuple[str, ...] = ()
    """Multiclass: the class of each ``proba`` column."""
    positive: str = ""
    """Binary: the positive class."""
    macro_over_predicted: bool = True
    """Multiclass precision and F1 average over the classes labelled or predicted, as scikit-learn's default
    does (a prediction into a class that did not occur is wrong and counts); False: the labelled ones only."""
    value: ValueConfig | None = None
    """What the model's decisions are worth (the ``cost`` metric reads it)."""

    @cached_property
    def yb(self) -> np.ndarray:
        """Binary: 1 where the label is the positive class, else 0."""
        return (self.y == self.positive).astype(int)

    @cached_property
    def pb(self) -> np.ndarray:
        """Binary: 1 where the prediction is the positive class, else 0."""
        return (self.pred == self.positive).astype(int)

    @cached_property
    def present(self) -> list[str]:
        """The classes that occur in the labels, sorted."""
        return sorted(pd.unique(self.y))

    @cached_property
    def macro_classes(self) -> list[str]:
        """The classes multiclass precision and F1 average over."""
        if not self.macro_over_predicted:
            return self.present
        return sorted(set(self.present) | set(pd.unique(self.pred)))

    @property
    def one_class(self) -> bool:
        """Only one class occurs in the labels (binary: only positives or only negatives)."""
        if self.task == "binary":
            return len(np.unique(self.yb)) < 2
        return len(self.present) < 2


PointFn = Callable[[Labelled, Rows], float]
"""The metric's value on the given rows; raises ValueError where it is undefined."""
ShareFn = Callable[[Labelled], tuple[np.ndarray, np.ndarray]]
"""A proportion as two row masks: (success, counted); the metric is successes / counted rows."""
LossFn = Callable[[Labelled], np.ndarray]
"""Per-row losses whose mean (or its root) is the metric."""


@dataclass(frozen=True)
class Metric:
    """One registered metric (see ``register``)."""

    name: str
    tasks: frozenset[Task]
    direction: Direction
    point: PointFn
    """Its value, the same for the KPIs and for the comparison of two models."""
    intervals: Mapping[Task, IntervalMethod]
    """The KPI interval method per task (every task in ``tasks``)."""
    share: ShareFn | None = None
    """Wilson tasks: the proportion's (success, counted) masks."""
    share_of: str = ""
    """What a Wilson proportion counts, for the note when there is none of it (``no predicted positives``)."""
    row_loss: LossFn | None = None
    """Mean-loss tasks: the per-row loss (the comparison's paired bootstrap resamples it too)."""
    root: bool = False
    """The metric is the square root of the mean loss (rmse, rmsle)."""
    probabilities: bool = False
    """It reads predicted probabilities."""
    mcnemar: bool = False
    """A share of all rows, each right or wrong: two models on the same rows are compared by McNemar's test."""
    money: bool = False
    """An amount in the model's currency (``value.currency``), unbounded: no [0, 1] clip of its bands."""

    def interval(self, task: Task) -> IntervalMethod:
        if task not in self.intervals:
            raise ValueError(f"metric {self.name!r} does not apply to task {task!r}")
        return self.intervals[task]

    def losses(self, task: Task) -> LossFn | None:
        """The per-row loss where this task's metric is a mean of one, else None."""
        return self.row_loss if self.intervals.get(task) == "mean_loss" else None

    def better(self, a: float, b: float) -> float:
        """How much better ``a`` is than ``b`` (positive: better), whatever the direction."""
        return a - b if self.direction == "higher_is_better" else b - a


_REGISTRY: dict[str, Metric] = {}
REGISTRY: Mapping[str, Metric] = MappingProxyType(_REGISTRY)
"""Metric name -> its entry, in registration order."""


class UnknownMetric(LookupError):
    """A metric name no entry is registered under."""


def get_metric(name: str) -> Metric:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownMetric(f"unknown metric {name!r}; the metrics are {', '.join(_REGISTRY)}") from None


def register(
    name: str,
    tasks: Iterable[Task],
    direction: Direction,
    *,
    point: PointFn | None = None,
    interval: IntervalMethod | Mapping[Task, IntervalMethod] = "bootstrap",
    share: ShareFn | None = None,
    share_of: str = "",
    row_loss: LossFn | None = None,
    root: bool = False,
    probabilities: bool = False,
    mcnemar: bool = False,
    money: bool = False,
) -> Metric:
    """Add a metric. ``interval`` is one method for all its tasks, or a method per task (the others
    ``bootstrap``). Without ``point``, the value is the share (``share``) or the (root) mean loss (``row_loss``)."""
    task_set = frozenset(tasks)
    given = {t: interval for t in task_set} if isinstance(interval, str) else dict(interval)
    if name in _REGISTRY:
        raise ValueError(f"metric {name!r} is registered already")
    if not set(given) <= task_set:
        raise ValueError(f"metric {name!r}: intervals for tasks it does not apply to: {sorted(set(given) - task_set)}")
    methods: dict[Task, IntervalMethod] = {t: given.get(t, "bootstrap") for t in sorted(task_set)}
    used = set(methods.values())
    if "wilson" in used and share is None:
        raise ValueError(f"metric {name!r}: a Wilson interval needs share")
    if "mean_loss" in used and row_loss is None:
        raise ValueError(f"metric {name!r}: a mean-loss interval needs row_loss")
    if "delong" in used and ({t for t, m in methods.items() if m == "delong"} != {"binary"} or not probabilities):
        raise ValueError(f"metric {name!r}: DeLong's interval is for a binary AUC of probabilities")
    if mcnemar and share is None:
        raise ValueError(f"metric {name!r}: McNemar's test needs share")
    if point is None:
        if share is not None:
            point = _share_point(share)
        elif row_loss is not None:
            point = _mean_loss_point(row_loss, root)
        else:
            raise ValueError(f"metric {name!r} needs point, share or row_loss")
    entry = Metric(
        name,
        task_set,
        direction,
        point,
        MappingProxyType(methods),
        share=share,
        share_of=share_of,
        row_loss=row_loss,
        root=root,
        probabilities=probabilities,
        mcnemar=mcnemar,
        money=money,
    )
    _REGISTRY[name] = entry
    return entry


def _at(values: np.ndarray, rows: Rows) -> np.ndarray:
    return values if rows is None else values[rows]


def _share_point(share: ShareFn) -> PointFn:
    def point(d: Labelled, rows: Rows) -> float:
        success, counted = (_at(m, rows) for m in share(d))
        base = int(counted.sum())
        return int(success.sum()) / base if base else 0.0  # scikit-learn's zero_division=0

    return point


def _mean_loss_point(row_loss: LossFn, root: bool) -> PointFn:
    def point(d: Labelled, rows: Rows) -> float:
        # As scikit-learn: no value from NaN or infinite labels, predictions or probabilities.
        read = [d.y, d.pred] if d.task == "regression" else [d.proba]
        if not all(v is not None and np.isfinite(v.astype(float)).all() for v in read):
            raise ValueError("the input holds NaN or infinity")
        mean = float(_at(row_loss(d), rows).mean())
        return math.sqrt(mean) if root else mean

    return point


def _needs_proba(d: Labelled) -> np.ndarray:
    if d.proba is None:
        raise ValueError("this metric needs the predicted probabilities")
    return d.proba


# --- classification ---------------------------------------------------------------------------------------


def _right(d: Labelled) -> tuple[np.ndarray, np.ndarray]:
    return d.y == d.pred, np.ones(len(d.y), dtype=bool)


def _precision_share(d: Labelled) -> tuple[np.ndarray, np.ndarray]:
    return (d.yb == 1) & (d.pb == 1), d.pb == 1


def _recall_share(d: Labelled) -> tuple[np.ndarray, np.ndarray]:
    return (d.yb == 1) & (d.pb == 1), d.yb == 1


_binary_precision, _binary_recall = _share_point(_precision_share), _share_point(_recall_share)


# Multiclass averages are macro over the classes present in the labels (and for precision and F1 also the
# classes predicted, see Labelled.macro_over_predicted): a class that simply did not occur must not drag a
# perfect model's recall to 2/3, but predictions into it are wrong.


def _precision(d: Labelled, rows: Rows) -> float:
    if d.task == "binary":
        return _binary_precision(d, rows)
    y, pred = _at(d.y, rows), _at(d.pred, rows)
    return float(skm.precision_score(y, pred, labels=d.macro_classes, average="macro", zero_division=0))


def _recall(d: Labelled, rows: Rows) -> float:
    if d.task == "binary":
        return _binary_recall(d, rows)
    y, pred = _at(d.y, rows), _at(d.pred, rows)
    return float(skm.recall_score(y, pred, labels=d.present, average="macro", zero_division=0))


def _f1(d: Labelled, rows: Rows) -> float:
    if d.task == "binary":
        return float(skm.f1_score(_at(d.yb, rows), _at(d.pb, rows), zero_division=0))
    y, pred = _at(d.y, rows), _at(d.pred, rows)
    return float(skm.f1_score(y, pred, labels=d.macro_classes, average="macro", zero_division=0))


def _roc_auc(d: Labelled, rows: Rows) -> float:
    proba = _at(_needs_proba(d), rows)
    if d.task == "binary":
        return float(skm.roc_auc_score(_at(d.yb, rows), proba))
    return _ovr_auc(_at(d.y, rows), proba, d.present, {c: k for k, c in enumerate(d.classes)})


def _ovr_auc(y: np.ndarray, proba: np.ndarray, present: list[str], columns: dict[str, int]) -> float:
    """Macro one-vs-rest AUC over the classes present in the labels (each needs both sides)."""
    scores = [
        skm.roc_auc_score(y == c, proba[:, columns[c]]) for c in present if c in columns and 0 < (y == c).sum() < len(y)
    ]
    if not scores:
        raise ValueError("one class only in the labels")
    return float(np.mean(scores))


def _binary_log_losses(d: Labelled) -> np.ndarray:
    p = np.clip(_needs_proba(d), 1e-15, 1 - 1e-15)
    yb = d.yb.astype(float)
    return -(yb * np.log(p) + (1 - yb) * np.log(1 - p))


def _log_loss(d: Labelled, rows: Rows) -> float:
    if d.task == "binary":
        return _mean_loss_point(_binary_log_losses, root=False)(d, rows)
    proba = _at(_needs_proba(d), rows)
    return float(skm.log_loss(_at(d.y, rows), proba, labels=list(d.classes)))


# --- regression -------------------------------------------------------------------------------------------


def _absolute_errors(d: Labelled) -> np.ndarray:
    return np.abs(d.y.astype(float) - d.pred.astype(float))


def _squared_errors(d: Labelled) -> np.ndarray:
    return (d.y.astype(float) - d.pred.astype(float)) ** 2


def _squared_log_errors(d: Labelled) -> np.ndarray:
    yf, pf = d.y.astype(float), d.pred.astype(float)
    if (yf <= -1).any() or (pf <= -1).any():
        raise ValueError("rmsle is undefined here: labels or predictions at or below -1 (use mae or rmse)")
    return (np.log1p(yf) - np.log1p(pf)) ** 2


def _r2(d: Labelled, rows: Rows) -> float:
    return float(skm.r2_score(_at(d.y, rows).astype(float), _at(d.pred, rows).astype(float)))


# --- value -------------------------------------------------------------------------------------------------
# The cost KPI is per prediction, a mean of per-row costs: windows of any size compare, its interval is the
# mean's (a window's total is the mean times the window's predictions, and so is its interval), and CBPE's
# expected confusion matrix and DLE's predicted losses estimate it before the labels.


def row_costs(d: Labelled) -> np.ndarray:
    """What each row's decision cost in ``d.value``'s currency (negative: it earned)."""
    v = d.value
    if v is None:
        raise ValueError("the cost KPI needs the model's value (value: in its config)")
    if d.task == "regression":
        under, over = v.unit_costs
        err = d.pred.astype(float) - d.y.astype(float)
        return np.where(err < 0, -err * under, err * over)
    if d.task == "binary":
        tp, fp, fn, tn = v.cells
        return np.select([(d.yb == 1) & (d.pb == 1), d.pb == 1, d.yb == 1], [tp, fp, fn], tn).astype(float)
    pairs = {(category_text(a), category_text(b)): c for a, row in v.pairs.items() for b, c in row.items()}
    return np.fromiter((pairs.get((a, b), 0.0) for a, b in zip(d.y, d.pred, strict=True)), float, len(d.y))


def _cost(d: Labelled, rows: Rows) -> float:
    costs = _at(row_costs(d), rows)
    if not len(costs) or not np.isfinite(costs).all():
        raise ValueError("the input holds NaN or infinity")
    return float(costs.mean())


CLASSIFICATION: tuple[Task, ...] = ("binary", "multiclass")
REGRESSION: tuple[Task, ...] = ("regression",)
HIGHER: Direction = "higher_is_better"
LOWER: Direction = "lower_is_better"

register("accuracy", CLASSIFICATION, HIGHER, interval="wilson", share=_right, share_of="labelled rows", mcnemar=True)
register("precision", CLASSIFICATION, HIGHER, point=_precision, interval={"binary": "wilson"},
         share=_precision_share, share_of="predicted positives")  # fmt: skip
register("recall", CLASSIFICATION, HIGHER, point=_recall, interval={"binary": "wilson"},
         share=_recall_share, share_of="actual positives")  # fmt: skip
register("f1", CLASSIFICATION, HIGHER, point=_f1)
register("roc_auc", CLASSIFICATION, HIGHER, point=_roc_auc, interval={"binary": "delong"}, probabilities=True)
register("log_loss", CLASSIFICATION, LOWER, point=_log_loss, interval={"binary": "mean_loss"},
         row_loss=_binary_log_losses, probabilities=True)  # fmt: skip
register("mae", REGRESSION, LOWER, interval="mean_loss", row_loss=_absolute_errors)
register("rmse", REGRESSION, LOWER, interval="mean_loss", row_loss=_squared_errors, root=True)
register("rmsle", REGRESSION, LOWER, interval="mean_loss", row_loss=_squared_log_errors, root=True)
register("r2", REGRESSION, HIGHER, point=_r2)
register("cost", (*CLASSIFICATION, *REGRESSION), LOWER, point=_cost, interval="mean_loss", row_loss=row_costs,
         money=True)  # fmt: skip
