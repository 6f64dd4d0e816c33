"""Gaussian noise on every numeric feature, its standard deviation ``strength`` times the feature's spread."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftwarden.checks.stress.base import Columns, Perturbation, register_perturbation


@register_perturbation("noise")
class Noise(Perturbation):
    summary = "Gaussian noise of s x each numeric feature's standard deviation on every value"

    def apply(self, frame: pd.DataFrame, columns: Columns, strength: float, rng: np.random.Generator) -> pd.DataFrame:
        out = frame.copy()
        for col in columns.numeric:
            values = out[col].to_numpy(dtype=float)
            out[col] = values + rng.normal(0.0, strength * columns.spread[col], len(values))
        return out
