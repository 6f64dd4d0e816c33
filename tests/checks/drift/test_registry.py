"""The drift-method registry: the config's method names, the registered methods and Evidently's stat tests
agree, and one more method is one module with its registration."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pandas as pd
import pytest

from driftwarden.checks.drift import (
    AUTO_LARGE,
    AUTO_SMALL,
    Measurement,
    Method,
    auto_method,
    detect_drift,
    get_method,
    method_keys,
    register_method,
    registered_methods,
)
from driftwarden.checks.drift.methods import base
from driftwarden.checks.profile import NumericProfile, build_profile
from driftwarden.checks.sketch import NumericSketch
from driftwarden.config.model import DriftConfig, DriftMethod


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry for the test to register into; the real one is back afterwards."""
    monkeypatch.setattr(base, "_METHODS", dict(base._METHODS))


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x0": rng.normal(size=n) + shift,
            "x1": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def test_the_config_literal_names_exactly_the_registered_methods():
    assert sorted(set(get_args(DriftMethod)) - {"auto"}) == method_keys()
    assert method_keys() == ["chisquare", "jensenshannon", "ks", "wasserstein"]


def test_the_registration_lines_declare_what_the_methods_always_were():
    declared = {
        m.key: (m.yields, sorted(m.applies_to), m.threshold_field, m.evidently_name) for m in registered_methods()
    }
    assert declared == {
        "chisquare": ("p_value", ["categorical", "numeric"], None, "chisquare"),
        "jensenshannon": ("distance", ["categorical", "numeric"], "jensenshannon_threshold", "jensenshannon"),
        "ks": ("p_value", ["numeric"], None, "ks"),
        "wasserstein": ("distance", ["numeric"], "wasserstein_threshold", "wasserstein"),
    }


def test_each_distance_method_names_a_drift_config_threshold():
    defaults = DriftConfig()
    for method in registered_methods():
        if method.yields == "distance":
            assert method.threshold_field in DriftConfig.model_fields, method.key
            assert method.threshold(defaults) == getattr(defaults, method.threshold_field)
        else:
            assert method.yields == "p_value" and method.threshold(defaults) == defaults.p_value


def test_auto_picks_registered_methods_that_fit_the_kind():
    for table, large in ((AUTO_LARGE, True), (AUTO_SMALL, False)):
        for kind, key in table.items():
            assert auto_method(kind, large) is get_method(key) and kind in get_method(key).applies_to
    assert auto_method("numeric", True).yields == auto_method("categorical", True).yields == "distance"
    assert auto_method("numeric", False).yields == auto_method("categorical", False).yields == "p_value"


def test_evidently_knows_each_method_by_its_name():
    """The report page asks Evidently for the methods ``auto`` picks at large sizes, by these names."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    def known(name: str, kind: ColumnType) -> bool:
        try:
            get_registered_stattest(name, kind)
        except ValueError:
            return False
        return True

    for method in registered_methods():
        assert known(method.evidently_name, ColumnType.Numerical) or known(
            method.evidently_name, ColumnType.Categorical
        ), method.key
    assert known(auto_method("numeric", True).evidently_name, ColumnType.Numerical)
    assert known(auto_method("categorical", True).evidently_name, ColumnType.Categorical)


def test_an_unknown_key_lists_the_valid_ones():
    msg = str(pytest.raises(ValueError, get_method, "psi").value)
    assert "'psi'" in msg and all(key in msg for key in method_keys())
    # the config refuses the name first; past it (model_construct skips validation) the registry does
    ref = build_profile(frame(2000, 0), ["x0", "x1"], ["colour"])
    cfg = DriftConfig.model_construct(methods={"x0": "psi"})
    msg = str(pytest.raises(ValueError, detect_drift, frame(2000, 1), ref, cfg, ["x0"]).value)
    assert "'psi'" in msg and "wasserstein" in msg


@pytest.mark.parametrize(
    ("key", "declared", "refusal"),
    [
        ("wasserstein", {}, "registered twice"),
        ("none", {}, "reserved"),
        ("toy", {"yields": "score"}, "yields must be"),
        ("toy", {"applies_to": ()}, "applies_to must name"),
        ("toy", {"applies_to": ("text",)}, "applies_to must name"),
        ("toy", {"yields": "distance"}, "threshold_field 'toy_threshold' is no DriftConfig field"),
        ("toy", {"yields": "distance", "threshold_field": "toy_cut"}, "threshold_field 'toy_cut' is no DriftConfig"),
        ("toy", {"evidently_name": ""}, "evidently_name is missing"),
    ],
)
def test_registering_a_key_twice_or_a_bad_declaration_is_refused(scratch_registry, key, declared, refusal):
    toy = type("Toy", (Method,), {})
    with pytest.raises(ValueError, match=refusal):
        register_method(key, **{"yields": "p_value", "applies_to": ("numeric",), **declared})(toy)
    assert get_method("wasserstein").__class__.__name__ == "Wasserstein" and "toy" not in method_keys()


def test_a_new_method_is_one_module_and_its_registration(scratch_registry):
    """A toy method registered here is used wherever ``drift.methods`` names it, under the same rules."""

    @register_method("meanshift", yields="distance", applies_to=("numeric",), threshold_field="wasserstein_threshold")
    class MeanShift(Method):
        """|mean(window) - mean(reference)| in reference standard deviations."""

        def numeric(self, ref: NumericProfile, cur: NumericSketch) -> Measurement:
            values = cur.values()
            assert values is not None
            return Measurement(abs(float(values.mean()) - ref.mean) / max(ref.std, 0.001), "toy")

    assert "meanshift" in method_keys()
    ref = build_profile(frame(5000, 0), ["x0", "x1"], ["colour"])
    # DriftMethod does not know the toy's name: model_construct stands for the literal's one more entry
    cfg = DriftConfig.model_construct(methods={"x0": "meanshift", "x1": "meanshift"})
    result = detect_drift(frame(2500, 1, shift=0.5), ref, cfg, ["x0", "x1", "colour"])
    x0, x1 = result.get("x0"), result.get("x1")
    assert (x0.method, x1.method, result.get("colour").method) == ("meanshift", "meanshift", "jensenshannon")
    assert x0.value == pytest.approx(0.5, abs=0.06) and x0.threshold == cfg.wasserstein_threshold
    assert x0.drifted is True and x1.drifted is False and x0.note == "toy"
    assert result.drifted_features == ["x0"]

    refused = DriftConfig.model_construct(methods={"colour": "meanshift"})
    with pytest.raises(ValueError, match="meanshift does not apply to categorical column 'colour'"):
        detect_drift(frame(2500, 1), ref, refused, ["colour"])


def test_the_toy_is_gone_after_its_test():
    assert "meanshift" not in method_keys()
