"""The decision table: status and likely cause of a window, from the evidence of its checks.

| evidence in the window                                                  | cause            | status  |
|-------------------------------------------------------------------------|------------------|---------|
| too few rows (vs the floor and vs recent windows), or none              | volume           | breach  |
| a validation expectation failed beyond its tolerance: a share rule's    | data_quality     | breach  |
|   issue new, standing or risen (``checks.shares``), or any bad row of a rule allowing none |  |         |
| the dataset drift rule is met                                           | input_drift      | breach  |
| an estimated KPI beyond its target, ``estimation.level: breach``        | input_drift      | breach  |
| a KPI breach, its realized value worse than the estimate's band on the  | concept_change   | breach  |
|   same labelled rows (the model as confident as before, and wrong)      |                  |         |
| a KPI breach the estimate predicted (realized inside its band, the      | input_drift      | breach  |
|   estimate itself beyond the target)                                    |                  |         |
| a KPI breach, and features drifted below the dataset rule, or jointly   | input_drift (the features named) | breach |
| a KPI breach, no feature drifted and a drift at the threshold ruled out | concept_change   | breach  |
|   in every feature (its distance's upper bound below the threshold)     |                  |         |
| a KPI breach, input drift not evaluated (too few rows for it), or no    | undetermined     | breach  |
|   feature drifted but too few rows to rule out a drift at the threshold |                  |         |
| a KPI breach with a validation breach                                   | data_quality (KPI listed) | breach |
| a signal below its rule: one window beyond target, drift under the dataset rule,  | —          | warning |
|   joint (multivariate) drift, prediction or target drift, labels overdue, an      |            |         |
|   estimated KPI beyond its target before the labels (``estimation.level``)        |            |         |
| nothing of the above (labels still pending within the horizon is normal) | —               | ok      |

``concept_change`` says "the inputs look normal": it is named only where the inputs were looked at and a drift
at the threshold would have been seen (``checks.drift.rules.drift_bound``: each feature's measured distance plus
what sampling noise reaches at the window's rows stays below the threshold). Where nobody could look, or looked
with too few rows, the cause is ``undetermined``: still a breach (the KPI is beyond its target
with interval evidence), worded as such in alerts, and a retrain it starts trains as after input drift (the
last windows and the reference), never on the rows "since the change" alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from driftwarden.checks.drift import DriftResult
from driftwarden.checks.drift.multivariate import MultivariateDrift
from driftwarden.checks.estimation.compare import EstimateCheck
from driftwarden.checks.kpis import KpiResult, KpiValue
from driftwarden.checks.validation import ExpectationOutcome, ValidationResult
from driftwarden.checks.volume import VolumeResult
from driftwarden.checks.windows import wall_shift
from driftwarden.config.model import ModelConfig

Cause = Literal["volume", "data_quality", "input_drift", "concept_change", "undetermined"]
Status = Literal["ok", "warning", "breach", "failed"]
CAUSE_ORDER: tuple[Cause, ...] = ("volume", "data_quality", "input_drift", "concept_change", "undetermined")

_PLAIN = {
    "volume": "the feed delivered too few rows",
    "data_quality": "the data broke its validation rules",
    "input_drift": "the model's inputs have drifted from the reference",
    "concept_change": "the model got worse while its inputs look normal: the relationship it learned has changed",
    "undetermined": "the model got worse and the cause is not known: the window had too few rows to check "
    "that its inputs are unchanged",
}


@dataclass(frozen=True)
class Finding:
    check: Literal[
        "volume", "validation", "drift", "multivariate_drift", "prediction_drift", "target_drift", "kpi", "labels",
        "estimate", "estimate_gap", "estimate_match",
    ]  # fmt: skip
    level: Literal["breach", "warning", "note"]
    """breach and warning set the status; a note is context that changes nothing (drift not evaluated)."""
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    status: Status
    causes: tuple[Cause, ...]
    summary: str
    findings: tuple[Finding, ...]


def _fmt_kpi(v: KpiValue) -> str:
    ci = f" [{v.lower:.3f}, {v.upper:.3f}]" if v.lower is not None and v.upper is not None else ""
    side = "below" if v.direction == "higher_is_better" else "above"
    return f"{v.metric} {v.value:.3f}{ci} {side} target {v.target:g} ({v.labelled} labelled; {v.note})"


def input_findings(
    volume: VolumeResult, validation: ValidationResult | None, drift: DriftResult | None
) -> list[Finding]:
    """Findings from the window's own rows: everything but the KPIs (which change as labels arrive)."""
    out: list[Finding] = []
    if volume.breached:
        out.append(Finding("volume", "breach", volume.note))
    if validation is not None:
        if validation.breached:
            failed = "; ".join(_share_words(o) for o in validation.breached)
            out.append(Finding("validation", "breach", f"failed: {failed}"))
        if validation.accepted:
            accepted = "; ".join(_share_words(o) for o in validation.accepted)
            out.append(Finding("validation", "note", f"accepted: {accepted}"))
    if drift is not None:
        if drift.dataset_drifted is None:
            out.append(Finding("drift", "note", drift.note))
        elif drift.dataset_drifted:
            out.append(Finding("drift", "breach", drift.note + _scores(drift)))
        elif drift.drifted_features:
            out.append(Finding("drift", "warning", drift.note + _scores(drift)))
        elif not drift.ruled_out:
            out.append(Finding("drift", "note", _not_ruled_out(drift)))
        out += output_drift_findings(drift)
    return out


