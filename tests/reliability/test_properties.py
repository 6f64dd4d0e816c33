"""Properties over generated inputs (hypothesis): the config loader answers any YAML mapping with a config or a
ConfigError naming a key; any frame goes through validation, drift, KPIs and the verdict without an exception;
a window with a broken feed is never called ok."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from driftwarden.checks.drift import decide_drift
from driftwarden.checks.drift.multivariate import judge
from driftwarden.checks.drift.segments import decide_segment_drift
from driftwarden.checks.estimation.compare import check_estimates
from driftwarden.checks.failures import select_failures
from driftwarden.checks.kpis import KpiResult, evaluate_kpis
from driftwarden.checks.profile import ReferenceProfile, build_profile
from driftwarden.checks.reference_models import ReferenceModels, fit_reference_models
from driftwarden.checks.scan import WindowScan
from driftwarden.checks.shares import apply_share_states, wilson
from driftwarden.checks.sketch import sketch_frame
from driftwarden.checks.validation import ValidationResult, inferred_range, null_allowance, unseen_allowance
from driftwarden.checks.verdict import (
    Verdict,
    decide_verdict,
    estimate_findings,
    input_findings,
    kpi_findings,
    multivariate_findings,
)
from driftwarden.checks.volume import check_volume
from driftwarden.config.loader import ConfigError, load_model_config
from driftwarden.config.model import ModelConfig
from tests.reliability.conftest import Observed, assert_as_table
from tests.streams import agrawal_config

settings.register_profile(
    "reliability",
    derandomize=True,  # the same examples on every run: a failure is reproduced by running the test again
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    database=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: a failure is shown as generated, in seconds not minutes
    print_blob=False,
)
PROFILE = settings.get_profile("reliability")

DAY = pd.Timestamp("2026-03-02", tz="UTC")
NUM, CAT = ["income", "score"], ["segment"]
CATEGORIES = ["a", "b", "c"]


def _config(**extra: Any) -> ModelConfig:
    """Small floors everywhere, so that a handful of generated rows reaches every check (drift, KPIs, ranges)."""
    return ModelConfig.model_validate(
        {
            "name": "p",
            "task": "binary",
            "sources": {"predictions": {"path": "p.parquet"}, "reference": {"path": "r.parquet"}},
            "columns": {
                "timestamp": "ts",
                "id": "id",
                "model_version": "mv",
                "numerical": NUM,
                "categorical": CAT,
                "prediction": "pred",
                "probability": "p",
                "target": "y",
            },
            "segments": ["segment"],
            "volume": {"min_rows": 5},
            "validation": {"min_reference_rows": 20},
            "drift": {"min_rows": 5, "large_sample": 30, "segment_min_rows": 3},
            "kpis": [
                {"metric": "accuracy", "target": 0.7, "min_labelled": 3},
                {"metric": "roc_auc", "target": 0.7, "min_labelled": 3},
                {"metric": "log_loss", "target": 0.6, "min_labelled": 3},
            ],
            "failures": {"max_per_run": 20},
            **extra,
        }
    )


CFG = _config()


def _clean(n: int, seed: int) -> pd.DataFrame:
    """Rows of a healthy feed: the reference's distribution, the model right three times in four."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    return pd.DataFrame(
        {
            "ts": DAY + pd.to_timedelta(np.sort(rng.uniform(0, 86_399, n)), unit="s"),
            "id": [f"r{seed}-{i}" for i in range(n)],
            "mv": "v1",
            "income": rng.lognormal(10, 0.4, n),
            "score": rng.normal(0, 1, n),
            "segment": rng.choice(CATEGORIES, n),
            "p": p,
            "pred": (p >= 0.5).astype(int),
            "y": (rng.uniform(size=n) < p).astype(int),
        }
    )


REFERENCE = _clean(600, 0)


def _profile(reference: pd.DataFrame) -> ReferenceProfile:
    return build_profile(reference, [*NUM, "p"], [*CAT, "pred", "y"])


