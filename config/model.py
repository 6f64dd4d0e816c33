"""The schema of one monitored model: what a ``config/<model>.yaml`` file may say.

Every model is strict (unknown keys are refused) and every field carries its meaning in its docstring,
so that an error can name the file, the key and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from driftwarden.config.alerts import AlertsConfig
from driftwarden.config.common import Strict, check_cron, parse_duration
from driftwarden.config.names import check_name, check_table
from driftwarden.config.retrain import RetrainConfig

Task = Literal["binary", "multiclass", "regression"]
Direction = Literal["higher_is_better", "lower_is_better"]


Name = Annotated[str, AfterValidator(check_name)]
"""A column or segment name: no SQL or markup syntax in it (``config/names.py``); the error names the key."""

SourceKind = Literal["arrow", "duckdb", "sql"]
"""The kinds of source, each read by the reader registered under its name: files through pyarrow or DuckDB
(``reader:``), or a database table (``url:`` + ``table:``)."""


class SourceConfig(Strict):
    """Where a table of rows lives: files (``path``) or a database table (``url`` + ``table``)."""

    path: str | None = None
    """A file path or glob (CSV or Parquet); relative paths are resolved against the YAML file's folder.
    With ``reader: duckdb`` it may also be an object-store URL (``s3://bucket/predictions/*.parquet``)."""
    format: Literal["auto", "csv", "parquet"] = "auto"
    """File format; ``auto`` decides by the file extension."""
    reader: Literal["arrow", "duckdb"] = "arrow"
    """How files are read: ``arrow`` (pyarrow, one row group at a time) or ``duckdb`` (DuckDB queries the
    glob, local or on an object store, with the window's time range and the columns pushed into the query,
    rows streamed in Arrow batches)."""
    duckdb_settings: dict[str, str] = Field(default_factory=dict)
    """``reader: duckdb`` only: DuckDB settings for the connection, e.g. ``s3_endpoint``, ``s3_region``,
    ``s3_url_style``, ``s3_access_key_id: ${S3_KEY_ID}``, ``s3_secret_access_key: ${S3_SECRET}`` (secrets
    as ``${VAR}`` placeholders only)."""
    url: str | None = None
    """SQLAlchemy URL of a database: PostgreSQL, SQLite or DuckDB (``duckdb:///path/to/file.duckdb``).
    Credentials come from the environment as ``${VAR}`` placeholders, e.g.
    ``postgresql+psycopg://monitor:${PREDICTIONS_DB_PASSWORD}@db/prod``."""
    table: Annotated[str, AfterValidator(check_table)] | None = None
    """Table (or view) name, optionally ``schema.table``; quoted, never pasted into SQL."""

    @property
    def kind(self) -> SourceKind:
        """The registry key of the reader of this source (``driftwarden.flows.sources.base.READERS``)."""
        return "sql" if self.url is not None else self.reader

    @model_validator(mode="after")
    def _one_kind(self) -> SourceConfig:
        if (self.path is None) == (self.url is None):
            raise ValueError("give either path (files) or url and table (a database), not both or neither")
        if self.url is not None and not self.table:
            raise ValueError("a database source needs table")
        if self.url is not None and re.search(r"://[^/@:]+:(?!\$\{)[^@/]+@", self.url):
            raise ValueError("the url holds a password: write it as ${ENV_VAR} and set that in the environment")
        if self.path is not None and "://" in self.path and self.reader != "duckdb":
            raise ValueError("an object-store path needs reader: duckdb")
        if self.duckdb_settings and self.reader != "duckdb":
            raise ValueError("duckdb_settings apply to reader: duckdb only")
        for key, value in self.duckdb_settings.items():
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
                raise ValueError(f"duckdb_settings: {key!r} is not a DuckDB setting name")
            if any(w in key for w in ("secret", "password", "token", "key_id")) and not re.fullmatch(
                r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value.strip()
            ):
                raise ValueError(f"duckdb_settings.{key} holds a secret: write it as ${{ENV_VAR}}")
        return self


class LabelSourceConfig(SourceConfig):
    """Where labels live: rows of (id, target, arrival time), joined to predictions on the id."""

    arrived_at: Name = "labelled_at"
    """Column with the time each label became known; labels are queried by this time range."""


class SourcesConfig(Strict):
    predictions: SourceConfig
    """The production predictions (timestamp, id, model version, features, prediction)."""
    labels: LabelSourceConfig | None = None
    """Labels arriving later; when absent, the target column is read from the predictions source."""
    reference: SourceConfig
    """The reference data drift is measured against: out-of-sample rows scored by the model."""
    features: SourceConfig | None = None
    """Batch scoring only: the rows to score (timestamp, id, features), read a window at a time."""


class ColumnsConfig(Strict):
    timestamp: Name
    """Prediction time; naive timestamps are read in ``window.timezone``."""
    id: Name
    """Unique id of a prediction, used to join labels."""
    model_version: Name | None = None
    """Column naming the model version that made each prediction (KPIs are kept per version)."""
    numerical: list[Name] = Field(default_factory=list)
    categorical: list[Name] = Field(default_factory=list)
    prediction: Name
    """The predicted class (classification) or value (regression)."""
    probability: Name | None = None
    """Binary tasks: the predicted probability of the positive class."""
    probabilities: dict[str, Name] = Field(default_factory=dict)
    """Multiclass tasks: class label -> column holding its predicted probability."""
    target: Name
    """The true label (in the labels source, or in the predictions source when labels come along)."""
    positive_label: int | str = 1
    """Binary tasks: the label of the positive class."""

    @property
    def features(self) -> list[str]:
        return [*self.numerical, *self.categorical]

    @model_validator(mode="after")
    def _no_overlap(self) -> ColumnsConfig:
        both = set(self.numerical) & set(self.categorical)
        if both:
            raise ValueError(f"columns listed as both numerical and categorical: {sorted(both)}")
        if not self.features:
            raise ValueError("at least one numerical or categorical feature is needed")
        return self


class WindowConfig(Strict):
    length: str = "1d"
    """Window length (``1h`` .. ``1w``); windows are half-open [start, end) aligned in ``timezone``."""
    timezone: str = "UTC"
    """IANA time zone the windows are aligned in, e.g. ``Europe/Berlin``."""

    @field_validator("length")
    @classmethod
    def _length(cls, value: str) -> str:
        td = parse_duration(value)
        day = timedelta(days=1)
        if td < day and (day % td) != timedelta(0):
            raise ValueError("a window shorter than a day must divide 24h evenly (e.g. 1h, 6h, 12h)")
        if td > day and td not in (timedelta(days=7),):
            raise ValueError("windows longer than a day: only 1w is supported")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:  # a folder of the zone database ('America') or a name too long for a file fail as OSError
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"unknown time zone {value[:200]!r} (an IANA name such as 'Europe/Berlin')") from None
        return value


