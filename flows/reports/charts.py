"""The model page's charts (Plotly), one function a chart, each with one point per stored window.

Strings from data (feature names, failure details) go through ``label``: Plotly reads a few HTML tags in its
labels (<b>, <br>, <a>) and decodes entities, so escaping shows the text as it is."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd

from driftwarden.config.model import KpiConfig, ModelConfig
from driftwarden.flows.reports.history import History

STATUS_COLOURS = {"ok": "#1a7f37", "warning": "#b35900", "breach": "#c62828", "failed": "#6a1b9a"}
LEVEL_COLOURS = {"ok": "#1a7f37", "warning": "#e69500", "breach": "#c62828"}


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    caption: str
    points: int
    figure: Any


def label(text: Any) -> str:
    return html.escape(str(text))


def num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def fmt(v: Any, digits: int = 3) -> str:
    x = num(v)
    return "—" if x is None else f"{x:.{digits}f}"


def utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def day(ts: Any, tz: str) -> str:
    t = utc(ts).tz_convert(tz)
    return f"{t:%Y-%m-%d}" if (t.hour, t.minute) == (0, 0) else f"{t:%Y-%m-%d %H:%M}"


@dataclass
class _Axis:
    """The windows the charts share: their local start times (the x axis) and their runs' ids."""

    x: list[Any]
    ids: list[int]
    tz: str

    def column(self, rows: pd.DataFrame, key: str) -> list[Any]:
        """One value of ``key`` per window from metric rows (one row per run at most), None where missing."""
        by_run = {int(r["run_id"]): r[key] for _, r in rows.iterrows()}
        return [by_run.get(i) for i in self.ids]


def model_charts(cfg: ModelConfig, history: History) -> list[Chart]:
    runs = history.runs
    tz = cfg.window.timezone
    axis = _Axis(
        [utc(s).tz_convert(tz).tz_localize(None) for s in runs["window_start"]], [int(i) for i in runs["id"]], tz
    )
    m = (
        history.metrics
        if len(history.metrics)
        else pd.DataFrame(columns=["kind", "name", "column", "segment", "run_id", "details", "passed"])
    )
    promotions = [e for e in history.events if e["kind"] in ("promotion", "rollback")]
    charts = [_kpi_chart(k, m, axis, list(runs["window_start"]), promotions) for k in cfg.kpis]
    charts.append(_volume_chart(runs, axis))
    if (m["kind"] == "drift").any():
        charts.append(_drift_chart(cfg, m[m["kind"] == "drift"], axis))
    private = set(cfg.failures.mask) | set(cfg.failures.exclude)
    validation = m[m["kind"] == "validation"]
    charts.append(_quality_chart(validation[~validation["column"].isin(private)], history.failure_counts, runs, axis))
    if history.events:
        charts.append(_events_chart(history.events, list(runs["status"]), axis))
    daily = cfg.window_length >= timedelta(days=1)
    for c in charts:
        c.figure.update_xaxes(tickformat="%b %d" if daily else "%b %d %H:%M")
        c.figure.update_layout(
            height=320, margin={"l": 60, "r": 30, "t": 20, "b": 40}, template="plotly_white",
            legend={"orientation": "h", "y": -0.2}, hovermode="closest",
        )  # fmt: skip
    return charts


