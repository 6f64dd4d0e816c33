"""The named steps of a monitoring run, as Prefect tasks. Each takes values and paths, never a connection;
the statistics live in ``checks/``."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from prefect.artifacts import create_markdown_artifact

from driftwarden.checks import records
from driftwarden.checks.drift import DriftResult, decide_drift
from driftwarden.checks.drift.multivariate import MultivariateDrift, judge
from driftwarden.checks.drift.segments import decide_segment_drift
from driftwarden.checks.estimation.base import MAX_FIT_ROWS
from driftwarden.checks.estimation.compare import EstimateCheck, check_estimates
from driftwarden.checks.failures import select_failures
from driftwarden.checks.kpis import KpiResult, evaluate_kpis
from driftwarden.checks.labels import check_labels, known_labels
from driftwarden.checks.profile import SEGMENT_PROFILE_VERSION, ProfileBuilder, ReferenceProfile
from driftwarden.checks.reference_models import ReferenceModels, fit_reference_models
from driftwarden.checks.scan import ScanResult, WindowScan, read_ranges
from driftwarden.checks.shares import PriorShare, apply_share_states, rule_of
from driftwarden.checks.sketch import sketch_frame
from driftwarden.checks.validation import ValidationResult
from driftwarden.checks.verdict import (
    Finding,
    Verdict,
    decide_verdict,
    estimate_findings,
    input_findings,
    kpi_findings,
    multivariate_findings,
)
from driftwarden.checks.volume import VolumeResult, check_volume
from driftwarden.checks.windows import Window, wall_shift, window_ending_at
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import files as report_files
from driftwarden.flows import sources, store
from driftwarden.flows.errors import SourceError
from driftwarden.flows.masking import mask_key
from driftwarden.flows.monitor.dask_scan import scan_on_dask
from driftwarden.flows.pauses import pause_at
from driftwarden.flows.reports.pages import write_reports
from driftwarden.flows.runtime import IO, PURE, step


@dataclass(frozen=True)
class Reference:
    id: int
    version: int
    profile: ReferenceProfile
    models: dict[str, Any] | None = None
    """The estimator and PCA fitted with the profile, as stored (``ReferenceModels.to_json``); None: fitted in
    each process (a model with private columns, a regression's loss models, a profile stored before them)."""
    fingerprint: str = ""
    """What the reference's files and columns were when profiled: its id and version are numbers of one store,
    and a process may run models of several stores."""


_fitted: list[tuple[tuple[Any, ...], ReferenceModels]] = []


@step(IO)
def reference_models(cfg: ModelConfig, reference: Reference) -> ReferenceModels:
    """The KPI estimator and the multivariate drift PCA of the current reference: as stored with its profile,
    or fitted on a seeded sample of its rows once per reference version in this process (a backfill fits them
    once)."""
    if not ((cfg.estimation.enabled and cfg.kpis) or cfg.drift.multivariate):
        return ReferenceModels()
    # the value matrix is in the key: CBPE's expected costs are fitted from it, so a YAML edit of it refits them
    key = (cfg.name, reference.id, reference.version, reference.fingerprint, cfg.columns.model_dump_json(),
           cfg.estimation, cfg.drift, tuple((k.metric, k.target) for k in cfg.kpis),
           cfg.value.model_dump_json() if cfg.value is not None else None)  # fmt: skip
    for seen, models in _fitted:
        if seen == key:
            return models
    if reference.models is not None:
        stored = ReferenceModels.from_json(reference.models)
        if not (cfg.estimation.enabled and cfg.kpis):  # a part turned off since: the rest is still good
            stored = replace(stored, estimator=None)
        if not cfg.drift.multivariate:
            stored = replace(stored, pca=None)
        if stored.fits(cfg):
            _fitted[:] = [(key, stored)]
            return stored
    sample = _Sample()
    for chunk in sources.scan_reference(cfg):
        sample.add(chunk)
        del chunk  # before the next one is read
    rows = sample.frame()
    models = fit_reference_models(rows, cfg, _fitted_on(cfg, len(rows)))
    _fitted[:] = [(key, models)]
    return models


class _Sample:
    """At most MAX_FIT_ROWS reference rows, a seeded uniform sample (the rows with the smallest random keys of
    the chunks added), in reading order."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)
        self._kept: pd.DataFrame | None = None

    def add(self, chunk: pd.DataFrame) -> None:
        chunk = chunk.assign(_key=self._rng.random(len(chunk)))
        kept = chunk if self._kept is None else pd.concat([self._kept, chunk], ignore_index=True)
        self._kept = kept.nsmallest(MAX_FIT_ROWS, "_key").sort_index() if len(kept) > MAX_FIT_ROWS else kept

    def frame(self) -> pd.DataFrame:
        assert self._kept is not None  # scan_reference yields at least one chunk
        return self._kept.drop(columns="_key").reset_index(drop=True)


@dataclass(frozen=True)
class InputChecks:
    volume: VolumeResult
    validation: ValidationResult | None
    drift: DriftResult | None
    multivariate: MultivariateDrift | None = None
    early_labels: int = 0
    """Labels of the window that arrived before their prediction was made."""


def profile_columns(cfg: ModelConfig, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    c = cfg.columns
    numeric, categorical = list(c.numerical), list(c.categorical)
    if cfg.task == "regression":
        numeric += [c.prediction] + ([c.target] if c.target in frame else [])
    else:
        categorical += [c.prediction] + ([c.target] if c.target in frame else [])
        if c.probability:
            numeric.append(c.probability)
    return numeric, categorical


@step(IO)
def ensure_reference(cfg: ModelConfig, store_url: str) -> Reference:
    """The current reference profile: computed once per reference version (read in chunks) and stored."""
    engine = store.open_store(store_url)
    fingerprint = sources.source_fingerprint(cfg) + "|" + cfg.columns.model_dump_json() + _segments_key(cfg)
    private = cfg.private_columns
    stored = store.current_reference(engine, cfg.name)
    c = cfg.columns
    secret = bool(private & {*c.features, c.prediction, c.target, c.probability})
    if stored is not None and stored.fingerprint == fingerprint and _has_segments(cfg, stored.profile):
        profile = _stored_profile(stored.profile)
        if secret:
            profile = profile.merged(_profile_reference(cfg, only=private)[0])  # never stored: profiled per run
        return Reference(stored.id, stored.version, profile, stored.profile.get("models"), fingerprint)
    profile, sample = _profile_reference(cfg, sampled=True)
    kept = profile.without(private).to_json()  # masked and excluded columns stay out of the store
    models = None
    if not secret and sample is not None:  # fitted in the same pass; a private column's means never leave
        models = fit_reference_models(sample, cfg, _fitted_on(cfg, len(sample))).to_json()
        if models is not None:
            kept["models"] = models
    added = store.add_reference(engine, cfg.name, cfg.describe(cfg.sources.reference), fingerprint, profile.rows, kept)
    return Reference(added.id, added.version, profile, models, fingerprint)


def _segments_key(cfg: ModelConfig) -> str:
    """The segments' part of the reference's fingerprint: a model with segments profiles each value's rows, so
    declaring them (or changing the cap) makes a new reference version; a model without keeps its own."""
    if not cfg.segments:
        return ""
    return f"|segments={json.dumps(cfg.segments)}:{cfg.drift.segment_values}|profile={SEGMENT_PROFILE_VERSION}"


def _has_segments(cfg: ModelConfig, stored: dict[str, Any]) -> bool:
    """A stored profile holds every declared segment's profiles (one written without them is rebuilt)."""
    return set(cfg.segments) <= set(stored.get("segments") or {})


def _fitted_on(cfg: ModelConfig, rows: int) -> str:
    """What the reference models are fitted on, in words: after a promotion, the champion's holdout."""
    promoted = sources.promoted_reference(cfg)
    what = "the reference" if promoted is None else f"the holdout of champion v{promoted[1]}"
    return f"{what}: {rows:,} rows"


_parsed: list[tuple[dict[str, Any], ReferenceProfile]] = []


def _stored_profile(stored: dict[str, Any]) -> ReferenceProfile:
    """The stored profile, parsed once while it stays the same: the same object each window of a backfill, so
    that what is built from it (the GX suites) is built once too."""
    if not _parsed or _parsed[0][0] != stored:
        _parsed[:] = [(stored, ReferenceProfile.from_json(stored))]
    return _parsed[0][1]


def _profile_reference(
    cfg: ModelConfig, only: set[str] | None = None, sampled: bool = False
) -> tuple[ReferenceProfile, pd.DataFrame | None]:
    """The reference's profile, read in chunks; ``only``: of these columns alone (the same sampled rows);
    ``sampled``: with a seeded uniform sample of its rows, at most MAX_FIT_ROWS (``_reference_sample``)."""
    builder: ProfileBuilder | None = None
    sample = _Sample() if sampled else None
    for chunk in sources.scan_reference(cfg):
        if builder is None:
            numeric, categorical = profile_columns(cfg, chunk)
            if only is not None:
                numeric, categorical = [c for c in numeric if c in only], [c for c in categorical if c in only]
            segments = [] if only is not None else cfg.segments
            builder = ProfileBuilder(
                numeric, categorical, segments=segments, segment_features=cfg.columns.features,
                segment_values=cfg.drift.segment_values,
            )  # fmt: skip
        builder.add(chunk)
        if sample is not None:
            sample.add(chunk)
        del chunk  # before the next one is read
    assert builder is not None  # scan_reference yields at least one chunk
    return builder.finish(), (sample.frame() if sample is not None else None)


@step(IO)
def known_as_of(cfg: ModelConfig, store_url: str, window: Window, as_of: pd.Timestamp) -> pd.Timestamp:
    """A re-run never knows fewer labels than the version it supersedes (a short backfill over windows
    already re-scored with later labels must not turn their breach back into 'ok')."""
    engine = store.open_store(store_url)
    start = store.utc(window.start)
    current = store.latest_runs(engine, cfg.name, start=start, end=start + pd.Timedelta(seconds=1))
    if current.empty:
        return as_of
    known = [pd.Timestamp(t).tz_localize("UTC") for t in current[["as_of", "labels_checked_at"]].iloc[0] if pd.notna(t)]
    return max([as_of, *known])


class LabelsUnavailable(SourceError):
    """The labels source could not be read (down, moved, refused): the run goes on without labels."""


def no_labels(cfg: ModelConfig) -> pd.DataFrame:
    """The labels of a run whose labels source is unavailable: none, so every KPI waits for them."""
    return pd.DataFrame(
        {
            cfg.columns.id: pd.Series([], dtype=object),
            cfg.columns.target: pd.Series([], dtype=object),
            sources.LABEL_ARRIVED: pd.Series([], dtype="datetime64[ns, UTC]"),
        }
    )


@step(IO)
def read_known_labels(
    cfg: ModelConfig,
    window: Window,
    as_of: pd.Timestamp,
    reference: Reference,
    earlier: list[tuple[pd.Timestamp, pd.Timestamp]],
) -> pd.DataFrame | None:
    """(id, target) of every label known as of the run, from the start of the label horizon (or of the earliest
    of the ``earlier`` windows re-scored); None when the target comes with the predictions. Labels the model
    cannot have predicted (another encoding) fail the run above MAX_UNKNOWN_SHARE and are left out below it."""
    src = cfg.sources.labels
    if src is None:
        return None
    try:
        labels = sources.read_labels(cfg, labels_from(cfg, window, earlier), as_of)
    except Exception as exc:
        raise LabelsUnavailable(f"sources.labels ({cfg.describe(src)}) could not be read: {exc}") from exc
    target = cfg.columns.target
    check = check_labels(labels[target], cfg, reference.profile)
    if check is not None and check.refused:
        raise SourceError(check.message(target, f"sources.labels ({cfg.describe(src)})"))
    return labels[known_labels(labels[target], cfg, reference.profile)]


@step(IO)
def scan_window(
    cfg: ModelConfig,
    store_url: str,
    window: Window,
    reference: Reference,
    labels: pd.DataFrame | None,
    earlier: list[tuple[pd.Timestamp, pd.Timestamp]],
    models: ReferenceModels | None = None,
) -> ScanResult:
    """One pass over the window's predictions in chunks (and over the ``earlier`` windows that label catch-up
    re-scores, ``catchup_windows``): validation, drift sketches, KPI rows, failure candidates, a sample, and
    the sums of the estimated KPIs and of the multivariate drift (``models``)."""
    settings = get_settings()
    sample_rows = settings.report_sample_rows
    if settings.dask_address:  # the chunks scanned by a Dask cluster's workers, merged here in reading order
        address = None if settings.dask_address == "local" else settings.dask_address
        result = scan_on_dask(
            cfg, reference.profile, window.start, window.end, labels, earlier, sample_rows, address, models=models
        )  # fmt: skip
    else:
        scan = WindowScan(cfg, reference.profile, window.start, window.end, labels, earlier, sample_rows, models=models)
        for start, end in read_ranges(window.start, window.end, earlier):
            for chunk in sources.scan_predictions(cfg, start, end):
                pause_at("reading")
                scan.add(chunk)
                del chunk  # before the next one is read
        result = scan.finish()
    target = cfg.columns.target
    check = None if labels is not None else check_labels(result.window.labelled[target], cfg, reference.profile)
    if check is not None and check.refused:  # the target came with the predictions
        raise SourceError(check.message(target, f"sources.predictions ({cfg.describe(cfg.sources.predictions)})"))
    return result


def owed_windows(engine: Any, cfg: ModelConfig, before: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of the windows starting before ``before`` that label catch-up still owes a re-score: their
    current run did not fail and their labels' horizon had not passed as of it (end + label_horizon > its
    ``as_of``), whatever the window's length, the horizon or the schedule. A window is final once a run of
    it (its own, or a re-score) knew the labels as of its horizon."""
    tz, horizon = cfg.window.timezone, cfg.horizon
    slack = timedelta(hours=3)  # a wall-clock shift differs from the plain one by at most a DST change
    owed = []
    for start, end, as_of in store.window_times(engine, cfg.name, store.utc(before)):
        if as_of is not None and as_of >= end + horizon + slack:
            continue  # most of a long history: decided without a time zone
        local_end = local_time(end, tz)
        if as_of is None or pd.Timestamp(as_of).tz_localize("UTC") < wall_shift(local_end, horizon):
            owed.append((local_time(start, tz), local_end))
    return owed


@step(IO)
def catchup_windows(cfg: ModelConfig, store_url: str, window: Window) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of the earlier windows this window's run re-scores (``owed_windows``)."""
    return owed_windows(store.open_store(store_url), cfg, window.start)


def labels_from(cfg: ModelConfig, window: Window, earlier: list[tuple[pd.Timestamp, pd.Timestamp]]) -> pd.Timestamp:
    """Labels are read from the start of the label horizon, or from the start of the earliest window re-scored
    if that is earlier (a window longer than the horizon had labels arrive before it)."""
    return min([wall_shift(window.start, -cfg.horizon), *(s for s, _ in earlier)])


def local_time(stored: Any, tz: str) -> pd.Timestamp:
    """A time as the store keeps it (naive UTC) in the model's zone."""
    return pd.Timestamp(stored).tz_localize("UTC").tz_convert(tz)


@step(IO)
def recent_volumes(cfg: ModelConfig, store_url: str, window: Window) -> list[int]:
    engine = store.open_store(store_url)
    prior = store.latest_runs(
        engine, cfg.name, end=store.utc(window.start), last=cfg.volume.recent_windows, failed=False
    )
    return [int(r) for r in prior["rows"].dropna()]


@step(PURE)
def check_inputs(
    cfg: ModelConfig,
    scan: ScanResult,
    labelled: pd.DataFrame,
    reference: Reference,
    recent: list[int],
    models: ReferenceModels | None = None,
) -> InputChecks:
    """Volume, validation and drift of the window's rows (target drift from the labels known so far)."""
    volume = check_volume(scan.window.rows, recent, cfg.volume)
    pause_at("validating")
    if scan.validation is None:
        return InputChecks(volume, None, None)
    jobs = [(name, role, sketch) for name, (role, sketch) in scan.sketches.items()]
    target = cfg.columns.target
    if target in labelled and (target in reference.profile.numeric or target in reference.profile.categorical):
        jobs.append((target, "target", sketch_frame(labelled, reference.profile, [target])[target]))
    multivariate = None
    pca = models.usable_pca if models is not None else None
    if pca is not None and scan.reconstruction is not None:
        multivariate = judge(pca, scan.reconstruction)
    drift = decide_drift(jobs, reference.profile, cfg.drift)
    if cfg.segments:  # informational: beside the window's drift, never part of its rule
        segments = decide_segment_drift(scan.segments, reference.profile, cfg.drift, cfg.segments)
        drift = replace(drift, segments=segments)
    return InputChecks(volume, scan.validation, drift, multivariate, scan.window.early_labels)


SHARE_MEMORY = 7
"""A share rule remembers its state across at most this many window lengths (a gap in the feed, failed
runs); an older issue is new again."""


@step(IO)
def share_states(
    cfg: ModelConfig, store_url: str, window: Window, inputs: InputChecks, as_of: pd.Timestamp
) -> InputChecks:
    """The share rules' states (new, standing, rise, accepted: ``checks.shares``) against the latest earlier
    window that was checked, and the acceptances in force as of ``as_of``."""
    if inputs.validation is None:
        return inputs
    from driftwarden.flows.store import accepted as accepted_store

    engine = store.open_store(store_url)
    prior: dict[str, PriorShare] = {}
    since = window.start - SHARE_MEMORY * cfg.window_length
    before = store.latest_runs(engine, cfg.name, start=store.utc(since), end=store.utc(window.start), failed=False)
    ids = [int(i) for i in before["id"]]
    rows = store.run_metrics(engine, ids, kind="validation") if ids else pd.DataFrame()
    for run_id in reversed(ids):  # the newest run that validated rows (an empty window validated none)
        for _, r in rows[rows["run_id"] == run_id].iterrows():
            found = PriorShare.from_details(json.loads(r["details"]) if r["details"] else {})
            if found is not None:
                prior[rule_of(r["column"], r["name"])] = found
        if prior:
            break
    accepted = accepted_store.in_force(engine, cfg.name, store.utc(as_of))
    decided = apply_share_states(inputs.validation, prior, accepted, window.start.isoformat())
    return replace(inputs, validation=decided)


def kpi_history(engine: Any, cfg: ModelConfig, window_start: pd.Timestamp) -> dict[str, list[bool]]:
    """For the k-consecutive rule: each KPI's wrong-side flags over the windows right before this one on the
    window grid (a missing, failed or immature window ends the streak)."""
    longest = max((k.consecutive for k in cfg.kpis), default=1)
    grid: list[pd.Timestamp] = []
    start = window_start
    for _ in range(longest - 1):
        start = window_ending_at(start, cfg.window_length, cfg.window.timezone).start
        grid.insert(0, start)
    if not grid:
        return {}
    prior = store.latest_runs(engine, cfg.name, start=store.utc(grid[0]), end=store.utc(window_start))
    if prior.empty:
        return {}
    rows = store.run_metrics(engine, prior["id"].tolist(), kind="kpi")
    if rows.empty:
        return {}
    rows["details"] = rows["details"].map(json.loads)
    rows = rows.merge(prior[["id", "window_start"]], left_on="run_id", right_on="id", suffixes=("", "_run"))
    return {k.metric: records.kpi_history(rows, k.metric, grid) for k in cfg.kpis}


@step(IO)
def window_kpis(cfg: ModelConfig, store_url: str, window: Window, scan: ScanResult, as_of: pd.Timestamp) -> KpiResult:
    """KPIs of a window from the labels known so far (with the consecutive-window history); as of a time past
    the labels' horizon (a window monitored late), immature labels are overdue."""
    engine = store.open_store(store_url)
    history = kpi_history(engine, cfg, window.start)
    late = as_of >= wall_shift(window.end, cfg.horizon)
    return evaluate_kpis(scan.window.labelled, cfg, scan.window.rows, history, overdue=late)


@step(PURE)
def pick_failures(cfg: ModelConfig, scan: ScanResult) -> list[dict[str, Any]]:
    return [s.to_row() for s in select_failures(scan.validation, scan.window.candidates, cfg, mask_key())]


@step(PURE)
def window_estimates(
    cfg: ModelConfig, models: ReferenceModels, scan: ScanResult, kpis: KpiResult
) -> tuple[EstimateCheck, ...]:
    """The window's estimated KPIs, held against their targets and the realized KPIs of its labelled rows."""
    return check_estimates(models.estimator, scan.estimation, scan.window.labelled, kpis, cfg)


@step(PURE)
def decide(
    cfg: ModelConfig,
    inputs: InputChecks,
    kpis: KpiResult,
    late: Finding | None = None,
    estimated: tuple[EstimateCheck, ...] = (),
    more: tuple[Finding, ...] = (),
) -> Verdict:
    """The verdict of the window's findings (``late``: its labels are overdue; ``more``: what the run itself
    found, e.g. a labels source it could not read)."""
    found = [
        *input_findings(inputs.volume, inputs.validation, inputs.drift),
        *multivariate_findings(inputs.multivariate),
    ]
    found += [*kpi_findings(kpis), *estimate_findings(estimated, cfg)]
    if inputs.early_labels:  # still in the KPIs (see checks.scan.label_rows): a warning, so that someone looks
        n = inputs.early_labels
        what = (
            f"{n} labels arrived before their prediction was" if n != 1 else "1 label arrived before its prediction was"
        )
        found.append(Finding("labels", "warning", f"{what} made (a clock fault or a leak); still used for the KPIs"))
    return decide_verdict([*found, *([late] if late else []), *more])


@step(PURE)
def run_record(
    cfg: ModelConfig,
    window: Window,
    trigger: str,
    started: datetime,
    as_of: pd.Timestamp,
    reference: Reference,
    kpis: KpiResult,
    verdict: Verdict,
    report: str | None,
) -> store.RunRecord:
    return store.RunRecord(
        model=cfg.name,
        window_start=store.utc(window.start),
        window_end=store.utc(window.end),
        trigger=trigger,
        status=verdict.status,
        started_at=started,
        causes=verdict.causes,
        rows=kpis.rows,
        labelled_rows=kpis.labelled,
        label_coverage=kpis.coverage,
        as_of=store.utc(as_of),
        reference_id=reference.id,
        summary=verdict.summary,
        findings=[f.to_json() for f in verdict.findings],
        report_uri=report,
    )


@step(IO)
def write_evidence(
    cfg: ModelConfig,
    window: Window,
    scan: ScanResult,
    reference: Reference,
    verdict: Verdict,
    metric_rows: list[dict[str, Any]],
    started: datetime,
    evidently: bool = True,
) -> str | None:
    """The run's page, and Evidently's drift report beside it when ``evidently``."""
    settings = get_settings()
    if scan.window.rows == 0:
        return None
    stem = f"{window.start.strftime('%Y%m%dT%H%M')}-{started.strftime('%Y%m%dT%H%M%S%f')}"
    return write_reports(
        cfg,
        scan.sample,
        scan.window.rows,
        reference.profile,
        report_files.join(settings.resolved_reports_dir(), cfg.name),
        stem,
        window.label,
        verdict.summary,
        metric_rows,
        evidently=evidently,
    )


@step(IO)
def store_run(
    store_url: str, run: store.RunRecord, metric_rows: list[dict[str, Any]], failures: list[dict[str, Any]]
) -> tuple[int, int, int]:
    return store.write_run(store.open_store(store_url), run, [store.MetricRow(**m) for m in metric_rows], failures)


@step(IO)
def window_summary(cfg: ModelConfig, store_url: str, window_start: datetime) -> dict[str, Any]:
    return load_window_json(cfg, store_url, window_start)


def load_window_json(cfg: ModelConfig, store_url: str, window_start: datetime) -> dict[str, Any]:
    """The current state of one window as the JSON contract, read back from the store."""
    engine = store.open_store(store_url)
    run = store.latest_runs(engine, cfg.name, start=window_start, end=window_start + pd.Timedelta(seconds=1))
    if run.empty:
        raise LookupError(f"no run stored for {cfg.name} at {window_start}")
    row = run.iloc[0].to_dict()
    row["causes"] = json.loads(row["causes"])
    metric_rows = store.run_metrics(engine, [int(row["id"])])
    if not metric_rows.empty:
        metric_rows["details"] = metric_rows["details"].map(json.loads)
        metric_rows["passed"] = metric_rows["passed"].map(lambda v: None if pd.isna(v) else bool(v))
    logged = store.count_failures(engine, cfg.name, window_start)
    tz = cfg.window.timezone
    versions = store.all_versions(engine, cfg.name, window_start)
    since = records.status_since(versions, row["status"], tz)
    failure = records.failed_since_current(versions)
    return records.window_json(row, metric_rows, logged, [k.metric for k in cfg.kpis], tz, since, failure)


@step(PURE)
def publish_artifact(cfg: ModelConfig, summary: dict[str, Any]) -> None:
    kpis = "\n".join(
        f"| {name} | {_f(v.get('value'))} | {_f(v.get('target'))} | {v.get('level')} |"
        for name, v in summary["kpis"].items()
    )
    md = (
        f"# {cfg.name}: {summary['status'].upper()}\n\n"
        f"Window {summary['window_start']} .. {summary['window_end']}, {summary['rows']} rows, "
        f"{summary['labelled_rows']} labelled.\n\n"
        f"Causes: {', '.join(summary['causes']) or 'none'}; drifted features: "
        f"{', '.join(summary['drifted_features']) or 'none'}; failure samples logged: "
        f"{summary['failures_logged']}.\n\n| KPI | value | target | level |\n|---|---|---|---|\n{kpis}\n\n"
        f"```\n{summary['summary'] or summary.get('error') or ''}\n```\n\nReport: {summary['report']}\n"
    )
    changed = summary.get("rescored") or []
    if changed:
        md += "\n## Earlier windows re-scored as their labels arrived\n\n| window | was | now |\n|---|---|---|\n"
        md += "".join(f"| {r['window_start']} | {r['previous']} | {r['status']} |\n" for r in changed)
    create_markdown_artifact(markdown=md, key=f"monitor-{_key(cfg.name)}", description="driftwarden run summary")


def _f(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}"


def _key(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower())
