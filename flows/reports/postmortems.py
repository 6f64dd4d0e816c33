"""Post-mortems that write themselves: a model's incidents derived from the store and the registry, each with
its post-mortem, kept in the store (``incidents``), written beside the run pages
(``<reports>/<model>/postmortems/<id>.html|.md``) and, inside a flow run, published as Prefect artifacts.

``refresh_incidents`` rewrites them whole from what is stored, so it works on a store any version filled; only
the post-mortems whose document changed are written and published again. "Where it fails" (the slices of an
incident with a KPI cause) needs the labelled rows from the sources: it is computed when the caller hands a
reader in (``reader``) and the incident's windows or their labelled rows changed since it was stored, and
otherwise taken from the stored document, so that a nightly refresh does not learn it again."""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pandas as pd

from driftwarden.checks import incidents as inc
from driftwarden.checks import postmortem as pm
from driftwarden.checks.objectives import WindowKpi, window_kpis
from driftwarden.checks.slices import METHOD, SliceReport
from driftwarden.checks.windows import Window
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import files as report_files
from driftwarden.flows import store
from driftwarden.flows.registry.versions import Registry
from driftwarden.flows.reports.errors import RowsReader, incident_report
from driftwarden.flows.store import incidents as incident_store

log = logging.getLogger(__name__)

FOLDER = "postmortems"
_ALERT_CHECKS = {
    "volume": ("volume",),
    "data_quality": ("data_quality",),
    "input_drift": ("input_drift", "feature_drift"),
    "concept_change": ("kpi",),
    "undetermined": ("kpi",),
}


@dataclass(frozen=True)
class Refreshed:
    """One incident after a refresh: its row as stored and whether this refresh changed it."""

    incident: inc.Incident
    postmortem: pm.PostMortem
    html_path: str
    markdown_path: str
    changed: bool

    @property
    def id(self) -> str:
        return self.incident.id

    def brief(self, config_path: str | None = None) -> dict[str, Any]:
        """What an alert carries of it: id, cause, state, the post-mortem's file and the command that prints it."""
        config = config_path or "<yaml>"
        return {
            "id": self.id,
            "cause": self.incident.cause,
            "state": self.incident.state,
            "title": self.incident.title,
            "postmortem": self.html_path,
            "command": f"driftwarden postmortem --config {config} --incident {self.id}",
        }


def postmortem_path(cfg: ModelConfig, incident_id: str, ext: str) -> str:
    return report_files.join(get_settings().resolved_reports_dir(), cfg.name, FOLDER, f"{incident_id}.{ext}")