def judge_window(cfg: ModelConfig, profile: ReferenceProfile, frame: pd.DataFrame, models: ReferenceModels) -> Verdict:
    """The monitor's pure steps on one window, in the flow's order (checks/ only: no store, no Prefect)."""
    scan = WindowScan(cfg, profile, DAY, DAY + pd.Timedelta(days=1), None, sample_rows=50, models=models)
    if len(frame):
        for chunk in (frame.iloc[: len(frame) // 2], frame.iloc[len(frame) // 2 :]):
            scan.add(chunk.reset_index(drop=True))
    result = scan.finish()
    volume = check_volume(result.window.rows, [], cfg.volume)
    validation: ValidationResult | None = result.validation
    drift = multivariate = None
    if validation is not None:
        validation = apply_share_states(validation, {}, {}, DAY.isoformat())
        jobs = [(name, role, sketch) for name, (role, sketch) in result.sketches.items()]
        target, labelled = cfg.columns.target, result.window.labelled
        if target in labelled and target in profile.categorical:  # target drift from the labels known so far
            jobs.append((target, "target", sketch_frame(labelled, profile, [target])[target]))
        drift = decide_drift(jobs, profile, cfg.drift)
        drift = replace(drift, segments=decide_segment_drift(result.segments, profile, cfg.drift, cfg.segments))
        assert all(c.value is None or isinstance(c.value, float) for c in drift.columns), drift
        if models.usable_pca is not None and result.reconstruction is not None:
            multivariate = judge(models.usable_pca, result.reconstruction)
    kpis: KpiResult = evaluate_kpis(result.window.labelled, cfg, result.window.rows)
    for v in kpis.values:
        assert v.level in ("ok", "warning", "breach", "not_evaluated", "pending"), v
        assert v.value is None or isinstance(v.value, float), v
    estimated = check_estimates(models.estimator, result.estimation, result.window.labelled, kpis, cfg)
    for sample in select_failures(validation, result.window.candidates, cfg, b"k"):
        assert isinstance(sample.to_row(), dict)
    found = [*input_findings(volume, validation, drift), *multivariate_findings(multivariate)]
    verdict = decide_verdict([*found, *kpi_findings(kpis), *estimate_findings(estimated, cfg)])
    assert verdict.status in ("ok", "warning", "breach"), verdict
    assert isinstance(verdict.summary, str) and verdict.summary
    return verdict


# --- the config loader ------------------------------------------------------------------------------------------


def _paths(node: Any, prefix: str = "") -> set[str]:
    """Every dotted key path of a YAML document (list items by their index), as the loader names keys."""
    found: set[str] = set()
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        found |= {path, *_paths(value, path)}
    return found


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [x for v in node.values() for x in _leaves(v)]
    if isinstance(node, list | tuple):
        return [x for v in node for x in _leaves(v)]
    return [node]


def _schema_names(model: Any = ModelConfig, seen: set[Any] | None = None) -> set[str]:
    """The key names of every config model under ModelConfig, for mutations that hit a real key."""
    import typing

    from pydantic import BaseModel

    seen = seen if seen is not None else set()
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)
    for name, field in model.model_fields.items():
        names.add(name)
        todo = [field.annotation]
        while todo:
            tp = todo.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                names |= _schema_names(tp, seen)
            todo += list(typing.get_args(tp))
    return names


KEY_NAMES = sorted(_schema_names() - {"base_dir"})
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**12, 10**20, -1, 0, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["1d", "6h", "0h", "10000000000000000000000d", "America", "Mars/Olympus", "0 0 30 2 *", "mae",
                     "accuracy", "cost", "binary", "regression", "${NOPE}", "a" * 300, "", " ", "nan", ".inf"]),
)  # fmt: skip
# Keys without control characters or line separators: a message names a key on its line.
KEY_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12)
KEYS = st.one_of(st.sampled_from(KEY_NAMES), KEY_TEXT, st.integers(-3, 3), st.booleans())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(KEYS, inner, max_size=3),
    ),
    max_leaves=6,
)


EDGES_OF_CONFIG = st.sampled_from(
    [math.nan, math.inf, -math.inf, 10**20, -(10**20), "America", "Europe/" + "x" * 300, "10000000000000000000000d",
     "99999999999w", "0 0 30 2 *", "0 0 * 2 MON#5", "", "x" * 1000]
)  # fmt: skip
"""Values at the edges of what a config key takes: non-finite and huge numbers, a time-zone folder and an
over-long zone, durations past any date, schedules that never fire."""