class VolumeConfig(Strict):
    min_rows: int = Field(100, ge=0)
    """A window with fewer rows is a ``volume`` breach (a dead or broken feed)."""
    min_share_of_recent: float = Field(0.2, ge=0, le=1)
    """A window with fewer rows than this share of the median of recent windows is a ``volume`` breach."""
    recent_windows: int = Field(7, ge=1)
    """How many earlier windows make the 'recent' median."""


class ValidationConfig(Strict):
    range_iqr_k: float = Field(1.5, ge=0)
    """Numeric ranges are [q0.001 - k*IQR, q0.999 + k*IQR] of the reference."""
    range_mostly: float = Field(0.995, gt=0, le=1)
    """Share of a batch that must lie within the range. Heavy tails put ~0.03% of clean rows beyond
    q0.999 + 1.5 IQR, so 0.999 fails ~3% of clean 2,500-row nights; 0.995 fails none while a broken
    feed (units, offsets, garbage) puts far more than 0.5% of rows outside."""
    unseen_category_share: float = Field(0.01, ge=0, le=1)
    """Categories never seen in the reference fail only above this share of the batch."""
    null_tolerance: float = Field(0.02, ge=0, le=1)
    """Null share may exceed the reference's null share by this much before failing."""
    ranges: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    """Explicit [min, max] per numerical column, overriding the inferred range (null = unbounded)."""
    allowed_categories: dict[str, list[str]] = Field(default_factory=dict)
    """Explicit allowed values per categorical column, overriding the reference's categories."""
    unique_id: bool = True
    """Prediction ids must be unique within a window."""
    min_reference_rows: int = Field(100, ge=1)
    """Below this many non-null reference rows in a column, its range and category set are not inferred (an
    explicit ``ranges`` / ``allowed_categories`` entry still holds): q0.001/q0.999 of 10 rows are the min and
    max, and a 10-row category set misses common values, so clean production rows would breach. From 100 rows
    the extreme quantiles plus 1.5 IQR cover the bulk of a heavy-tailed feature."""