def _share_words(o: ExpectationOutcome) -> str:
    """A rule's finding in words, with its share state where it has one."""
    seen = f"first seen in the window of {o.since[:10]}" if o.since else ""
    level = f"{o.level:.2%}" if o.level is not None else "?"
    if o.state == "new":
        return f"{o.detail} (new)"
    if o.state == "rise":
        return f"{o.detail} (risen well above its standing level, which restarts at {level}; {seen})"
    if o.state in ("standing", "accepted"):
        return f"{o.detail} ({o.state}: {seen}, {level} of rows since)"
    return o.detail


def output_drift_findings(drift: DriftResult) -> list[Finding]:
    """Prediction and target drift: reported apart, as warnings, never in the feature drift share."""
    out = []
    for c in drift.columns:
        if c.role != "feature" and c.drifted:
            check: Literal["prediction_drift", "target_drift"] = (
                "prediction_drift" if c.role == "prediction" else "target_drift"
            )
            out.append(Finding(check, "warning", f"{c.role} {c.column} drifted ({c.method} {c.value:.3f})"))
    return out


def _not_ruled_out(drift: DriftResult) -> str:
    """Why "no feature drifted" is not "the inputs look normal": the features whose drift bound reaches the
    threshold at the window's rows."""
    parts = []
    for c in drift.not_ruled_out:
        if c.bound is None or c.bound_threshold is None:
            parts.append(f"{c.column} not evaluated")
        else:
            parts.append(f"{c.column} could be up to {c.bound:.3f} (threshold {c.bound_threshold:.3f})")
    rows = min((c.rows for c in drift.features), default=0)
    return f"no feature drifted, but with {rows} rows a drift at the threshold is not ruled out: " + "; ".join(parts)


def _scores(drift: DriftResult) -> str:
    parts = [f"{c.column} {c.method} {c.value:.3f}" for c in drift.features if c.drifted]
    return f" [{', '.join(parts)}]" if parts else ""


def multivariate_findings(found: MultivariateDrift | None) -> list[Finding]:
    """Joint drift: the features' reconstruction error beyond what the reference holds at the window's rows."""
    if found is None or found.error is None or not found.drifted:
        return []
    return [
        Finding(
            "multivariate_drift",
            "warning",
            f"the features move together differently from the reference: reconstruction error {found.error:.3f} "
            f"above {found.threshold:.3f} (reference {found.reference_error:.3f}, {found.rows} rows)",
        )
    ]


