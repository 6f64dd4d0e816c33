"""Unit errors: numeric values multiplied by 100 (cents for euros, percent for shares) or by 0.01, each with
probability ``strength``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftwarden.checks.stress.base import Columns, Perturbation, cells, register_perturbation


class _Scale(Perturbation):
    factor = 1.0

    def apply(self, frame: pd.DataFrame, columns: Columns, strength: float, rng: np.random.Generator) -> pd.DataFrame:
        out = frame.copy()
        hit = cells(len(out), len(columns.numeric), strength, rng)
        for k, col in enumerate(columns.numeric):
            values = out[col].to_numpy(dtype=float).copy()
            values[hit[:, k]] *= self.factor
            out[col] = values
        return out


@register_perturbation("scale_x100")
class ScaleUp(_Scale):
    factor = 100.0
    summary = "a share s of the numeric values multiplied by 100 (a unit error)"


@register_perturbation("scale_x0.01")
class ScaleDown(_Scale):
    factor = 0.01
    summary = "a share s of the numeric values multiplied by 0.01 (a unit error)"