DriftMethod = Literal["auto", "wasserstein", "jensenshannon", "ks", "chisquare"]


class DriftConfig(Strict):
    min_rows: int = Field(300, ge=1)
    """Below this many rows in the window (or the reference) drift is 'not evaluated', never 'drifted'. From
    300 rows, the small-sample tests see a drift at the Jensen-Shannon threshold 94% of the time and a shift of
    twice the Wasserstein threshold 87%, with false alarms at Holm's 5% (6% measured in 200 clean windows;
    ``benchmarks/drift_power.py``); at 200 rows, 78% and 54%."""
    large_sample: int = Field(1000, ge=1)
    """From this many rows on, effect sizes (Wasserstein, Jensen-Shannon) are used instead of p-values."""
    wasserstein_threshold: float = Field(0.1, gt=0)
    """Normed Wasserstein distance (in reference standard deviations) at or above which a column drifted."""
    jensenshannon_threshold: float = Field(0.1, gt=0)
    """Jensen-Shannon distance at or above which a categorical column drifted."""
    p_value: float = Field(0.05, gt=0, lt=1)
    """Family-wise significance for the small-sample tests (KS, chi-square), Holm-corrected."""
    methods: dict[str, DriftMethod] = Field(default_factory=dict)
    """Per-column override of the method (``auto`` picks by type and size)."""
    dataset_share: float = Field(0.5, gt=0, le=1)
    """The dataset has drifted when the (weighted) share of drifted features reaches this."""
    weights: dict[str, float] = Field(default_factory=dict)
    """Optional feature weights (e.g. importances) for the dataset share; missing features weigh 1."""
    multivariate: bool = True
    """Also measure the joint drift of the features: the reconstruction error of a PCA fitted on the reference
    (a change of how features move together, which no single feature's drift shows). Counted as input drift."""
    segment_min_rows: int = Field(200, ge=1)
    """Drift per segment (each value of a column in ``segments``): below this many rows of the value in the window
    or in the reference, a cell (segment value x feature) is 'not evaluated'. Informational: it never changes
    a window's verdict."""
    segment_values: int = Field(20, ge=1)
    """Drift per segment is measured for the most frequent values of each segment column in the reference, at
    most this many (memory and the stored profile stay bounded); the other values are counted, not evaluated."""


class EstimationConfig(Strict):
    """KPIs estimated before their labels arrive (CBPE for classifiers with probabilities, DLE for regression)."""

    enabled: bool = True
    level: Literal["warning", "breach"] = "warning"
    """What an estimated KPI beyond its target is while the window's labels are immature: its whole 95% band on
    the wrong side of the target."""
    retrain: bool = False
    """With ``level: breach`` and ``retrain.auto``, such an estimate may start a retrain (as input drift does)."""


@dataclass(frozen=True)
class MetricSpec:
    """What the schema knows of a KPI metric; ``driftwarden.checks.metrics`` computes it (a test keeps the two
    in step)."""

    tasks: frozenset[Task]
    """The tasks a KPI on this metric may be configured for."""
    direction: Direction
    probabilities: bool = False
    """It reads predicted probabilities: ``columns.probability`` (binary) or ``columns.probabilities``."""