def estimate_findings(checks: Iterable[EstimateCheck], cfg: ModelConfig) -> list[Finding]:
    """What the estimates say: an estimated KPI beyond its target before its labels are mature (the configured
    level), and for a KPI breach, whether the realized value is what the model's confidence predicts on the
    same labelled rows (the inputs explain it) or worse (the relationship changed)."""
    out: list[Finding] = []
    for c in checks:
        e = c.estimate
        if e.value is None:
            continue
        if not c.mature and c.beyond_target:
            side = "below" if c.direction == "higher_is_better" else "above"
            out.append(
                Finding(
                    "estimate",
                    cfg.estimation.level,
                    f"{e.metric} estimated {e.value:.3f} [{e.lower:.3f}, {e.upper:.3f}] {side} target {c.target:g} "
                    f"before its labels ({e.method.upper()} on {e.rows} rows; {c.labelled} labelled so far)",
                )
            )
        lab = c.on_labelled
        if c.kpi_level != "breach" or lab is None or lab.lower is None or lab.upper is None or c.realized is None:
            continue
        band = f"{lab.value:.3f} [{lab.lower:.3f}, {lab.upper:.3f}]"
        says = c.band_side(lab)  # "meets": the estimate says no breach; "beyond": it says a breach
        # Only a clear verdict of the estimate is evidence: where its band reaches the target, a breach alone
        # pushes realized below it (both judge the same noisy rows), and that says nothing of the cause.
        if c.gap == "worse" and says == "meets":
            out.append(
                Finding(
                    "estimate_gap",
                    "note",
                    f"realized {e.metric} {c.realized:.3f} is worse than the {band} the model's confidence predicts "
                    f"on the same {c.labelled} labelled rows, which would meet the target: the relationship between "
                    "inputs and outcome changed (or an input the model does not see moved)",
                )
            )
        elif c.gap == "within" and says == "beyond":
            out.append(
                Finding(
                    "estimate_match",
                    "note",
                    f"realized {e.metric} {c.realized:.3f} is what the model's confidence predicts on the same "
                    f"{c.labelled} labelled rows ({band}): its inputs moved to where it is less accurate",
                )
            )
    return out


def kpi_findings(kpis: KpiResult | None) -> list[Finding]:
    if kpis is None:
        return []
    out = [Finding("kpi", "breach", _fmt_kpi(v)) for v in kpis.breached]
    out += [Finding("kpi", "warning", _fmt_kpi(v)) for v in kpis.warned]
    return out


def decide_verdict(findings: Iterable[Finding]) -> Verdict:
    found = tuple(findings)
    breach = {f.check for f in found if f.level == "breach"}
    causes: list[Cause] = []
    if "volume" in breach:
        causes.append("volume")
    if "validation" in breach:
        causes.append("data_quality")
    drift = {f.level for f in found if f.check in ("drift", "multivariate_drift")}
    estimated = {f.check for f in found}
    kpi_alone = "kpi" in breach and "validation" not in breach
    if "drift" in breach or "estimate" in breach:
        causes.append("input_drift")  # the dataset drift rule met, or an estimated KPI held to breach
    if kpi_alone and "estimate_gap" in estimated:  # worse than the model's confidence on these very rows
        if "warning" in drift and "input_drift" not in causes:
            causes.append("input_drift")  # features drifted too (below the rule): both are named
        causes.append("concept_change")
    elif kpi_alone and "input_drift" not in causes:
        if "estimate_match" in estimated or "warning" in drift:
            causes.append("input_drift")  # the estimate predicted the fall, or features drifted below the rule
        else:
            causes.append("undetermined" if "note" in drift else "concept_change")
    if causes:
        status: Status = "breach"
    elif any(f.level == "warning" for f in found):
        status = "warning"
    else:
        status = "ok"
    return Verdict(status, tuple(causes), _summary(status, causes, found), found)


