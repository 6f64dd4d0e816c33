"""Where the model fails, from the sources: the labelled rows of a period (re-read from the sources, never from
the capped, worst-first failure log), grouped by model version and handed to the pure core
(``checks.slices``).

Reports sit beside the sources in the house, so the rows come through a ``RowsReader`` the caller hands in:
``driftwarden.flows.sources.labelled.read_labelled`` (the CLI passes it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from driftwarden.checks.slices import WINDOW, SliceReport, find_slices, incident_slices, slices_html
from driftwarden.checks.windows import Window, wall_shift, window_ending_at, windows_between
from driftwarden.config.model import ModelConfig
from driftwarden.flows import store

RowsReader = Callable[[ModelConfig, Sequence[Window], pd.Timestamp], tuple[pd.DataFrame, list[str]]]
"""(config, windows, labels known as of) -> (the labelled rows with ``WINDOW``, notes on how they were read)."""
DEFAULT_WINDOWS = 30
ALL = "(all)"


@dataclass(frozen=True)
class Period:
    windows: tuple[Window, ...]
    as_of: pd.Timestamp
    """Labels known as of this moment are used."""


def period(
    cfg: ModelConfig, store_url: str | None, since: pd.Timestamp | None, until: pd.Timestamp | None = None
) -> Period:
    """The complete windows from ``since`` (default: the oldest of the last 30 windows the store monitored, or
    30 windows back) to ``until`` (default: now)."""
    tz, length = cfg.window.timezone, cfg.window_length
    now = pd.Timestamp.now(tz="UTC")
    end = window_ending_at(until if until is not None else now, length, tz).end
    if since is None:
        start = None
        if store_url is not None:
            runs = store.latest_runs(store.open_store(store_url), cfg.name, end=store.utc(end), last=DEFAULT_WINDOWS)
            if not runs.empty:
                start = pd.Timestamp(runs["window_start"].min()).tz_localize("UTC")
        since = start if start is not None else wall_shift(end, -(length * DEFAULT_WINDOWS))
    return Period(tuple(windows_between(since, end, length, tz)), min(now, until or now))


def versions_of(cfg: ModelConfig, rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The rows of each model version (the one serving last, last); one group when the version is not known."""
    col = cfg.columns.model_version
    if not col or col not in rows.columns or rows[col].isna().all():
        return [(ALL, rows)]
    order = rows.groupby(col, dropna=True)[WINDOW].max().sort_values()
    return [(str(v), rows[rows[col] == v].reset_index(drop=True)) for v in order.index]


def _measure(cfg: ModelConfig) -> str:
    return "error rate" if cfg.task != "regression" else "mean absolute error"


def where_it_fails(
    cfg: ModelConfig,
    store_url: str | None,
    read: RowsReader,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    version: str | None = None,
    min_slice: int | None = None,
) -> list[SliceReport]:
    """One report per model version served in the period (or the one ``version`` names: ``v2`` or ``2``): the
    slices that carry its mistakes and the features associated with them. ``LookupError`` for a version with
    no labelled rows in the period."""
    span = period(cfg, store_url, since, until)
    rows, notes = read(cfg, span.windows, span.as_of)
    groups = versions_of(cfg, rows) if len(rows) else []
    if version is not None:
        wanted = [(v, g) for v, g in groups if v == version or v.lstrip("v") == version.lstrip("v")]
        if not wanted:
            known = ", ".join(v for v, _ in groups) or "none"
            raise LookupError(
                f"--version {version}: no labelled rows of this version in the period (versions: {known})"
            )
        groups = wanted
    if not groups:
        where = (
            f"from {span.windows[0].start:%Y-%m-%d} to {span.windows[-1].end:%Y-%m-%d}"
            if span.windows
            else "in the period"
        )
        return [SliceReport(cfg.task, None, _measure(cfg), refused=f"no labelled rows {where}")]
    return [find_slices(g, cfg, version=None if v == ALL else v, min_slice=min_slice, notes=notes) for v, g in groups]


def incident_report(
    cfg: ModelConfig, windows: Sequence[Window], read: RowsReader, as_of: pd.Timestamp | None = None
) -> SliceReport:
    """Where it failed during an incident: its windows' labelled rows of the version that served most of them,
    the older windows learning and the newer checking."""
    rows, notes = read(cfg, windows, as_of or pd.Timestamp.now(tz="UTC"))
    groups = versions_of(cfg, rows) if len(rows) else []
    if not groups:
        return SliceReport(cfg.task, None, _measure(cfg), refused="no labelled rows in the incident's windows")
    v, g = max(groups, key=lambda vg: len(vg[1]))
    return incident_slices(g, cfg, [w.start for w in windows], version=None if v == ALL else v, notes=notes)


def latest_slices_html(cfg: ModelConfig, store_url: str | None, read: RowsReader) -> str:
    """An escaped HTML fragment of where the model fails lately (the default period, every version), for the
    model page."""
    return slices_html(where_it_fails(cfg, store_url, read))
