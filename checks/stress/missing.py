"""Missing values: each feature value (numeric or categorical) blanked with probability ``strength``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftwarden.checks.stress.base import Columns, Perturbation, cells, register_perturbation


@register_perturbation("missing")
class Missing(Perturbation):
    summary = "a share s of the feature values missing"

    def applies(self, columns: Columns) -> bool:
        return bool(columns.numeric or columns.categorical)

    def apply(self, frame: pd.DataFrame, columns: Columns, strength: float, rng: np.random.Generator) -> pd.DataFrame:
        out = frame.copy()
        cols = [*columns.numeric, *columns.categorical]
        hit = cells(len(out), len(cols), strength, rng)
        for k, col in enumerate(cols):
            if col in columns.numeric:
                out[col] = out[col].to_numpy(dtype=float)
                out.loc[hit[:, k], col] = np.nan
            else:
                values = out[col].to_numpy(dtype=object).copy()
                values[hit[:, k]] = None
                out[col] = values
        return out
