"""Category swaps: each categorical value replaced, with probability ``strength``, by another category of the
same column (drawn as often as it occurs), as a mislabelled or re-coded field would."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftwarden.checks.stress.base import Columns, Perturbation, cells, register_perturbation


@register_perturbation("category_swap")
class CategorySwap(Perturbation):
    summary = "a share s of the categorical values swapped for another category of the column"

    def applies(self, columns: Columns) -> bool:
        return any(len(columns.categories.get(c, ())) > 1 for c in columns.categorical)

    def apply(self, frame: pd.DataFrame, columns: Columns, strength: float, rng: np.random.Generator) -> pd.DataFrame:
        out = frame.copy()
        hit = cells(len(out), len(columns.categorical), strength, rng)
        for k, col in enumerate(columns.categorical):
            values = out[col].to_numpy(dtype=object).copy()
            seen = pd.Series(values).dropna().astype(str)
            freq = seen.value_counts()
            if len(freq) < 2:
                continue
            cats, weights = freq.index.to_numpy(dtype=object), freq.to_numpy(dtype=float)
            for i in np.flatnonzero(hit[:, k]):
                others = cats != values[i]
                w = weights[others]
                values[i] = rng.choice(cats[others], p=w / w.sum())
            out[col] = values
        return out