def _seed_config() -> dict[Any, Any]:
    """A valid config that sets every kind of key: durations, schedules, a zone, counts, shares, a mask."""
    return copy.deepcopy(  # its lists are module constants
        agrawal_config(
            window={"length": "1d", "timezone": "Europe/Berlin"},
            data_lateness="2h",
            schedule="30 0 * * *",
            review={"schedule": "0 8 * * 1"},
            retention={"reports": "365d", "failure_samples": "90d"},
            failures={"max_per_run": 100, "mask": ["zipcode"]},
            drift={"p_value": 0.05, "wasserstein_threshold": 0.1},
        )
    )


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[Any, Any]:
    """A valid config with one to four of its keys deleted, renamed, retyped, set to an edge value or joined by new
    ones."""
    doc = _seed_config()
    for _ in range(draw(st.integers(1, 4))):
        containers: list[Any] = [doc]
        todo: list[Any] = [doc]
        while todo:
            node = todo.pop()
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, dict | list):
                    containers.append(child)
                    todo.append(child)
        leaves = [
            (c, k) for c in containers if isinstance(c, dict) for k, v in c.items() if not isinstance(v, dict | list)
        ]
        if leaves and draw(st.booleans()):  # a key's value at an edge, each key as likely as any other
            node, key = draw(st.sampled_from(leaves))
            node[key] = draw(EDGES_OF_CONFIG)
            continue
        node = draw(st.sampled_from(containers))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = draw(st.sampled_from(["delete", "rename", "retype", "add"] if keys else ["add"]))
        if action == "add" or not keys:
            if isinstance(node, dict):
                node[draw(KEYS)] = draw(VALUES)
            else:
                node.append(draw(VALUES))
            continue
        key = draw(st.sampled_from(keys))
        if action == "delete":
            del node[key]
        elif action == "rename" and isinstance(node, dict):
            node[draw(KEYS)] = node.pop(key)
        else:
            node[key] = draw(VALUES)
    return doc


@pytest.mark.case("prop.config_loader")
def test_any_yaml_mapping_is_a_config_or_an_error_naming_a_key(tmp_path_factory, tally):
    folder = tmp_path_factory.mktemp("configs")
    path = folder / "model.yaml"
    schema_roots = set(ModelConfig.model_fields)
    seen = {"valid": 0, "refused": 0}

    @settings(PROFILE, max_examples=300)  # a few milliseconds each
    @given(doc=mutated_configs())
    def loads_or_names_a_key(doc: dict[Any, Any]) -> None:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
        try:
            cfg = load_model_config(path)
        except ConfigError as exc:
            message = str(exc)
            seen["refused"] += 1
            assert message.startswith(f"{path}: ") and "Traceback" not in message, message
            named = _paths(doc) | _paths(_seed_config()) | schema_roots
            header, *rest = message.split("\n")  # not splitlines: a key may hold a line separator of unicode
            lines = [header[len(f"{path}: ") :], *(line.removeprefix("  ") for line in rest)]
            assert any(line.startswith(key) for line in lines for key in named), message
            assert all(len(line) <= 1200 for line in lines), message
        else:
            seen["valid"] += 1
            assert isinstance(cfg, ModelConfig)
            numbers = [x for x in _leaves(cfg.model_dump()) if isinstance(x, float)]
            assert all(math.isfinite(x) for x in numbers), numbers  # a NaN threshold would compare false everywhere

    loads_or_names_a_key()
    tally.add("property", seen["valid"] + seen["refused"])
    assert seen["valid"] and seen["refused"], seen  # both sides of the property were exercised
    assert_as_table("prop.config_loader", Observed("survives", f"{seen}"), tally)


# --- frames through the checks ----------------------------------------------------------------------------------

EDGES = [math.nan, math.inf, -math.inf, 1e308, -1e308, 1.7976931348623157e308, 5e-324, -5e-324, 1e-300, 0.0, -0.0]
NUMBERS = st.one_of(st.none(), st.floats(), st.sampled_from(EDGES), st.floats(-1e6, 1e6))
LABELS = st.sampled_from([*CATEGORIES, "zz", "A", " a", "", "None", "nan"])