_CLASSIFICATION: frozenset[Task] = frozenset({"binary", "multiclass"})
_REGRESSION: frozenset[Task] = frozenset({"regression"})

METRICS: dict[str, MetricSpec] = {
    "accuracy": MetricSpec(_CLASSIFICATION, "higher_is_better"),
    "precision": MetricSpec(_CLASSIFICATION, "higher_is_better"),
    "recall": MetricSpec(_CLASSIFICATION, "higher_is_better"),
    "f1": MetricSpec(_CLASSIFICATION, "higher_is_better"),
    "roc_auc": MetricSpec(_CLASSIFICATION, "higher_is_better", probabilities=True),
    "log_loss": MetricSpec(_CLASSIFICATION, "lower_is_better", probabilities=True),
    "mae": MetricSpec(_REGRESSION, "lower_is_better"),
    "rmse": MetricSpec(_REGRESSION, "lower_is_better"),
    "rmsle": MetricSpec(_REGRESSION, "lower_is_better"),
    "r2": MetricSpec(_REGRESSION, "higher_is_better"),
    "cost": MetricSpec(frozenset({"binary", "multiclass", "regression"}), "lower_is_better"),
}
"""Every KPI metric, in the order the schema and its error messages list them."""

if TYPE_CHECKING:  # a Literal built from the table is beyond a static checker
    MetricName = str
else:
    MetricName = Literal[tuple(METRICS)]


class KpiConfig(Strict):
    metric: MetricName
    target: float
    """The objective: the KPI breaches when the evidence says it is on the wrong side of this."""
    min_labelled: int = Field(100, ge=1)
    """Fewer labelled rows than this: the KPI is 'not evaluated'."""
    consecutive: int = Field(3, ge=1)
    """A point estimate on the wrong side for this many consecutive mature windows is a breach too."""

    @property
    def direction(self) -> Direction:
        return METRICS[self.metric].direction


class FailuresConfig(Strict):
    max_per_run: int = Field(200, ge=0, le=100_000)
    """At most this many failure samples are logged per run (spread over the reasons)."""
    exclude: list[str] = Field(default_factory=list)
    """Columns never written to the failure log."""
    mask: list[str] = Field(default_factory=list)
    """Columns written only as a one-way hash (PII)."""