def _kpi_chart(
    k: KpiConfig, m: pd.DataFrame, axis: _Axis, starts: list[Any], promotions: list[dict[str, Any]]
) -> Chart:
    """Realized KPI with its interval and its level as colour, the estimate and its band, the target."""
    import plotly.graph_objects as go

    kpi = m[(m["kind"] == "kpi") & (m["segment"] == "all") & (m["name"] == k.metric)]
    values, lower, upper = ([num(v) for v in axis.column(kpi, key)] for key in ("value", "lower", "upper"))
    levels = [(d or {}).get("level") or "not_evaluated" for d in axis.column(kpi, "details")]
    fig = go.Figure()
    est = m[(m["kind"] == "estimate") & (m["name"] == k.metric)]
    e_val = [num(v) for v in axis.column(est, "value")]
    if any(v is not None for v in e_val):
        e_lo, e_hi = ([num(v) for v in axis.column(est, key)] for key in ("lower", "upper"))
        fig.add_trace(go.Scatter(x=axis.x, y=e_hi, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False))
        fig.add_trace(
            go.Scatter(x=axis.x, y=e_lo, mode="lines", line={"width": 0}, fill="tonexty",
                       fillcolor="rgba(90,120,200,0.15)", name="estimated band (95%)", hoverinfo="skip")
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=axis.x, y=e_val, mode="lines+markers", name="estimated before labels",
                       line={"dash": "dot", "color": "#5a78c8"}, marker={"size": 5},
                       hovertemplate="estimated %{y:.3f}<extra></extra>")
        )  # fmt: skip
    hover = [
        f"{day(s, axis.tz)}<br>{k.metric} {fmt(v)} [{fmt(lo)}, {fmt(hi)}]<br>target {k.target:g}: "
        f"{lv.replace('_', ' ')}"
        for s, v, lo, hi, lv in zip(starts, values, lower, upper, levels, strict=True)
    ]
    plus = [None if v is None or hi is None else hi - v for v, hi in zip(values, upper, strict=True)]
    minus = [None if v is None or lo is None else v - lo for v, lo in zip(values, lower, strict=True)]
    fig.add_trace(
        go.Scatter(
            x=axis.x, y=values, mode="lines+markers", name=f"{k.metric} (realized, 95% interval)",
            line={"color": "#24292f"},
            marker={"size": 9, "color": [LEVEL_COLOURS.get(lv, "#bbbbbb") for lv in levels],
                    "symbol": ["x" if lv == "breach" else "circle" for lv in levels]},
            error_y={"type": "data", "array": plus, "arrayminus": minus, "thickness": 1},
            text=hover, hovertemplate="%{text}<extra></extra>", meta="realized",
        )
    )  # fmt: skip
    fig.add_hline(y=k.target, line={"color": "#c62828", "dash": "dash"}, annotation_text=f"target {k.target:g}")
    for e in promotions:  # the model that scored the windows changed here
        at = utc(e["at"]).tz_convert(axis.tz).tz_localize(None)
        fig.add_vline(x=at.timestamp() * 1000, line={"color": "#1a7f37", "dash": "dot"})
        fig.add_annotation(x=at, y=1, yref="paper", text=label(e["text"].split(".")[0]), showarrow=False,
                           xanchor="left", font={"color": "#1a7f37"})  # fmt: skip
    breached = sum(lv == "breach" for lv in levels)
    caption = (
        f"Realized {k.metric} once labels arrived, with its 95% interval; red crosses are breaches ({breached} "
        f"window{'s' if breached != 1 else ''}). The dotted line is the value estimated from the model's confidence "
        "before the labels, with its band."
    )
    return Chart(f"kpi-{_slug(k.metric)}", f"{k.metric} against its target {k.target:g}", caption, len(axis.x), fig)


def _volume_chart(runs: pd.DataFrame, axis: _Axis) -> Chart:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=axis.x, y=[num(r) for r in runs["rows"]], name="predictions", marker={"color": "#9fb3c8"}))
    coverage = [None if num(c) is None else 100 * float(c) for c in runs["label_coverage"]]
    fig.add_trace(
        go.Scatter(x=axis.x, y=coverage, name="labelled (%)", mode="lines+markers", line={"color": "#1a7f37"}),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="predictions", secondary_y=False)
    fig.update_yaxes(title_text="labelled %", range=[0, 105], secondary_y=True)
    caption = "Predictions made in each window (bars) and the share of them whose true outcome is known so far (line)."
    return Chart("volume", "Predictions and labels", caption, len(axis.x), fig)


