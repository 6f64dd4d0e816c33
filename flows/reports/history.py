"""What a model's page draws: its stored history, gathered by ``model_page.gather`` and read by the page and its
charts (a module of its own, so that the charts need not import the page that imports them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class History:
    """A model's stored history, as the page needs it: one row per window (its current run version)."""

    runs: pd.DataFrame
    metrics: pd.DataFrame
    failure_counts: pd.DataFrame
    samples: pd.DataFrame
    events: list[dict[str, Any]] = field(default_factory=list)
    incidents: pd.DataFrame = field(default_factory=pd.DataFrame)
    champion: str | None = None
    reviews: list[Any] = field(default_factory=list)
    """The reviews (``flows.reports.review.Review``) of the model's objectives over its last periods, newest first."""
    now: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))
