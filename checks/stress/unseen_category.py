"""Unseen categories: each categorical value replaced, with probability ``strength``, by a category the model
never saw in training (a new product code, a new country)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftwarden.checks.stress.base import Columns, Perturbation, cells, register_perturbation

UNSEEN = "__unseen__"


@register_perturbation("unseen_category")
class UnseenCategory(Perturbation):
    summary = f"a share s of the categorical values replaced by a category never seen ({UNSEEN!r})"

    def applies(self, columns: Columns) -> bool:
        return bool(columns.categorical)

    def apply(self, frame: pd.DataFrame, columns: Columns, strength: float, rng: np.random.Generator) -> pd.DataFrame:
        out = frame.copy()
        hit = cells(len(out), len(columns.categorical), strength, rng)
        for k, col in enumerate(columns.categorical):
            values = out[col].to_numpy(dtype=object).copy()
            values[hit[:, k]] = UNSEEN
            out[col] = values
        return out