def _drift_chart(cfg: ModelConfig, drift: pd.DataFrame, axis: _Axis) -> Chart:
    """The share of drifted features against the dataset rule, and the most drifted features' score over
    threshold per window (a heat map: 1 and above is drift). Private columns are left out."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    private = set(cfg.failures.mask) | set(cfg.failures.exclude)
    shares = [num(v) for v in axis.column(drift[drift["name"] == "dataset_share"], "value")]
    feats = drift[(drift["name"] != "dataset_share") & (~drift["column"].isin(private))].copy()
    feats = feats[feats["details"].map(lambda d: d.get("role") == "feature")]
    feats["ratio"] = [(num(v) or 0) / t if t else 0 for v, t in zip(feats["value"], feats["threshold"], strict=True)]
    top = feats.groupby("column")["ratio"].max().sort_values(ascending=False).head(8).index.tolist()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.35, 0.65], vertical_spacing=0.08)
    fig.add_trace(
        go.Scatter(x=axis.x, y=shares, mode="lines+markers", name="share of features drifted",
                   line={"color": "#b35900"}),
        row=1, col=1,
    )  # fmt: skip
    fig.add_hline(y=cfg.drift.dataset_share, line={"dash": "dash", "color": "#c62828"}, row=1, col=1,
                  annotation_text=f"dataset rule {cfg.drift.dataset_share:g}")  # fmt: skip
    z, text = [], []
    for col in top:
        rows = feats[feats["column"] == col]
        ratio, name, value, threshold = (axis.column(rows, key) for key in ("ratio", "name", "value", "threshold"))
        z.append([num(r) for r in ratio])
        text.append(
            [
                f"{label(col)}: not evaluated" if r is None else f"{label(col)}: {n} {fmt(v, 4)} vs threshold {fmt(t)}"
                for r, n, v, t in zip(ratio, name, value, threshold, strict=True)
            ]
        )
    fig.add_trace(
        go.Heatmap(x=axis.x, y=[label(c) for c in top], z=z, text=text, hovertemplate="%{text}<extra></extra>",
                   zmin=0, zmax=2, colorscale=[[0, "#f6f8fa"], [0.5, "#f3c969"], [1, "#c62828"]],
                   colorbar={"title": {"text": "score ÷ threshold"}, "len": 0.6, "y": 0.3}),
        row=2, col=1,
    )  # fmt: skip
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    caption = (
        "Top: the share of features that drifted against the reference (the dataset rule is the dashed line). "
        "Below: the most drifted features, each window's drift score divided by its threshold (1 and above is drift)."
    )
    return Chart("drift", "Input drift", caption, len(axis.x), fig)


def _quality_chart(val: pd.DataFrame, counts: pd.DataFrame, runs: pd.DataFrame, axis: _Axis) -> Chart:
    """Failure samples logged per window by reason (bars) and the validation rules each window failed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if len(counts):
        starts = [utc(s) for s in runs["window_start"]]
        for reason, g in counts.groupby("reason"):
            per = {utc(s): int(n) for s, n in zip(g["window_start"], g["n"], strict=True)}
            fig.add_trace(go.Bar(x=axis.x, y=[per.get(s, 0) for s in starts], name=f"logged: {label(reason)}"))
    failed, hover = [], []
    for i in axis.ids:
        bad = val[(val["run_id"] == i) & (val["passed"] == 0)]
        failed.append(len(bad))
        hover.append("<br>".join(label(d.get("detail") or "") for d in bad["details"]) or "all rules passed")
    fig.add_trace(
        go.Scatter(x=axis.x, y=failed, mode="lines+markers", name="validation rules failed",
                   line={"color": "#6a1b9a"}, text=hover, hovertemplate="%{y} failed<br>%{text}<extra></extra>"),
        secondary_y=True,
    )  # fmt: skip
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="failure samples logged", secondary_y=False)
    fig.update_yaxes(title_text="rules failed", rangemode="tozero", secondary_y=True)
    caption = (
        "Bars: failure samples logged per window, by reason. Line: the number of validation rules the window failed."
    )
    return Chart("quality", "Data quality and the failure log", caption, len(axis.x), fig)


def _events_chart(events: list[dict[str, Any]], statuses: list[str], axis: _Axis) -> Chart:
    """Alerts, mutes, retrains, promotions and refusals on the windows' time line, under their statuses."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for kind in sorted({e["kind"] for e in events}):
        ev = [e for e in events if e["kind"] == kind]
        fig.add_trace(
            go.Scatter(x=[utc(e["at"]).tz_convert(axis.tz).tz_localize(None) for e in ev], y=[kind] * len(ev),
                       mode="markers", marker={"size": 12}, name=kind, text=[label(e["text"]) for e in ev],
                       hovertemplate="%{text}<extra></extra>")
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=axis.x, y=["window status"] * len(axis.x), mode="markers", name="window status",
                   marker={"size": 10, "symbol": "square", "color": [STATUS_COLOURS.get(s, "#999") for s in statuses]},
                   text=statuses, hovertemplate="%{x}: %{text}<extra></extra>")
    )  # fmt: skip
    fig.update_xaxes(range=[axis.x[0], axis.x[-1]])
    caption = "Alerts sent, mutes, retrains, promotions and refusals, beside each window's status."
    return Chart("events", "What was done, on the same time line", caption, len(axis.x), fig)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())