class RetentionConfig(Strict):
    """How long the store keeps evidence; ``driftwarden prune`` (and, if asked, each scheduled run) deletes
    what is older. Ages count from the end of the window the evidence is about; null keeps it forever."""

    reports: str | None = None
    """Report pages (HTML) of windows that ended longer ago than this, e.g. ``365d``, are deleted; the runs,
    their verdicts and metrics stay in the store."""
    failure_samples: str | None = None
    """Failure samples of windows that ended longer ago than this, e.g. ``90d``, are deleted, except the
    samples marked used_in_training (a registered model was trained on them)."""
    prune_after_run: bool = False
    """Prune at the end of every monitoring run, not only by ``driftwarden prune``."""

    @field_validator("reports", "failure_samples")
    @classmethod
    def _age(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class ValueConfig(Strict):
    """What the model's decisions are worth, in one currency: the ``cost`` KPI of a window is its net cost per
    prediction (what the mistakes cost less what the right decisions earn). Binary: the four cells of the
    confusion matrix (``columns.positive_label`` is the positive class); multiclass: a cost per (label,
    predicted) pair; regression: a cost per unit of error, optionally different below and above the label."""

    currency: Annotated[str, Field(min_length=1, max_length=12)] = "EUR"
    """The currency the amounts are in, as shown in reviews (``EUR``, ``USD``)."""
    true_positive: float | None = None
    """Binary: what a true positive earns (e.g. the loss a caught default avoids), per prediction."""
    false_positive: float | None = None
    """Binary: what a false positive costs (e.g. the margin of a good applicant refused)."""
    false_negative: float | None = None
    """Binary: what a false negative costs (e.g. a default not caught)."""
    true_negative: float | None = None
    """Binary: what a true negative earns (default 0)."""
    pairs: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Multiclass: label -> predicted label -> what that decision costs (negative: earns); pairs not named
    cost 0."""
    per_unit: float | None = Field(None, ge=0)
    """Regression: what one unit of absolute error costs."""
    under: float | None = Field(None, ge=0)
    """Regression: what one unit costs when the prediction is below the label (instead of ``per_unit``)."""
    over: float | None = Field(None, ge=0)
    """Regression: what one unit costs when the prediction is above the label (instead of ``per_unit``)."""

    def check(self, task: Task) -> None:
        """Refuse keys of another task and missing ones, naming them (``value.<key>``)."""
        binary = ("true_positive", "false_positive", "false_negative", "true_negative")
        keys = {"binary": binary, "multiclass": ("pairs",), "regression": ("per_unit", "under", "over")}
        given = [k for k in self.model_fields_set if k != "currency"]
        foreign = [k for k in given if k not in keys[task]]
        if foreign:
            raise ValueError(f"value.{foreign[0]} does not apply to a {task} model (its keys: {', '.join(keys[task])})")
        if task == "binary":
            missing = [k for k in ("false_positive", "false_negative") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"value.{missing[0]} is needed: what a {missing[0].replace('_', ' ')} costs")
        elif task == "multiclass" and not self.pairs:
            raise ValueError("value.pairs is needed: label -> predicted label -> cost")
        elif task == "regression":
            if (self.per_unit is None) == (self.under is None and self.over is None):
                raise ValueError("value.per_unit, or value.under and value.over, is needed (not both)")
            if self.per_unit is None and (self.under is None or self.over is None):
                raise ValueError(f"value.{'under' if self.under is None else 'over'} is needed with the other")

    @property
    def cells(self) -> tuple[float, float, float, float]:
        """Binary: the cost of a (true positive, false positive, false negative, true negative); earnings
        are negative costs."""
        return (-(self.true_positive or 0.0), self.false_positive or 0.0, self.false_negative or 0.0,
                -(self.true_negative or 0.0))  # fmt: skip

    @property
    def unit_costs(self) -> tuple[float, float]:
        """Regression: the cost of a unit of error (below the label, above it)."""
        if self.per_unit is not None:
            return self.per_unit, self.per_unit
        return self.under or 0.0, self.over or 0.0


ReviewPeriod = Literal["week", "quarter"]


class KeyResultConfig(Strict):
    """One key result: a KPI of the model held to a target over the objective's review periods."""

    kpi: str
    """A metric among the model's ``kpis`` (``cost`` for the value of its decisions)."""
    target: float | None = None
    """The key result's target (default: the KPI's own); judged per window by the KPI rules (the interval wholly
    beyond it, or ``consecutive`` mature windows on the wrong side)."""
    per: Literal["prediction", "window", "period"] = "prediction"
    """``cost`` only: ``window`` holds each window's total (the cost per prediction times its predictions, the
    interval likewise) to the target, e.g. 3,000 EUR a night; ``period`` holds the review period's total, e.g.
    20,000 EUR a week (judged once the period's every window is evaluated)."""


class ObjectiveConfig(Strict):
    """An objective in words and its key results, reviewed each ``period`` within its ``time_frame``."""

    objective: Annotated[str, Field(min_length=1)]
    key_results: Annotated[list[KeyResultConfig], Field(min_length=1)]
    period: ReviewPeriod = "week"
    """How often attainment is reviewed: ``week`` (ISO weeks) or ``quarter``, in ``window.timezone``."""
    time_frame: str | None = None
    """The quarter (``2026-Q4``) or year (``2026``) the objective is for; none: every period."""
    success: float = Field(0.7, gt=0, le=1)
    """The share of a key result's evaluated windows that must meet it for the period to count as attained
    (70% is the common bar of an ambitious key result)."""

    @field_validator("time_frame")
    @classmethod
    def _frame(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}(-Q[1-4])?", value):
            raise ValueError(f"expected a quarter like '2026-Q4' or a year like '2026', got {value!r}")
        return value


class ReviewConfig(Strict):
    """The scheduled review of the model's objectives (a ``review-model`` deployment), sent through its alert
    channels as a report."""

    schedule: str | None = None
    """Cron of the review-model deployment in ``window.timezone`` (e.g. ``0 8 * * 1``: Mondays at 08:00, the
    week before); none: no deployment."""
    period: ReviewPeriod = "week"
    """What a scheduled review covers: the last complete ISO week or quarter."""

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)