def refresh_incidents(
    cfg: ModelConfig, store_url: str, *, publish: bool, reader: RowsReader | None = None
) -> list[Refreshed]:
    """Derive the model's incidents from the store and the registry, write their post-mortems (store, files)
    and, with ``publish`` inside a flow run, publish the new or changed ones as Prefect markdown artifacts
    (key: the incident's id). Returns every incident, oldest first. Raises on a store that cannot be read:
    callers inside a run catch it (``refresh_quietly``). ``reader`` (``flows.sources.labelled.read_labelled``)
    lets "Where it fails" be computed for incidents with a KPI cause whose basis changed."""
    engine = store.open_store(store_url)
    tz = cfg.window.timezone
    versions = incident_store.run_versions(engine, cfg.name)
    if versions.empty:
        incident_store.remove_other_incidents(engine, cfg.name, [])
        return []
    checks = _checks_by_run(incident_store.check_rows(engine, cfg.name))
    states, current_run = _window_states(versions, checks)
    attempts = [a for a in (inc.RetrainAttempt.from_json(d) for d in _attempts(cfg)) if a is not None]
    incidents = inc.derive_incidents(cfg.name, states, attempts, tz)
    needed = {current_run[w.window_start] for i in incidents for w in i.windows}
    needed |= {current_run[i.cleared_by] for i in incidents if i.cleared_by is not None}
    metric_rows = _by_run(incident_store.evidence_of(engine, sorted(needed)))
    for run_id, rows in _by_run(_segment_drift_rows(engine, sorted(needed))).items():
        metric_rows.setdefault(run_id, []).extend(rows)
    texts = incident_store.run_texts(engine, sorted(needed))
    counts = incident_store.failure_counts(engine, cfg.name)
    alerts = incident_store.alert_messages(engine, cfg.name)
    window_evidence = {
        start: _window_evidence(start, run_id, metric_rows.get(run_id, []), texts.get(run_id), counts)
        for start, run_id in current_run.items()
        if run_id in needed
    }
    stored = incident_store.list_incidents(engine, cfg.name).set_index("id")
    private = frozenset(cfg.private_columns)
    costs = _cost_windows(engine, cfg, incidents)
    uris = {int(r.id): r.report_uri for r in versions.itertuples(index=False)}
    run_pages = {start: _link(cfg, uris.get(run_id)) for start, run_id in current_run.items()}
    currency = cfg.value.currency if cfg.value is not None else ""
    out, rows = [], []
    for i in incidents:
        fails, basis = _where_it_fails(cfg, i, stored, reader)
        evidence = pm.Evidence(
            windows=tuple(window_evidence[w.window_start] for w in i.windows if w.window_start in window_evidence),
            closing=window_evidence.get(i.cleared_by) if i.cleared_by is not None else None,
            alerts=tuple(_alerts_for(i, alerts, incidents)),
            private_columns=private,
            where_it_fails=fails,
            cost_windows=costs.get(i.id, ()),
            currency=currency,
            report_paths={w.window_start: link for w in i.windows if (link := run_pages.get(w.window_start))},
            model_page="../model.html",  # <reports>/<model>/model.html, from <reports>/<model>/postmortems/
        )
        doc = pm.write_postmortem(i, evidence)
        document = doc.to_json()
        if basis is not None:
            document["facts"]["where_it_fails_basis"] = basis
        markdown = doc.to_markdown()
        fingerprint = hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:16]
        html_path, md_path = postmortem_path(cfg, i.id, "html"), postmortem_path(cfg, i.id, "md")
        changed = i.id not in stored.index or stored.loc[i.id, "fingerprint"] != fingerprint
        if changed or not report_files.exists(html_path):
            report_files.write_text(html_path, doc.to_html())
            report_files.write_text(md_path, markdown)
        rows.append(
            {
                "id": i.id,
                "model": cfg.name,
                "cause": i.cause,
                "state": i.state,
                "opened_at": i.opened_at,
                "updated_at": i.updated_at,
                "closed_at": i.closed_at,
                "first_window": i.first_window,
                "last_window": i.last_window,
                "windows": len(i.windows),
                "predictions": i.rows,
                "title": i.title,
                "summary": doc.summary,
                "markdown": markdown,
                "html_path": html_path,
                "document": document,
                "fingerprint": fingerprint,
            }  # fmt: skip
        )
        out.append(Refreshed(i, doc, html_path, md_path, changed))
    incident_store.upsert_incidents(engine, [r for r, o in zip(rows, out, strict=True) if o.changed])
    incident_store.remove_other_incidents(engine, cfg.name, [i.id for i in incidents])
    if publish:
        publish_artifacts([o for o in out if o.changed])
    return out


def refresh_quietly(
    cfg: ModelConfig, store_url: str, *, publish: bool, reader: RowsReader | None = None
) -> list[Refreshed]:
    """``refresh_incidents`` for a run whose verdict is stored: a problem is a warning, never a failed run."""
    try:
        return refresh_incidents(cfg, store_url, publish=publish, reader=reader)
    except Exception as exc:
        _warn(f"{cfg.name}: the incidents and post-mortems could not be refreshed: {type(exc).__name__}: {exc}")
        return []


def _warn(message: str) -> None:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        get_run_logger().warning("%s", message)
    except MissingContextError:
        log.warning("%s", message)


def publish_artifacts(refreshed: Sequence[Refreshed]) -> int:
    """Each post-mortem as a Prefect markdown artifact keyed by its incident's id, inside a flow run only (a
    CLI refresh outside one has no run to attach them to); the number published."""
    from prefect.context import FlowRunContext

    if not refreshed or FlowRunContext.get() is None:
        return 0
    from prefect.artifacts import create_markdown_artifact

    for r in refreshed:
        create_markdown_artifact(markdown=r.postmortem.to_markdown(), key=r.id, description=r.incident.title[:200])
    return len(refreshed)


