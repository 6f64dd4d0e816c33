"""The labelled rows of a span of windows, read through the facade: predictions a chunk at a time, the labels
known as of a moment joined on the id, each row with its window's start. What error analysis reads
(``driftwarden errors``, the post-mortems' "Where it fails"); the failure log cannot serve, being capped and
worst-first.

Memory is bounded: past ``max_rows`` labelled rows a seeded uniform sample is kept (the rows with the smallest
random keys, trimmed as the chunks come), and a note says so."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from driftwarden.checks.scan import attach_labels
from driftwarden.checks.slices import WINDOW
from driftwarden.checks.windows import Window
from driftwarden.config.model import ModelConfig
from driftwarden.flows import sources

MAX_ROWS = 300_000
"""Labelled rows kept in memory; beyond, a uniform sample of this many."""


def read_labelled(
    cfg: ModelConfig, windows: Sequence[Window], as_of: pd.Timestamp, max_rows: int = MAX_ROWS, seed: int = 0
) -> tuple[pd.DataFrame, list[str]]:
    """The predictions of ``windows`` that have a label as of ``as_of``, each with its window's start
    (``WINDOW``); (rows, notes on how they were read)."""
    c = cfg.columns
    keep = list(dict.fromkeys([*c.features, c.prediction, c.target, c.timestamp, c.id,
                               *([c.probability] if c.probability else []),
                               *([c.model_version] if c.model_version else [])]))  # fmt: skip
    notes: list[str] = []
    if not windows:
        return pd.DataFrame(columns=[*keep, WINDOW]), notes
    spans = sorted(windows, key=lambda w: w.start)
    starts = pd.DatetimeIndex([w.start.tz_convert("UTC") for w in spans])
    ends = pd.DatetimeIndex([w.end.tz_convert("UTC") for w in spans])
    labels = sources.read_labels(cfg, spans[0].start, as_of) if cfg.sources.labels is not None else None
    rng = np.random.default_rng(seed)
    parts: list[pd.DataFrame] = []
    keys: list[np.ndarray] = []
    seen = 0
    for chunk in sources.scan_predictions(cfg, spans[0].start, spans[-1].end):
        labelled = attach_labels(cfg, chunk, labels)
        if labelled.empty:
            continue
        labelled = labelled[[col for col in keep if col in labelled.columns]]
        times = pd.DatetimeIndex(labelled[c.timestamp]).tz_convert("UTC")
        at = np.clip(starts.searchsorted(times, side="right") - 1, 0, len(starts) - 1)
        inside = np.asarray(times < ends[at])  # windows need not be adjacent (an incident's may not be)
        labelled = labelled[inside].copy()
        labelled[WINDOW] = starts[at[inside]]
        seen += len(labelled)
        parts.append(labelled)
        keys.append(rng.random(len(labelled)))  # a uniform sample: the rows with the smallest keys
        if sum(len(p) for p in parts) > 2 * max_rows:
            parts, keys = _smallest(parts, keys, max_rows)
    if not parts:
        return pd.DataFrame(columns=[*keep, WINDOW]), notes
    if seen > max_rows:
        parts, keys = _smallest(parts, keys, max_rows)
        notes.append(f"A uniform sample of {max_rows:,} of the {seen:,} labelled rows was used (memory).")
    return pd.concat(parts, ignore_index=True), notes


def _smallest(parts: list[pd.DataFrame], keys: list[np.ndarray], n: int) -> tuple[list[pd.DataFrame], list[np.ndarray]]:
    frame, key = pd.concat(parts, ignore_index=True), np.concatenate(keys)
    idx = np.sort(np.argpartition(key, n - 1)[:n]) if len(key) > n else np.arange(len(key))
    return [frame.iloc[idx].reset_index(drop=True)], [key[idx]]