class ModelConfig(Strict):
    """One monitored model."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    """Model name, used in the store, reports and flow-run names."""
    task: Task
    sources: SourcesConfig
    columns: ColumnsConfig
    window: WindowConfig = WindowConfig()
    label_horizon: str = "7d"
    """How long labels may take to arrive; earlier windows within it are re-scored as labels grow."""
    label_maturity: float = Field(0.9, gt=0, le=1)
    """KPI alarms are raised only on windows whose label coverage reaches this share."""
    # late data, missed windows, retention
    data_lateness: str = "0h"
    """How long after a window closes its data has fully landed: a scheduled run (no window end given)
    monitors the last window that ended at least this long before now, e.g. ``2h``."""
    max_missed_windows: int = Field(7, ge=0)
    """A scheduled run first monitors the windows missed since the last successful run (the scheduler was
    down, the machine was off): the newest this many of them; 0 turns this catch-up off."""
    retention: RetentionConfig = RetentionConfig()
    """How long reports and failure samples are kept (``driftwarden prune``)."""

    @field_validator("data_lateness")
    @classmethod
    def _lateness(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def lateness(self) -> timedelta:
        return parse_duration(self.data_lateness)

    segments: list[Name] = Field(default_factory=list)
    """Columns to slice KPIs and drift by."""
    volume: VolumeConfig = VolumeConfig()
    validation: ValidationConfig = ValidationConfig()
    drift: DriftConfig = DriftConfig()
    estimation: EstimationConfig = EstimationConfig()
    kpis: list[KpiConfig] = Field(default_factory=list)
    failures: FailuresConfig = FailuresConfig()
    alerts: AlertsConfig = AlertsConfig()
    """Alert channels, routing by severity, cooldown and the dead-man's switch (config/alerts.py)."""
    schedule: str = "30 0 * * *"
    """Cron of the nightly monitor-model deployment, in ``window.timezone``; it monitors the last complete
    window, so schedule it after the window has closed and its data has landed."""
    retrain: RetrainConfig = RetrainConfig()
    """When and how the model is retrained, and whether driftwarden scores its batches."""
    value: ValueConfig | None = None
    """What the model's decisions are worth (the ``cost`` KPI); see ``ValueConfig``."""
    objectives: list[ObjectiveConfig] = Field(default_factory=list)
    """Objectives and key results (OKRs) on the KPIs, reviewed by ``driftwarden review``."""
    review: ReviewConfig = ReviewConfig()
    """The scheduled review (a ``review-model`` deployment) of the objectives."""
    base_dir: Path = Path(".")
    """Folder relative paths are resolved against (set by the loader to the YAML file's folder)."""

    @field_validator("label_horizon")
    @classmethod
    def _horizon(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        cols = self.columns
        for i, kpi in enumerate(self.kpis):
            spec = METRICS[kpi.metric]
            key = f"kpis.{i}.metric"
            if self.task not in spec.tasks:
                fits = ", ".join(sorted(m for m, sp in METRICS.items() if self.task in sp.tasks))
                raise ValueError(f"{key}: kpi {kpi.metric!r} does not fit task {self.task!r} (its KPIs: {fits})")
            if spec.probabilities:
                if self.task == "binary" and not cols.probability:
                    raise ValueError(f"{key}: kpi {kpi.metric!r} needs columns.probability")
                if self.task == "multiclass" and not cols.probabilities:
                    raise ValueError(f"{key}: kpi {kpi.metric!r} needs columns.probabilities")
        known = set(cols.features) | {cols.prediction}
        named: dict[str, Mapping[str, object]] = {
            "drift.methods": self.drift.methods,
            "drift.weights": self.drift.weights,
            "validation.ranges": dict(self.validation.ranges),
        }
        for key, names in named.items():
            unknown = set(names) - known
            if unknown:
                raise ValueError(f"{key} names unknown columns {sorted(unknown)}")
        self._check_retrain()
        read = {cols.timestamp, cols.id, cols.model_version, *cols.features, cols.prediction, cols.target}
        read |= {cols.probability, *cols.probabilities.values(), *self.segments}
        for key in ("mask", "exclude"):
            unknown = set(getattr(self.failures, key)) - read
            if unknown:  # a typo here would leave PII unmasked without a word
                raise ValueError(f"failures.{key} names columns the model does not read: {sorted(unknown)}")
            sliced = set(getattr(self.failures, key)) & set(self.segments)
            if sliced:  # KPI slices are stored and shown under each value of a segment column
                raise ValueError(
                    f"failures.{key} names segment columns {sorted(sliced)}: KPIs per segment store each value "
                    "of the column; slice by a coarser column or leave it out of segments"
                )
        unknown_cat = set(self.validation.allowed_categories) - set(cols.categorical)
        if unknown_cat:
            raise ValueError(f"validation.allowed_categories names non-categorical columns {sorted(unknown_cat)}")
        return self

    @model_validator(mode="after")
    def _value_and_objectives(self) -> ModelConfig:
        if self.value is not None:
            self.value.check(self.task)
        metrics = {k.metric: k for k in self.kpis}
        if "cost" in metrics and self.value is None:
            raise ValueError("kpis: cost needs value (what the model's decisions cost, e.g. value.false_negative)")
        for i, objective in enumerate(self.objectives):
            for j, kr in enumerate(objective.key_results):
                key = f"objectives.{i}.key_results.{j}"
                if kr.kpi not in metrics:
                    raise ValueError(f"{key}.kpi: {kr.kpi!r} is not among kpis {list(metrics)}")
                if kr.per in ("window", "period") and kr.kpi != "cost":
                    raise ValueError(f"{key}.per: window and period totals are for the cost KPI only")
        return self

    def _check_retrain(self) -> None:
        metrics = [k.metric for k in self.kpis]
        rt = self.retrain
        unknown = [m for m in [*rt.kpis, rt.promotion.metric] if m is not None and m not in metrics]
        if unknown:
            raise ValueError(f"retrain names KPIs {unknown} that are not among kpis {metrics}")
        if rt.scoring.enabled:
            pred = self.sources.predictions
            if self.sources.features is None:
                raise ValueError("retrain.scoring.enabled needs sources.features (the rows to score)")
            if pred.path is not None and "://" in pred.path:
                raise ValueError("retrain.scoring writes local Parquet files: sources.predictions.path must be local")
            if pred.path is not None and not re.search(r"\*[^/]*\.parquet$", pred.path):
                raise ValueError(
                    "retrain.scoring writes one Parquet file per window: sources.predictions.path must be a "
                    "folder glob like 'predictions/*.parquet'"
                )

    @property
    def window_length(self) -> timedelta:
        return parse_duration(self.window.length)

    @property
    def horizon(self) -> timedelta:
        return parse_duration(self.label_horizon)

    @property
    def private_columns(self) -> set[str]:
        """Masked or excluded columns (PII): their values never reach the store."""
        return set(self.failures.mask) | set(self.failures.exclude)

    def describe(self, src: SourceConfig) -> str:
        """Where a source's rows come from, for messages (never the URL: it may hold a secret)."""
        return f"table {src.table}" if src.table else self.resolve(src.path or "")

    def resolve(self, path: str) -> str:
        """A source path made absolute against the YAML file's folder (a URL stays as it is)."""
        if "://" in path:
            return path
        p = Path(path).expanduser()
        return str(p if p.is_absolute() else (self.base_dir / p))