def _basis(incident: inc.Incident) -> str:
    """What "Where it fails" was learned from: the incident's windows and their labelled rows."""
    return METHOD + ":" + ";".join(f"{w.window_start.isoformat()}={w.labelled_rows or 0}" for w in incident.windows)


def _where_it_fails(
    cfg: ModelConfig, incident: inc.Incident, stored: pd.DataFrame, rows: RowsReader | None
) -> tuple[SliceReport | None, str | None]:
    """The incident's slices and their basis: the stored ones while the basis is unchanged (or no reader is
    given), else learned again from the rows the reader gives; (None, None) for a cause that is not a KPI's."""
    if incident.cause not in inc.KPI_CAUSES:
        return None, None
    before, before_basis = None, None
    if incident.id in stored.index:
        facts = _details(stored.loc[incident.id, "document"]).get("facts") or {}
        if isinstance(facts.get("where_it_fails"), dict):
            try:
                before = SliceReport.from_json(facts["where_it_fails"])
                before_basis = facts.get("where_it_fails_basis")
            except (TypeError, ValueError):
                before = None
    basis = _basis(incident)
    if rows is None or (before is not None and before_basis == basis):
        return before, before_basis if before is not None else None
    tz = cfg.window.timezone
    windows = [
        Window(pd.Timestamp(w.window_start).tz_localize("UTC").tz_convert(tz),
               pd.Timestamp(w.window_end).tz_localize("UTC").tz_convert(tz))
        for w in incident.windows
    ]  # fmt: skip
    try:
        return incident_report(cfg, windows, rows), basis
    except Exception as exc:  # the sources cannot be read now: the post-mortem stands without it
        _warn(f"{cfg.name}: where incident {incident.id} failed could not be told: {type(exc).__name__}: {exc}")
        return before, before_basis if before is not None else None


# --- from the store's rows to the pure core's data ---------------------------------------------------------


def _link(cfg: ModelConfig, target: Any) -> str | None:
    """A run page as a link from a post-mortem: relative when it sits in the same reports folder (the pages
    then work from ``file://`` and wherever the folder is served or moved), else its URL as it is."""
    if not isinstance(target, str) or not target:
        return None
    root = get_settings().resolved_reports_dir().rstrip("/") + "/"
    if target.startswith(root):
        return quote(posixpath.relpath(target[len(root) :], f"{cfg.name}/{FOLDER}"))
    if "://" in target:
        return target
    return "file://" + quote(target)


def _cost_windows(engine: Any, cfg: ModelConfig, incidents: Sequence[inc.Incident]) -> dict[str, tuple[WindowKpi, ...]]:
    """Each incident's ``cost`` windows with enough around it for its usual cost (twice the windows the
    baseline takes, since some before it may be breached or not evaluated) and what came after; none when the
    model's decisions have no value or no cost KPI."""
    if cfg.value is None or not any(k.metric == "cost" for k in cfg.kpis):
        return {}
    length, tz = cfg.window_length, cfg.window.timezone
    out: dict[str, tuple[WindowKpi, ...]] = {}
    for i in incidents:
        start = i.first_window - length * 2 * pm.COST_CONTEXT
        end = i.last_window + length * (2 * pm.COST_CONTEXT + 1)
        runs = store.latest_runs(engine, cfg.name, start, end)
        if runs.empty:
            continue
        rows = store.run_metrics(engine, [int(x) for x in runs["id"]])
        if len(rows):
            rows = rows[rows["kind"].isin(["kpi", "estimate"]) & (rows["name"] == "cost")]
        out[i.id] = tuple(window_kpis(runs, rows, "cost", tz))
    return out


def _attempts(cfg: ModelConfig) -> list[dict[str, Any]]:
    try:
        return Registry(cfg).attempts()
    except Exception as exc:  # a registry that cannot be read: the incidents stand without their retrains
        _warn(f"{cfg.name}: the registry's retrain attempts could not be read: {exc}")
        return []