def _column(draw: st.DrawFn, n: int, values: st.SearchStrategy[Any], clean: pd.Series) -> Any:
    """A column of ``n`` rows: clean, any values, one constant, or all null."""
    mode = draw(st.sampled_from(["clean", "clean", "clean", "any", "constant", "null"]))
    if mode == "clean":
        return clean
    if mode == "any":
        return draw(st.lists(values, min_size=n, max_size=n))
    if mode == "constant":
        return [draw(values)] * n
    return [None] * n


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """A window's rows, each column healthy or broken its own way: NaN, inf, huge and tiny numbers, constants,
    all null, unseen categories, probabilities outside [0, 1], labels of one class or none."""
    n = draw(st.sampled_from([0, 1, 2, 3, 7, 25, 60]))
    frame = _clean(n, draw(st.integers(0, 1000)))
    for col in [*NUM, "p"]:
        frame[col] = pd.array(_column(draw, n, NUMBERS, frame[col]), dtype="Float64").astype(float)
    frame["segment"] = _column(draw, n, st.one_of(st.none(), LABELS), frame["segment"])
    frame["pred"] = _column(draw, n, st.one_of(st.none(), st.sampled_from([0, 1])), frame["pred"])
    frame["y"] = _column(draw, n, st.one_of(st.none(), st.sampled_from([0, 1])), frame["y"])
    if n and draw(st.booleans()):
        frame["id"] = frame["id"].iloc[0]  # one id for every row
    return frame


REFERENCE_KINDS = [
    ("healthy", ""),
    ("constant", "income"),
    ("constant", "segment"),
    ("null", "score"),
    ("null", "segment"),
    ("tiny", "p"),
    ("tiny", "income"),
    ("subnormal", "score"),
    ("few", "1"),
    ("few", "10"),
]
"""Each reference variant is fitted once (most of a second): a few of each kind."""


def reference_variant(kind: str, what: str) -> pd.DataFrame:
    """The shipped reference, or one with a constant, all-null, tiny-range or subnormal column, or only a handful
    of rows. Reference values stay within +-1e300: a reference near +-1e308 overflows its own mean and spread (an
    input no feed sends); windows get every double."""
    ref = REFERENCE.copy()
    if kind == "constant":
        ref[what] = ref[what].iloc[0]
    elif kind == "null":
        ref[what] = None if what == "segment" else math.nan
    elif kind == "tiny":
        ref[what] = (1.0 + ref[what].rank() * 1e-15) if what != "segment" else ref[what].str.slice(0, 0) + "a"
    elif kind == "subnormal":  # a few steps above the smallest positive double
        ref[what] = ref[what].rank() * 5e-324
    elif kind == "few":
        ref = ref.head(int(what))
    return ref


_FITTED: dict[tuple[str, str], tuple[ReferenceProfile, ReferenceModels] | ValueError] = {}


def fitted(kind: str, what: str) -> tuple[ReferenceProfile, ReferenceModels] | ValueError:
    """A reference variant's profile and models, once per test session (fitting takes most of a second); the
    ValueError a reference that cannot be profiled is refused with."""
    if (kind, what) not in _FITTED:
        ref = reference_variant(kind, what)
        try:
            _FITTED[kind, what] = (_profile(ref), fit_reference_models(ref, CFG))
        except ValueError as exc:
            _FITTED[kind, what] = exc
    return _FITTED[kind, what]


def _verdict_fields_are_typed(verdict: Verdict) -> None:
    assert verdict.status in ("ok", "warning", "breach")
    assert all(isinstance(c, str) for c in verdict.causes)
    assert all(f.level in ("breach", "warning", "note") and isinstance(f.detail, str) for f in verdict.findings)


@pytest.mark.case("prop.checks_never_crash")
def test_any_frame_goes_through_the_checks_without_an_exception(tally):
    statuses: dict[str, int] = {}

    @settings(PROFILE, max_examples=25)  # each example a whole window through GX, drift, KPIs and estimates
    @given(frame=frames(), reference=st.sampled_from(REFERENCE_KINDS))
    def never_crashes(frame: pd.DataFrame, reference: tuple[str, str]) -> None:
        made = fitted(*reference)
        if isinstance(made, ValueError):  # a reference column with no value at all is refused, naming it
            assert reference[0] == "null" and repr(reference[1]) in str(made), (reference, made)
            statuses["reference refused"] = statuses.get("reference refused", 0) + 1
            return
        profile, models = made
        verdict = judge_window(CFG, profile, frame, models)
        _verdict_fields_are_typed(verdict)
        statuses[verdict.status] = statuses.get(verdict.status, 0) + 1

    never_crashes()
    tally.add("property", sum(statuses.values()))
    assert_as_table("prop.checks_never_crash", Observed("survives", f"{statuses}"), tally)


