"""Drift per segment value: a shift in one value's rows is found there and not in the others, Holm keeps the
no-change false alarms bounded, thin cells are not evaluated, the number of values is capped, and the sketches
merge the same however the window is chunked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftwarden.checks.drift.segments import decide_segment_drift, segment_sketches
from driftwarden.checks.profile import ReferenceProfile, build_profile
from driftwarden.config.model import DriftConfig

FEATURES = ["x1", "x2", "x3", "x4", "x5"]
REGIONS = ["north", "south", "east", "west"]


def frame(per_value: int, seed: int, shift: float = 0.0, where: str = "north", feature: str = "x1") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = per_value * len(REGIONS)
    out = pd.DataFrame({f: rng.normal(0, 1, n) for f in FEATURES})
    out["region"] = np.repeat(REGIONS, per_value)
    out.loc[out["region"] == where, feature] += shift
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def profile_of(ref: pd.DataFrame, cap: int = 20) -> ReferenceProfile:
    return build_profile(ref, FEATURES, [], segments=["region"], segment_features=FEATURES, segment_values=cap)


def drift_of(ref: ReferenceProfile, cur: pd.DataFrame, cfg: DriftConfig | None = None, chunks: int = 1):
    cfg = cfg or DriftConfig()
    sketches = segment_sketches(ref, ["region"], FEATURES)
    for piece in np.array_split(np.arange(len(cur)), chunks):
        part = {k: s.empty() for k, s in sketches.items()}
        part["region"].add(cur.iloc[piece].reset_index(drop=True), "region")
        sketches["region"].merge(part["region"].detached())
    return decide_segment_drift(sketches, ref, cfg, ["region"])


def test_a_shift_in_one_value_is_found_there_and_not_in_the_others() -> None:
    ref = profile_of(frame(2000, seed=1))
    found = drift_of(ref, frame(600, seed=2, shift=0.5, where="south", feature="x3"))
    assert found.drifted == {"region=south": ["x3"]}
    cell = next(c for c in found.cells if c.segment == "region=south" and c.column == "x3")
    assert cell.method == "ks" and cell.rows == 600 and cell.reference_rows == 2000
    assert len(found.cells) == 20  # 4 values x 5 features, one Holm family
    assert cell.threshold == 0.05 / 20  # the strongest of the family is held to Holm's first level


def test_large_cells_use_the_distance_against_its_threshold() -> None:
    ref = profile_of(frame(3000, seed=3))
    found = drift_of(ref, frame(3000, seed=4, shift=0.5, where="east", feature="x1"), chunks=3)
    assert found.drifted == {"region=east": ["x1"]}
    assert {c.method for c in found.cells} == {"wasserstein"}


def test_no_change_false_alarms_stay_bounded_by_holm() -> None:
    flagged = 0
    for seed in range(50):
        ref = profile_of(frame(600, seed=100 + seed))
        flagged += bool(drift_of(ref, frame(300, seed=500 + seed)).drifted)
    assert flagged <= 8  # Holm at 5% across the 20 cells: about 2.5 expected in 50 windows


def test_thin_cells_are_not_evaluated() -> None:
    ref = profile_of(frame(1000, seed=5))
    found = drift_of(ref, frame(150, seed=6, shift=2.0), DriftConfig(segment_min_rows=200))
    assert all(c.drifted is None and c.method == "none" for c in found.cells)
    assert "min_rows 200" in found.cells[0].note
    assert not found.drifted


def test_values_beyond_the_cap_are_counted_not_evaluated() -> None:
    ref = frame(500, seed=7)
    ref.loc[ref["region"] == "west", "region"] = [f"w{i}" for i in range(500)]  # a long tail of rare values
    prof = profile_of(ref, cap=2)
    assert list(prof.segments["region"].values) in (["east", "north"], ["east", "south"], ["north", "south"])
    assert prof.segments["region"].left_out == 501
    cur = frame(400, seed=8)
    found = drift_of(prof, cur, DriftConfig(segment_values=2))
    assert {c.segment for c in found.cells} == {f"region={v}" for v in prof.segments["region"].values}
    (left,) = found.left_out
    assert left.column == "region" and left.values == 2 and left.rows == 800


def test_the_profile_round_trips_and_an_old_one_has_no_segments() -> None:
    prof = profile_of(frame(300, seed=9))
    again = ReferenceProfile.from_json(prof.to_json())
    assert set(again.segments["region"].values) == set(REGIONS)
    assert again.segments["region"].values["north"].numeric["x1"].count == 300
    old = prof.to_json()
    del old["segments"]
    assert ReferenceProfile.from_json(old).segments == {}
    assert decide_segment_drift({}, ReferenceProfile.from_json(old), DriftConfig(), ["region"]).cells == ()


def test_chunking_changes_nothing() -> None:
    ref = profile_of(frame(800, seed=10))
    cur = frame(700, seed=11, shift=0.3, where="north", feature="x2")
    one, five = drift_of(ref, cur), drift_of(ref, cur, chunks=5)
    assert one.cells == five.cells