def _summary(status: Status, causes: list[Cause], found: tuple[Finding, ...]) -> str:
    notes = [f"- {f.check} ({f.level}): {f.detail}" for f in found]
    if status == "ok":
        return "\n".join(
            ["OK: volume, validation, drift and the KPIs evaluated so far are within their rules.", *notes]
        )
    head = "BREACH" if status == "breach" else "WARNING"
    lines = [f"{head}: " + ("; ".join(_PLAIN[c] for c in causes) if causes else "signals below the breach rules") + "."]
    kpi_breach = any(f.check == "kpi" and f.level == "breach" for f in found)
    drift = {f.level for f in found if f.check == "drift"}
    checks = {f.check for f in found}
    if kpi_breach and "concept_change" in causes and "estimate_gap" in checks and "input_drift" in causes:
        lines.append(
            "Some inputs drifted, and the model is wrong more often than its confidence on these very inputs "
            "predicts: beyond the drift, the relationship it learned has changed."
        )
    elif kpi_breach and "concept_change" in causes and "estimate_gap" in checks:
        lines.append(
            "The model is as confident as before on these inputs and wrong more often than its confidence "
            "predicts, so the relationship it learned has changed."
        )
    elif kpi_breach and "input_drift" in causes and "estimate_match" in checks:
        lines.append(
            "The model's own confidence predicted the fall: its inputs moved to where it is less accurate, so the "
            "shifted inputs are the likely cause."
        )
    elif kpi_breach and "input_drift" in causes and "multivariate_drift" in checks and not drift:
        lines.append("The KPI breach comes with features that move together differently, so they are the likely cause.")
    elif "input_drift" in causes and "estimate" in checks and not kpi_breach:
        lines.append("No label has confirmed it yet: the estimate comes from the model's confidence on these inputs.")
    elif kpi_breach and "input_drift" in causes and "breach" not in drift:
        lines.append(
            "The KPI breach comes with features that drifted (below the dataset rule), so they are the likely cause."
        )
    elif kpi_breach and "input_drift" in causes:
        lines.append("The KPI breach comes with input drift, so drift is the likely cause.")
    elif kpi_breach and "data_quality" in causes:
        lines.append("The KPI breach comes with broken data, so data quality is the likely cause.")
    elif "undetermined" in causes:
        notes = [f.detail for f in found if f.check == "drift" and f.level == "note"]
        if any(n.startswith("no feature drifted") for n in notes):
            lines.append(
                "No feature drifted, but a drift of the threshold's size could be missed with these rows (the "
                "features below), so neither a drift nor a change of the relationship can be ruled out."
            )
        else:
            lines.append(
                "Input drift could not be checked (fewer rows than drift.min_rows), so neither a drift nor a "
                "change of the relationship can be ruled out."
            )
        lines.append(
            "What to do: check the named features and the feed upstream; a retrain it starts trains on the "
            "recent windows and the reference, not on these rows alone."
        )
    return "\n".join([*lines, *notes])


def overdue_finding(
    cfg: ModelConfig, end: pd.Timestamp, as_of: pd.Timestamp, labelled: int, rows: int
) -> Finding | None:
    """The "labels overdue" warning of a window ending at ``end``, as of ``as_of``: labels still immature once
    the horizon has passed (silence is a failure too)."""
    if not cfg.kpis or rows == 0 or as_of < wall_shift(end, cfg.horizon):
        return None
    if labelled / rows >= cfg.label_maturity:
        return None
    return Finding(
        "labels",
        "warning",
        f"only {labelled} of {rows} rows labelled ({labelled / rows:.0%}) after the {cfg.label_horizon} horizon; "
        "the KPIs shown are of these labels, incomplete, and a warning at most",
    )