# --- broken feeds -----------------------------------------------------------------------------------------------

BREAKS = ("empty", "few", "nulls", "out_of_range", "unseen", "probability")


def _beyond(allowed: float, n: int) -> int:
    """The fewest bad rows of ``n`` whose share is beyond ``allowed`` with evidence (the share rules' Wilson
    lower bound, ``checks.shares``): fewer could be a clean feed's noise."""
    return next((k for k in range(1, n + 1) if wilson(k, n)[0] > allowed), n + 1)


@st.composite
def broken_feeds(draw: st.DrawFn) -> tuple[pd.DataFrame, list[str]]:
    """A healthy window with one to three breaks: no rows, too few, nulls beyond the allowed share, values out of
    range, unseen categories, probabilities outside [0, 1]."""
    profile, v = fitted("healthy", "")[0], CFG.validation  # type: ignore[index]
    n = draw(st.integers(40, 150))
    frame = _clean(n, draw(st.integers(0, 1000)))
    breaks = draw(st.lists(st.sampled_from(BREAKS), min_size=1, max_size=3, unique=True))
    if "empty" in breaks:
        return frame.head(0), breaks
    if "few" in breaks:
        return frame.head(draw(st.integers(1, CFG.volume.min_rows - 1))), breaks
    order = draw(st.permutations(range(n)))
    # each break its own column: the nulls' column is a numeric one when categories break too, the range breaks
    # the other numeric column
    null_col = draw(st.sampled_from(NUM if "unseen" in breaks else [*NUM, *CAT]))
    range_col = next(c for c in NUM if c != null_col)
    for broken in breaks:
        if broken == "nulls":
            allowed = null_allowance(0.0, n, len(REFERENCE), v.null_tolerance)
            k = draw(st.integers(min(_beyond(allowed, n), n), n))
            frame.loc[list(order[:k]), null_col] = None
        elif broken == "out_of_range":
            lo, hi = inferred_range(profile, range_col, v.range_iqr_k)
            k = draw(st.integers(min(_beyond(1 - v.range_mostly, n), n), n))
            far = draw(st.sampled_from([1.01, 2.0, 1e3, 1e300, math.inf]))
            side = draw(st.booleans()) or lo <= 0  # below a floor of 0 nothing is out of range
            frame.loc[list(order[-k:]), range_col] = hi + (hi - lo) * far if side else lo - (hi - lo) * far
        elif broken == "unseen":
            allowed = unseen_allowance(profile.categorical["segment"].counts, v.unseen_category_share)
            k = draw(st.integers(min(_beyond(allowed, n), n), n))
            frame.loc[list(order[:k]), "segment"] = draw(st.sampled_from(["zz", "A", " a", "b ", "Ä", "0"]))
        else:
            k = draw(st.integers(1, n))
            frame.loc[list(order[:k]), "p"] = draw(st.sampled_from([-0.01, 1.01, 2.0, -math.inf, math.inf, 1e300]))
    return frame, breaks


@pytest.mark.case("prop.broken_feed_never_ok")
def test_a_broken_feed_is_never_called_ok(tally):
    profile, models = fitted("healthy", "")  # type: ignore[misc]
    seen: dict[str, int] = {}

    @settings(PROFILE, max_examples=30)
    @given(feed=broken_feeds())
    def never_ok(feed: tuple[pd.DataFrame, list[str]]) -> None:
        frame, breaks = feed
        verdict = judge_window(CFG, profile, frame, models)
        assert verdict.status != "ok", (breaks, verdict.summary)
        cause = "volume" if {"empty", "few"} & set(breaks) else "data_quality"
        assert verdict.status == "breach" and cause in verdict.causes, (breaks, verdict.summary)
        for broken in breaks:
            seen[broken] = seen.get(broken, 0) + 1

    never_ok()
    tally.add("property", sum(seen.values()))
    assert set(seen) == set(BREAKS), seen  # every kind of break was generated
    assert_as_table("prop.broken_feed_never_ok", Observed("survives", f"{seen}"), tally)
