"""A shift of the most important numeric features: every value moved up by ``strength`` times the feature's
spread (a population that moved where the model looks most)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftwarden.checks.stress.base import Columns, Perturbation, register_perturbation


@register_perturbation("shift")
class Shift(Perturbation):
    summary = "the most important numeric features shifted up by s x their standard deviation"

    def applies(self, columns: Columns) -> bool:
        return bool(columns.important)

    def apply(self, frame: pd.DataFrame, columns: Columns, strength: float, rng: np.random.Generator) -> pd.DataFrame:
        out = frame.copy()
        for col in columns.important:
            out[col] = out[col].to_numpy(dtype=float) + strength * columns.spread[col]
        return out