def _details(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v
    try:
        d = json.loads(v or "{}")
    except (TypeError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def _bool(v: Any) -> bool | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    return bool(v)


def _checks_by_run(rows: pd.DataFrame) -> dict[int, dict[str, bool | None]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in rows.itertuples(index=False):
        grouped.setdefault(int(r.run_id), []).append(
            {"kind": r.kind, "segment": r.segment, "passed": _bool(r.passed), "details": _details(r.details)}
        )
    out = {}
    for run_id, items in grouped.items():
        for it in items:
            if it["kind"] == "drift":
                it["details"] = {**it["details"], "role": "dataset"}  # the only drift rows read: column is null
        out[run_id] = inc.checks_of(items)
    return out


def _window_states(
    versions: pd.DataFrame, checks: Mapping[int, Mapping[str, bool | None]]
) -> tuple[list[inc.WindowState], dict[datetime, int]]:
    states, current = [], {}
    for start, group in versions.groupby("window_start", sort=True):
        vs = []
        for r in group.itertuples(index=False):
            causes = tuple(json.loads(r.causes or "[]"))
            when = _ts(r.as_of) or _ts(r.started_at)
            vs.append(inc.Version(int(r.run_version), str(r.status), causes, when, checks.get(int(r.id), {})))
        live = group[~group["superseded"].astype(bool)]
        row = (live if not live.empty else group).iloc[-1]
        first = _ts(start)
        assert first is not None
        current[first] = int(row["id"])
        states.append(
            inc.window_state(
                first,
                _ts(row["window_end"]) or first,
                vs,
                _int(row["rows"]),
                _int(row["labelled_rows"]),
                None if pd.isna(row["label_coverage"]) else float(row["label_coverage"]),
            )  # fmt: skip
        )
    return states, current


def _ts(v: Any) -> datetime | None:
    if v is None or (not isinstance(v, datetime) and pd.isna(v)):
        return None
    return store.utc(v)


def _int(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def _segment_drift_rows(engine: Any, run_ids: list[int]) -> pd.DataFrame:
    """The drifted cells of drift per segment of some runs (the post-mortem names the segments that drifted)."""
    frames = [
        store.run_metrics(engine, run_ids[i : i + 500], kind="segment_drift") for i in range(0, len(run_ids), 500)
    ]
    found = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return found[found["passed"].map(lambda v: v is not None and v == v and not bool(v))] if len(found) else found


def _by_run(frame: pd.DataFrame) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for r in frame.to_dict("records"):
        r["details"] = _details(r.get("details"))
        r["passed"] = _bool(r.get("passed"))
        out.setdefault(int(r["run_id"]), []).append(r)
    return out


def _window_evidence(
    start: datetime, run_id: int, rows: list[dict[str, Any]], text: tuple[str, str] | None, counts: pd.DataFrame
) -> pm.WindowEvidence:
    summary, findings_json = text or ("", "[]")
    try:
        raw = json.loads(findings_json)
    except ValueError:
        raw = []
    findings = tuple(
        pm.Finding(str(f.get("check")), str(f.get("level")), str(f.get("detail"))) for f in raw if isinstance(f, dict)
    )
    figures = pm.evidence_rows(rows, start)
    mine = counts[counts["window_start"].map(store.utc) == start] if not counts.empty else counts
    failures = {str(r.reason): int(r.n) for r in mine.itertuples(index=False)}
    return pm.WindowEvidence(
        start, summary, findings, figures["kpis"], figures["validation"], figures["drift"], failures,
        figures["volume"], figures["estimates"], figures["segment_drift"],
    )  # fmt: skip


def _alerts_for(
    incident: inc.Incident, messages: pd.DataFrame, everything: Sequence[inc.Incident]
) -> list[pm.AlertSent]:
    """The alert messages about an incident: those naming its id (alerts carry it since post-mortems exist),
    else those of a run in its span (its first window to the window that cleared it) about its check."""
    out = []
    checks = _ALERT_CHECKS.get(incident.cause, ())
    until = incident.cleared_by
    for r in messages.itertuples(index=False):
        try:
            payload = json.loads(r.payload)
        except (TypeError, ValueError):
            continue
        if payload.get("kind") != "alert":
            continue
        named = [x.get("id") for x in payload.get("incidents") or () if isinstance(x, dict)]
        if named:
            if incident.id not in named:
                continue
        else:
            start = _ts(payload.get("window_start"))
            if start is None or start < incident.first_window or (until is not None and start >= until):
                continue
            if not any(c.get("check") in checks for c in payload.get("conditions") or ()):
                continue
        at = _ts(r.sent_at) or _ts(r.created_at) or incident.opened_at
        out.append(pm.AlertSent(at, str(r.channel), str(payload.get("title") or ""), str(r.status)))
    return out
