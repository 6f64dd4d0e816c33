"""Are the labels the model's labels? Label values checked against the classes the model knows.

Labels come from another system, days later; when they are encoded differently from the predictions
(``yes``/``no`` against ``1``/``0``), every prediction looks wrong and a concept change would be declared
that never happened. A label outside the model's classes is bad input, not a mistake of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from driftwarden.checks.profile import ReferenceProfile, as_category_text, category_text
from driftwarden.config.model import ModelConfig

MAX_UNKNOWN_SHARE = 0.01
"""Above this share of unknown labels a window's labels are refused; below it those rows are left out."""


@dataclass(frozen=True)
class LabelCheck:
    total: int
    unknown: int
    examples: tuple[str, ...]
    """A few of the unknown values."""
    classes: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.unknown / self.total if self.total else 0.0

    @property
    def refused(self) -> bool:
        return self.share > MAX_UNKNOWN_SHARE

    def message(self, column: str, where: str) -> str:
        shown = ", ".join(repr(e) for e in self.examples)
        return (
            f"{where}: column {column!r} holds labels that are none of the model's classes "
            f"{list(self.classes)}: {shown} ({self.unknown} of {self.total} labels); are the labels encoded "
            "like the predictions?"
        )


def model_classes(cfg: ModelConfig, profile: ReferenceProfile) -> set[str] | None:
    """The values a label may take: the reference's target and prediction classes, the positive label and the
    classes of the probability columns. None for regression, whose labels only need to be numbers."""
    if cfg.task == "regression":
        return None
    c = cfg.columns
    known = {category_text(k) for k in c.probabilities}
    if cfg.task == "binary":
        known.add(category_text(c.positive_label))
    for col in (c.target, c.prediction):
        if col in profile.categorical:
            known |= set(profile.categorical[col].counts)
    return known


def check_labels(values: pd.Series, cfg: ModelConfig, profile: ReferenceProfile) -> LabelCheck | None:
    """How many labels lie outside the model's classes (None for regression)."""
    known = model_classes(cfg, profile)
    if known is None:
        return None
    text = as_category_text(values).dropna()
    unknown = text[~text.isin(known)]
    examples = tuple(str(v) for v in unknown.value_counts().index[:5])
    return LabelCheck(len(text), len(unknown), examples, tuple(sorted(known)))


def known_labels(values: pd.Series, cfg: ModelConfig, profile: ReferenceProfile) -> pd.Series:
    """A mask of the labels among the model's classes (all True for regression)."""
    known = model_classes(cfg, profile)
    if known is None:
        return pd.Series(True, index=values.index)
    return as_category_text(values).isin(known) | values.isna()
