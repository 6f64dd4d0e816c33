"""The schema of a model's retraining: when it may start, what it trains on, how a challenger must prove itself,
where models are kept, and optional batch scoring. Part of ``config/<model>.yaml`` under ``retrain:``."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from driftwarden.config.common import Strict, parse_duration
from driftwarden.config.settings import PLACEHOLDER_ONLY


class TrainingDataConfig(Strict):
    after_concept_change: Literal["since_change", "last_windows"] = "since_change"
    """After a ``concept_change``: train on labelled rows since the first window of the current breach streak
    (``since_change``; old-concept rows teach the old rule) or on the last ``windows`` labelled windows."""
    windows: int = Field(7, ge=1)
    """How many recent labelled windows to train on (``last_windows``, and after ``input_drift``)."""
    include_reference: bool = True
    """After ``input_drift`` alone (or a manual retrain with no breach), the reference rows join the recent
    windows (they carry the target)."""
    failure_weight: float = Field(2.0, ge=0)
    """Failure samples from the failure log join the training rows with this sample weight (0: not added);
    samples that fall in the holdout are never added."""
    min_rows: int = Field(500, ge=1)
    """A training set smaller than this is refused (the champion stays)."""


class HoldoutConfig(Strict):
    windows: int = Field(1, ge=1)
    """The most recent labelled, mature windows held out (split by time, never trained on)."""
    min_rows: int = Field(300, ge=10)
    """A holdout smaller than this is refused: more windows are taken, up to what is available."""


class PromotionConfig(Strict):
    metric: str | None = None
    """The KPI the challenger must win on (default: the model's first KPI)."""
    margin: float = Field(0.01, ge=0)
    """The challenger's value must beat the champion's by at least this (in the KPI's units), the gain beyond
    it shown by the paired test, on the retrain's holdout and again on the shadow windows."""
    shadow_windows: int = Field(1, ge=0, le=52)
    """The promotion is decided on this many labelled windows after the retrain's holdout, scored by the
    champion, which neither trained the challenger nor took part in the decision to retrain (more are
    taken until ``shadow_min_rows`` rows are labelled). Until their labels mature the challenger waits,
    registered but not served (``pending``); the first monitoring run that has them decides. The holdout then
    only vetoes a challenger that does not lead there. 0: decide at once on the retrain's holdout, usually a
    window whose breach started the retrain, where the champion's score is low by selection
    (``benchmarks/promotion.py`` measures both)."""
    shadow_min_rows: int = Field(3000, ge=10)
    """Labelled rows the shadow windows must hold (more windows are taken until they do). At the default
    margin a real 3-point gain in accuracy was promoted in 89-90% of simulated cases with 3,000 rows, 77-80%
    with 2,000 and a third with 500 (``benchmarks/promotion.py``)."""
    p_value: float = Field(0.05, gt=0, lt=1)
    """The paired test (McNemar for accuracy, a paired bootstrap otherwise) must be significant at this level."""
    tolerance: float = Field(0.01, ge=0)
    """Any other KPI may be worse for the challenger by at most this much."""
    bootstrap: int = Field(1000, ge=100, le=100_000)
    """Paired bootstrap resamples."""


StressPerturbation = Literal[
    "noise", "missing", "category_swap", "unseen_category", "scale_x100", "scale_x0.01", "shift"
]
"""The stress tests' perturbations of the holdout (``checks/stress/``, one module each, registered by key)."""


class StressGate(Strict):
    """One perturbation declared realistic: a challenger worse than the champion under it is not promoted."""

    perturbation: StressPerturbation
    strength: float = Field(gt=0, le=1)


class StressConfig(Strict):
    """Stress tests: the holdout perturbed in controlled ways, every KPI measured per perturbation and strength,
    champion and challenger side by side. Advisory unless ``gates`` are declared."""

    enabled: bool = True
    """Whether ``retrain-model`` runs the stress suite before a promotion (``driftwarden stress`` always may)."""
    perturbations: list[StressPerturbation] = Field(default_factory=lambda: list(get_args(StressPerturbation)))
    """Which perturbations the suite runs (default: all)."""
    strengths: list[float] = Field(default_factory=lambda: [0.05, 0.1, 0.2, 0.5], min_length=1)
    """Increasing strengths: the share of values touched (missing, swaps, unseen categories, unit errors), the
    noise's standard deviation and the shift in units of each feature's spread."""
    gates: list[StressGate] = Field(default_factory=list)
    """Perturbations a challenger must not be worse under than the champion, on the same perturbed rows (a
    one-sided paired test on the promotion KPI, Holm across the gates at ``p_value``)."""
    p_value: float = Field(0.05, gt=0, lt=1)
    max_rows: int = Field(5000, ge=100)
    """A larger holdout is sampled down to this many rows (seeded) for the suite."""
    worst_rows: int = Field(50, ge=0, le=10_000)
    """The perturbed rows that hurt each model most, kept beside the version in the registry (never trained on)."""
    seed: int = 0

    @field_validator("strengths")
    @classmethod
    def _strengths(cls, value: list[float]) -> list[float]:
        if any(not 0 < s <= 1 for s in value):
            raise ValueError("each strength must be in (0, 1]")
        return sorted(set(value))


class EstimatorConfig(Strict):
    """The default trainer: a scikit-learn pipeline described here (ordinal-encoded categoricals)."""

    kind: Literal["hist_gradient_boosting", "random_forest", "logistic_regression", "linear"] = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the estimator, e.g. ``{max_iter: 200}``."""


class ScoringConfig(Strict):
    enabled: bool = False
    """Batch scoring: the ``score-model`` flow reads a window's features (``sources.features``), scores them with
    the champion and writes predictions with its version to the predictions source. A monitoring run scores its
    window first when its predictions are missing."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """Binary tasks: the probability from which the positive class is predicted."""


class RetrainConfig(Strict):
    auto: bool = False
    """Whether a monitoring run may start ``retrain-model`` when this policy says so (manual runs always may)."""
    kpis: list[str] = Field(default_factory=list)
    """Which KPI breaches count (metric names; empty: all the model's KPIs)."""
    consecutive: int = Field(2, ge=1)
    """How many consecutive mature windows must be breached."""
    min_labelled_rows: int = Field(1000, ge=1)
    """Labelled rows needed in the breached windows before retraining is worth it."""
    cooldown: str = "3d"
    """No automatic retraining within this long after the last one (any outcome)."""
    on_drift: bool = False
    """Whether input drift alone (no KPI breach) may trigger retraining."""
    trainer: str | None = None
    """``module:function`` taking (features frame, target series, sample weights) and returning a fitted
    estimator with ``predict`` (and ``predict_proba`` for classifiers); default: ``estimator`` below."""
    estimator: EstimatorConfig = EstimatorConfig()
    training: TrainingDataConfig = TrainingDataConfig()
    holdout: HoldoutConfig = HoldoutConfig()
    promotion: PromotionConfig = PromotionConfig()
    registry: str | None = None
    """Folder or fsspec URL of the model registry (default: ``<DRIFTWARDEN_HOME>/registry``)."""
    export_path: str | None = None
    """After a promotion, the champion's file is copied here (for models served elsewhere)."""
    webhook_url: str | None = None
    """After a promotion, a JSON POST goes here; write it as ``${ENV_VAR}`` (it may hold a token)."""
    scoring: ScoringConfig = ScoringConfig()
    stress: StressConfig = StressConfig()

    @field_validator("trainer")
    @classmethod
    def _trainer(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value):
            raise ValueError(f"trainer {value!r} must be 'module:function'")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(PLACEHOLDER_ONLY, value.strip()):
            raise ValueError("webhook_url may hold a token: write it as ${ENV_VAR} and set that in the environment")
        return value

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, value: str) -> str:
        parse_duration(value)
        return value
