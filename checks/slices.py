"""Where the model fails (pure): the slices of the data that carry its mistakes, and the features associated
with them, learned on older windows and checked on newer ones.

The labelled rows of one model version are split by time: the older windows (about half of the rows) learn,
the newer ones check. On the older part a shallow decision tree is grown on the error indicator (a
classifier's mistakes) or the absolute error (regression); every node of it worse than the overall rate is a
candidate slice, its path written as a rule in plain words ("income < 20,000 and employment_type =
contract"), numeric thresholds rounded to three figures (the rounded rule is the one checked). On the newer
part each candidate's size, error rate (mean absolute error for regression) and lift over the overall rate
are measured, with an interval for the lift: the slice against the rest of the rows (a ratio of two
proportions, or of two means, on the log scale), mapped to the ratio over the overall rate. Holm's step-down
over the candidates tried decides which are shown: a slice stays only if the lower bound of its lift stays
above 1 at its adjusted level. The figures shown are the newer part's; the number dropped is said.

The features associated with the mistakes: a gradient-boosted error model learned on the older part,
permutation importance on the newer part (the drop of its AUC, or R², when a feature is shuffled), set against
the importance of each feature for the model's own predictions (a surrogate of the served predictions,
measured the same way), so that a feature that merely matters to the model is not mistaken for one that goes
with its failures. Nothing is claimed when the error model does not beat chance on the newer part.

Masked and excluded columns (``failures.mask``, ``failures.exclude``) and the id are never used.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from driftwarden.checks.profile import as_category_text
from driftwarden.config.model import ModelConfig

WINDOW = "__window__"
"""The column of a labelled row holding the start of its window."""
ALPHA = 0.05
MAX_DEPTH = 3
MIN_ROWS = 400
"""Fewest labelled rows in each part of the split."""
MIN_ERRORS = 30
"""Fewest mistakes (and successes) in each part of a classifier's split."""
MIN_LEARN_LIFT = 1.2
"""A node of the tree is tried only if, where it was learned, it is at least this much worse than overall."""
MAX_CATEGORIES = 30
METHOD = "slices-1"
"""Names how slices are learned and checked: stored results learned otherwise are learned again."""


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    """``<``, ``>=``, ``=``, ``!=``, ``missing``, ``known``."""
    value: Any = None


@dataclass(frozen=True)
class Slice:
    rule: str
    conditions: tuple[Condition, ...]
    rows: int
    """Rows of the newer part in the slice."""
    rate: float
    """Its error rate (mean absolute error for regression) on the newer part."""
    lift: float
    lower: float
    upper: float
    """The lift's interval at Holm's adjusted level."""
    p_value: float
    """One-sided: the slice is no worse than the rest of the rows."""
    errors: int | None
    """Mistakes in the slice on the newer part (classification)."""
    learn_rows: int
    learn_rate: float
    kept: bool

    def words(self, measure: str) -> str:
        rate = _pct(self.rate) if measure == "error rate" else _num(self.rate)
        return (
            f"{self.rule}: {measure} {rate}, lift {self.lift:.2f} (interval {self.lower:.2f} to {self.upper:.2f}), "
            f"{self.rows:,} rows"
        )


@dataclass(frozen=True)
class Driver:
    feature: str
    importance: float
    """The error model's score drop on the newer part when the feature is shuffled (mean of the repeats)."""
    spread: float
    """The standard deviation of that drop over the repeats."""
    error_share: float
    """Its share of the error model's importance."""
    prediction_share: float
    """Its share of the importance for the model's predictions."""
    associated: bool
    beyond: bool
    """Associated with the mistakes beyond its weight in the predictions."""

    def words(self) -> str:
        tail = (
            "beyond its weight in the model's predictions"
            if self.beyond
            else "no more than it weighs in the model's predictions"
        )
        return (
            f"{self.feature} is associated with the mistakes {tail} ({self.error_share:.0%} of the error model's "
            f"importance against {self.prediction_share:.0%} of the predictions')"
        )


@dataclass(frozen=True)
class SliceReport:
    task: str
    version: str | None
    measure: str
    """``error rate`` or ``mean absolute error``."""
    refused: str | None = None
    """Why nothing was learned (too few rows or errors for a split), else None."""
    split: str = ""
    learn_windows: tuple[str, ...] = ()
    check_windows: tuple[str, ...] = ()
    learn_rows: int = 0
    check_rows: int = 0
    learn_rate: float | None = None
    overall: float | None = None
    """The overall rate on the newer part, what the lifts are against."""
    tried: int = 0
    slices: tuple[Slice, ...] = ()
    """Those kept, worst lift first."""
    dropped: tuple[Slice, ...] = ()
    folded: int = 0
    """Slices that held but only narrow a wider slice shown, without a larger lift."""
    drivers: tuple[Driver, ...] = ()
    """The features associated with the mistakes, strongest first."""
    driver_note: str = ""
    features: tuple[str, ...] = ()
    private_left_out: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("slices", "dropped"):
            for s in out[key]:
                s["conditions"] = [dict(c) for c in s["conditions"]]
        return out

    @staticmethod
    def from_json(d: dict[str, Any]) -> SliceReport:
        def slice_of(s: dict[str, Any]) -> Slice:
            return Slice(**{**s, "conditions": tuple(Condition(**c) for c in s.get("conditions", ()))})

        return SliceReport(
            **{
                **d,
                "learn_windows": tuple(d.get("learn_windows", ())),
                "check_windows": tuple(d.get("check_windows", ())),
                "slices": tuple(slice_of(s) for s in d.get("slices", ())),
                "dropped": tuple(slice_of(s) for s in d.get("dropped", ())),
                "drivers": tuple(Driver(**x) for x in d.get("drivers", ())),
                "features": tuple(d.get("features", ())),
                "notes": tuple(d.get("notes", ())),
            }
        )

    def without(self, columns: Iterable[str]) -> SliceReport:
        """The report with nothing of ``columns`` (masked or excluded since it was learned and stored): their
        slices, drivers and feature names left out, so that no page or document built from it names them."""
        hidden = set(columns)
        if not hidden:
            return self

        def keeps(s: Slice) -> bool:
            return not any(c.column in hidden for c in s.conditions)

        return replace(
            self,
            slices=tuple(s for s in self.slices if keeps(s)),
            dropped=tuple(s for s in self.dropped if keeps(s)),
            drivers=tuple(d for d in self.drivers if d.feature not in hidden),
            features=tuple(f for f in self.features if f not in hidden),
        )

    def driver_lines(self) -> list[str]:
        """A sentence for each feature associated with the mistakes beyond its weight in the predictions, one
        for those associated in proportion to it."""
        out = [f"- {d.words()}" for d in self.drivers if d.beyond]
        rest = [d.feature for d in self.drivers if d.associated and not d.beyond]
        if rest:
            out.append(
                f"- also associated with the mistakes, no more than they weigh in the model's predictions: "
                f"{', '.join(rest)}"
            )
        return out

    def lines(self) -> list[str]:
        """The report in plain sentences: the split, each slice kept, how many were dropped, the drivers."""
        who = f"model version {self.version}" if self.version is not None else "the model"
        if self.refused:
            return [f"{who}: {self.refused}"]
        overall = _pct(self.overall) if self.measure == "error rate" else _num(self.overall)
        out = [f"{who}: {self.split}", f"Overall {self.measure} on the newer windows: {overall}."]
        out += list(self.notes)
        if self.slices:
            out += [f"- {s.words(self.measure)}" for s in self.slices]
        else:
            out.append("No slice carries more of the mistakes out of sample.")
        folded = f", {self.folded} folded into a wider one shown" if self.folded else ""
        out.append(
            f"{self.tried} slice{'s' if self.tried != 1 else ''} tried, {len(self.slices)} shown{folded}, "
            f"{len(self.dropped)} dropped (lift's lower bound not above 1 on the newer windows after Holm)."
        )
        out += self.driver_lines()
        if self.driver_note:
            out.append(self.driver_note)
        return out


# --- numbers and words ------------------------------------------------------------------------------------


def _num(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _round3(v: float) -> float:
    """Three significant figures: what a person would write (the rounded threshold is the one checked)."""
    if v == 0 or not math.isfinite(v):
        return v
    digits = 2 - int(math.floor(math.log10(abs(v))))
    return float(round(v, digits))


def rule_words(conditions: Sequence[Condition]) -> str:
    """``20,000 ≤ income < 35,000 and employment_type = contract``: one clause a column, in order of first use."""
    order: list[str] = []
    by: dict[str, list[Condition]] = {}
    for c in conditions:
        if c.column not in by:
            order.append(c.column)
        by.setdefault(c.column, []).append(c)
    parts = []
    for col in order:
        cs = by[col]
        if any(c.op == "missing" for c in cs):
            parts.append(f"{col} is missing")
            continue
        eq = [c for c in cs if c.op == "="]
        ne = [c for c in cs if c.op == "!="]
        lo = [c.value for c in cs if c.op == ">="]
        hi = [c.value for c in cs if c.op == "<"]
        if eq:
            parts.append(f"{col} = {eq[0].value}")
        elif ne:
            values = sorted({str(c.value) for c in ne})
            parts.append(f"{col} ≠ {values[0]}" if len(values) == 1 else f"{col} not in {{{', '.join(values)}}}")
        if lo and hi:
            parts.append(f"{_num(max(lo))} ≤ {col} < {_num(min(hi))}")
        elif lo:
            parts.append(f"{col} ≥ {_num(max(lo))}")
        elif hi:
            parts.append(f"{col} < {_num(min(hi))}")
        elif not eq and not ne and any(c.op == "known" for c in cs):
            parts.append(f"{col} is known")
    return " and ".join(parts) if parts else "all rows"


def slice_mask(conditions: Sequence[Condition], frame: pd.DataFrame) -> np.ndarray:
    """The rows a rule holds for, read from the plain columns (a comparison with a missing number is false)."""
    mask = np.ones(len(frame), dtype=bool)
    for c in conditions:
        col = frame[c.column]
        if c.op in ("<", ">="):
            x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                mask &= (x < c.value) if c.op == "<" else (x >= c.value)
        elif c.op == "missing":
            mask &= col.isna().to_numpy()
        elif c.op == "known":
            mask &= col.notna().to_numpy()
        else:
            text = as_category_text(col).to_numpy(dtype=object)
            mask &= (text == c.value) if c.op == "=" else (text != c.value)
    return mask


# --- the rows ---------------------------------------------------------------------------------------------


def usable_features(cfg: ModelConfig) -> tuple[list[str], list[str], int]:
    """(numerical, categorical, how many private columns were left out): never masked, excluded or id."""
    c = cfg.columns
    private = cfg.private_columns | {c.id}
    num = [f for f in c.numerical if f not in private]
    cat = [f for f in c.categorical if f not in private]
    return num, cat, len([f for f in c.features if f in private])


def errors_of(cfg: ModelConfig, rows: pd.DataFrame) -> np.ndarray:
    """Per row: 1.0 for a wrong class (classification), or the absolute error (regression)."""
    c = cfg.columns
    if cfg.task == "regression":
        y = pd.to_numeric(rows[c.target], errors="coerce").to_numpy(dtype=float)
        p = pd.to_numeric(rows[c.prediction], errors="coerce").to_numpy(dtype=float)
        return np.abs(y - p)
    wrong = as_category_text(rows[c.prediction]).to_numpy(dtype=object) != as_category_text(rows[c.target]).to_numpy(
        dtype=object
    )
    return wrong.astype(float)


def _day(ts: Any, tz: str) -> str:
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t
    return t.tz_convert(tz).strftime("%Y-%m-%d %H:%M").removesuffix(" 00:00")


def _span(starts: Sequence[Any], tz: str) -> str:
    a, b = _day(starts[0], tz), _day(starts[-1], tz)
    return a if a == b else f"{a} to {b}"


def time_split(
    windows: pd.Series, learn_share: float = 0.5
) -> tuple[np.ndarray, list[pd.Timestamp], list[pd.Timestamp]]:
    """Older windows learn, newer ones check: the oldest windows holding at most ``learn_share`` of the rows
    (at least one window, and at least one left to check). (learn mask, learn windows, check windows)."""
    counts = windows.value_counts().sort_index()
    starts = list(counts.index)
    if len(starts) < 2:
        return np.zeros(len(windows), dtype=bool), starts, []
    cum = counts.cumsum().to_numpy() / counts.sum()
    k = int(np.searchsorted(cum, learn_share, side="right"))
    k = min(max(k, 1), len(starts) - 1)
    learn = starts[:k]
    return windows.isin(learn).to_numpy(), learn, starts[k:]


# --- the encoding the tree sees -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Encoded:
    x: np.ndarray
    meaning: tuple[tuple[str, str, Any], ...]
    """Per column of ``x``: (feature, kind, value): ``number``, ``is`` (a category), ``missing``."""


def _encode(frame: pd.DataFrame, num: list[str], cat: list[str], min_rows: int) -> _Encoded:
    cols: list[np.ndarray] = []
    meaning: list[tuple[str, str, Any]] = []
    for f in num:
        x = pd.to_numeric(frame[f], errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(x)
        if missing.any():
            cols.append(missing.astype(float))
            meaning.append((f, "missing", None))
            x = np.where(missing, np.nanmedian(x) if (~missing).any() else 0.0, x)
        cols.append(x)
        meaning.append((f, "number", None))
    for f in cat:
        text = as_category_text(frame[f]).fillna("(missing)")
        counts = text.value_counts()
        keep = [v for v, n in counts.items() if n >= min_rows][:MAX_CATEGORIES]
        for v in keep if len(counts) > 1 else []:
            cols.append((text == v).to_numpy(dtype=float))
            meaning.append((f, "is", v))
    x = np.column_stack(cols) if cols else np.zeros((len(frame), 0))
    return _Encoded(x, tuple(meaning))


def _paths(tree: Any, enc: _Encoded) -> list[tuple[int, tuple[Condition, ...]]]:
    """(node, the conditions leading to it) for every node but the root."""
    t = tree.tree_
    out: list[tuple[int, tuple[Condition, ...]]] = []

    def walk(node: int, conds: tuple[Condition, ...]) -> None:
        left, right = t.children_left[node], t.children_right[node]
        if left < 0:
            return
        feature, kind, value = enc.meaning[t.feature[node]]
        thr = float(t.threshold[node])
        if kind == "number":
            r = _round3(thr)
            lc, rc = Condition(feature, "<", r), Condition(feature, ">=", r)
        elif kind == "is":
            cat = None if value == "(missing)" else value
            lc = Condition(feature, "!=", value) if cat is not None else Condition(feature, "known")
            rc = Condition(feature, "=", value) if cat is not None else Condition(feature, "missing")
        else:  # a missing-value indicator
            lc, rc = Condition(feature, "known"), Condition(feature, "missing")
        for child, c in ((left, lc), (right, rc)):
            path = (*conds, c)
            out.append((child, path))
            walk(child, path)

    walk(0, ())
    return out


# --- the statistics -----------------------------------------------------------------------------------------


def _ratio_test(e: np.ndarray, m: np.ndarray, binary: bool) -> tuple[float, float, float, float] | None:
    """(rate in, rate out, log of their ratio, its standard error) of the slice ``m`` against the rest."""
    n1, n0 = int(m.sum()), int((~m).sum())
    if n1 < 2 or n0 < 2:
        return None
    if binary:
        e1, e0 = float(e[m].sum()), float(e[~m].sum())
        r1, r0 = e1 / n1, e0 / n0
        if min(e1, e0, n1 - e1, n0 - e0) == 0:  # Haldane's half: a zero count has no log
            e1, e0, n1c, n0c = e1 + 0.5, e0 + 0.5, n1 + 1.0, n0 + 1.0
        else:
            n1c, n0c = float(n1), float(n0)
        log_r = math.log((e1 / n1c) / (e0 / n0c))
        se = math.sqrt(max(1 / e1 - 1 / n1c + 1 / e0 - 1 / n0c, 1e-12))
        return r1, r0, log_r, se
    m1, m0 = float(e[m].mean()), float(e[~m].mean())
    if m1 <= 0 or m0 <= 0:
        return None
    s1, s0 = float(e[m].std(ddof=1)), float(e[~m].std(ddof=1))
    se = math.sqrt(s1**2 / (n1 * m1**2) + s0**2 / (n0 * m0**2))
    return m1, m0, math.log(m1 / m0), max(se, 1e-12)


def _lift_of_ratio(r: float, w: float) -> float:
    """The slice's rate over the overall rate, from its rate over the rest's (``w``: its share of the rows)."""
    return r / (w * r + 1 - w)


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[tuple[bool, float]]:
    """Holm's step-down: per p-value (in the order given), whether it is rejected and the level it faced."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    out: list[tuple[bool, float]] = [(False, alpha)] * len(p_values)
    going = True
    for rank, i in enumerate(order):
        level = alpha / (len(p_values) - rank)
        going = going and p_values[i] <= level
        out[i] = (going, level)
    return out


# --- the slices -----------------------------------------------------------------------------------------------


def find_slices(
    rows: pd.DataFrame,
    cfg: ModelConfig,
    *,
    version: str | None = None,
    max_depth: int = MAX_DEPTH,
    min_slice: int | None = None,
    alpha: float = ALPHA,
    learn_share: float = 0.5,
    min_rows: int = MIN_ROWS,
    min_errors: int = MIN_ERRORS,
    drivers: bool = True,
    seed: int = 0,
    notes: Sequence[str] = (),
) -> SliceReport:
    """The slices that carry the mistakes of one model version's labelled ``rows`` (features, prediction,
    target, and ``WINDOW``: each row's window start), learned on the older windows and checked on the newer.
    ``min_slice``: the fewest rows of a slice where it is learned (by default 2% of those rows, at least 50)."""
    from scipy.stats import norm
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    tz = cfg.window.timezone
    binary = cfg.task != "regression"
    measure = "error rate" if binary else "mean absolute error"
    num, cat, private = usable_features(cfg)
    base = SliceReport(cfg.task, version, measure, features=(*num, *cat), private_left_out=private, notes=tuple(notes))
    if not num and not cat:
        return replace(base, refused="no feature may be used (every one is masked, excluded or the id)")
    e_all = errors_of(cfg, rows)
    ok = np.isfinite(e_all)
    rows, e_all = rows[ok].reset_index(drop=True), e_all[ok]
    learn, learn_w, check_w = time_split(rows[WINDOW], learn_share)
    if not check_w:
        return replace(
            base,
            refused=f"{len(rows):,} labelled rows in {len(learn_w)} window(s): a split by time needs two windows",
        )
    n_learn, n_check = int(learn.sum()), int((~learn).sum())
    first, second = _span(learn_w, tz), _span(check_w, tz)
    split = (
        f"learned on the {len(learn_w)} older window{'s' if len(learn_w) != 1 else ''} ({first}, {n_learn:,} "
        f"labelled rows), checked on the {len(check_w)} newer one{'s' if len(check_w) != 1 else ''} ({second}, "
        f"{n_check:,} rows)."
    )
    timed = replace(
        base,
        split=split,
        learn_windows=tuple(_day(w, tz) for w in learn_w),
        check_windows=tuple(_day(w, tz) for w in check_w),
        learn_rows=n_learn,
        check_rows=n_check,
    )
    e_learn, e_check = e_all[learn], e_all[~learn]
    short = []
    if min(n_learn, n_check) < min_rows:
        short.append(f"fewer than {min_rows:,} labelled rows in a part")
    if binary:
        least = min(e_learn.sum(), e_check.sum(), n_learn - e_learn.sum(), n_check - e_check.sum())
        if least < min_errors:
            short.append(f"fewer than {min_errors} mistakes (or successes) in a part")
    if short:
        return replace(timed, refused=f"too few for a split ({'; '.join(short)}): {split}")

    old, new = rows[learn].reset_index(drop=True), rows[~learn].reset_index(drop=True)
    leaf = min_slice or max(50, int(0.02 * n_learn))
    enc = _encode(old, num, cat, leaf)
    learn_rate, overall = float(e_learn.mean()), float(e_check.mean())
    if enc.x.shape[1] == 0:
        return replace(timed, refused="no feature varies where the slices are learned")
    Tree = DecisionTreeClassifier if binary else DecisionTreeRegressor
    tree = Tree(max_depth=max_depth, min_samples_leaf=leaf, random_state=seed)
    tree.fit(enc.x, e_learn.astype(int) if binary else e_learn)
    t = tree.tree_
    candidates: dict[str, tuple[tuple[Condition, ...], int, float]] = {}
    for node, conds in _paths(tree, enc):
        node_rate = float(t.value[node][0][1] if binary else t.value[node][0][0])
        if binary and t.value[node][0].sum() > 1.0 + 1e-9:  # older scikit-learn keeps counts, not shares
            node_rate = float(t.value[node][0][1] / t.value[node][0].sum())
        if learn_rate > 0 and node_rate >= MIN_LEARN_LIFT * learn_rate:
            words = rule_words(conds)
            mask = slice_mask(conds, old)
            if words not in candidates and mask.sum() >= leaf:
                candidates[words] = (conds, int(mask.sum()), float(e_learn[mask].mean()))
    tested: list[
        tuple[str, tuple[Condition, ...], int, float, np.ndarray, tuple[float, float, float, float] | None, float]
    ] = []
    for words, (conds, n_old, rate_old) in candidates.items():
        m = slice_mask(conds, new)
        test = _ratio_test(e_check, m, binary)
        if test is None:
            tested.append((words, conds, n_old, rate_old, m, None, 1.0))
            continue
        log_r, se = test[2], test[3]
        tested.append((words, conds, n_old, rate_old, m, test, float(norm.sf(log_r / se))))
    decisions = holm([x[6] for x in tested], alpha)
    kept: list[Slice] = []
    dropped: list[Slice] = []
    for (words, conds, n_old, rate_old, m, test, p), (reject, level) in zip(tested, decisions, strict=True):
        n1 = int(m.sum())
        w = n1 / n_check
        if test is None:
            s = Slice(words, conds, n1, float(e_check[m].mean()) if n1 else float("nan"), float("nan"),
                      float("nan"), float("nan"), p, int(e_check[m].sum()) if binary else None, n_old, rate_old,
                      False)  # fmt: skip
        else:
            z = float(norm.isf(level))
            log_r, se = test[2], test[3]
            rate = float(e_check[m].mean())
            lo, hi = _lift_of_ratio(math.exp(log_r - z * se), w), _lift_of_ratio(math.exp(log_r + z * se), w)
            s = Slice(words, conds, n1, rate, rate / overall if overall > 0 else float("nan"), lo, hi, p,
                      int(e_check[m].sum()) if binary else None, n_old, rate_old, bool(reject and lo > 1))  # fmt: skip
        (kept if s.kept else dropped).append(s)
    kept.sort(key=lambda s: -s.lift)
    shown = _fold(kept)
    report = replace(
        timed, learn_rate=learn_rate, overall=overall, tried=len(tested), slices=tuple(shown),
        dropped=tuple(dropped), folded=len(kept) - len(shown),
    )  # fmt: skip
    if not drivers:
        return report
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # OpenMP threads fighting over shared cores cost ten times the work
        found, note = _drivers(cfg, old, new, e_learn, e_check, num, cat, seed)
    return replace(report, drivers=found, driver_note=note)


def _fold(kept: list[Slice]) -> list[Slice]:
    """A kept slice that narrows another kept one without a lift beyond the wider one's interval says nothing
    more: it is folded into it (counted, not shown)."""
    out = []
    for s in kept:
        wider = [
            p
            for p in kept
            if len(p.conditions) < len(s.conditions) and s.conditions[: len(p.conditions)] == p.conditions
        ]
        if not any(s.lift <= p.upper for p in wider):
            out.append(s)
    return out


# --- the features associated with the mistakes --------------------------------------------------------------


def _ordinal(old: pd.DataFrame, new: pd.DataFrame, num: list[str], cat: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers as they are (missing stays missing), categories as codes learned on the older part."""
    a, b = [], []
    for f in num:
        a.append(pd.to_numeric(old[f], errors="coerce").to_numpy(dtype=float))
        b.append(pd.to_numeric(new[f], errors="coerce").to_numpy(dtype=float))
    for f in cat:
        t_old, t_new = as_category_text(old[f]), as_category_text(new[f])
        cats = list(t_old.value_counts().index[:250])
        codes = {v: float(i) for i, v in enumerate(cats)}
        a.append(t_old.map(codes).to_numpy(dtype=float))
        b.append(t_new.map(codes).to_numpy(dtype=float))
    return np.column_stack(a), np.column_stack(b)


def _shares(values: np.ndarray) -> np.ndarray:
    pos = np.clip(values, 0, None)
    total = pos.sum()
    return pos / total if total > 0 else np.zeros_like(pos)


def _drivers(
    cfg: ModelConfig,
    old: pd.DataFrame,
    new: pd.DataFrame,
    e_old: np.ndarray,
    e_new: np.ndarray,
    num: list[str],
    cat: list[str],
    seed: int,
) -> tuple[tuple[Driver, ...], str]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import r2_score, roc_auc_score

    binary = cfg.task != "regression"
    names = [*num, *cat]
    x_old, x_new = _ordinal(old, new, num, cat)
    is_cat = [False] * len(num) + [True] * len(cat)
    kw = {"max_iter": 100, "max_depth": 3, "learning_rate": 0.1, "categorical_features": is_cat,
          "early_stopping": False, "random_state": seed}  # fmt: skip
    if binary:
        err_model: Any = HistGradientBoostingClassifier(**kw).fit(x_old, e_old.astype(int))
        auc = float(roc_auc_score(e_new.astype(int), err_model.predict_proba(x_new)[:, 1]))
        n1, n0 = float(e_new.sum()), float(len(e_new) - e_new.sum())
        q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)  # Hanley and McNeil's standard error
        se = math.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0))
        skill, beats = f"AUC {auc:.2f} on the newer windows", auc - 1.96 * se > 0.5
        scoring = "roc_auc"
        y_new: np.ndarray = e_new.astype(int)
    else:
        err_model = HistGradientBoostingRegressor(**kw).fit(x_old, e_old)
        r2 = float(r2_score(e_new, err_model.predict(x_new)))
        skill, beats, scoring, y_new = f"R² {r2:.2f} on the newer windows", r2 > 0.01, "r2", e_new
    if not beats:
        return (), (
            f"No feature is associated with the mistakes out of sample: an error model learned on the older "
            f"windows does not beat chance on the newer ones ({skill})."
        )
    imp = permutation_importance(err_model, x_new, y_new, scoring=scoring, n_repeats=5, random_state=seed)
    pred_imp = _prediction_importance(cfg, old, new, x_old, x_new, kw, seed)
    err_share, pred_share = _shares(imp.importances_mean), _shares(pred_imp)
    out = []
    for i, name in enumerate(names):
        mean, sd = float(imp.importances_mean[i]), float(imp.importances_std[i])
        associated = mean > 0.005 and mean - 2 * sd > 0
        out.append(Driver(name, mean, sd, float(err_share[i]), float(pred_share[i]), associated,
                          bool(associated and err_share[i] > pred_share[i] + 0.05)))  # fmt: skip
    out.sort(key=lambda d: -d.importance)
    shown = tuple(d for d in out if d.associated)
    note = (
        f"The mistakes can be told from successes better than chance ({skill}); a feature is associated with them "
        "when shuffling it on the newer windows costs the error model skill (association, not cause)."
    )
    return shown, note


def _prediction_importance(
    cfg: ModelConfig,
    old: pd.DataFrame,
    new: pd.DataFrame,
    x_old: np.ndarray,
    x_new: np.ndarray,
    kw: dict[str, Any],
    seed: int,
) -> np.ndarray:
    """How much each feature weighs in the model's own predictions: the permutation importance of a surrogate
    learned on the older part's served predictions (the probability where there is one), on the newer part."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.inspection import permutation_importance

    c = cfg.columns
    if cfg.task == "binary" and c.probability and c.probability in old.columns:
        target_old = pd.to_numeric(old[c.probability], errors="coerce").to_numpy(dtype=float)
        target_new = pd.to_numeric(new[c.probability], errors="coerce").to_numpy(dtype=float)
        model: Any = HistGradientBoostingRegressor(**kw)
        scoring = "r2"
    elif cfg.task == "regression":
        target_old = pd.to_numeric(old[c.prediction], errors="coerce").to_numpy(dtype=float)
        target_new = pd.to_numeric(new[c.prediction], errors="coerce").to_numpy(dtype=float)
        model, scoring = HistGradientBoostingRegressor(**kw), "r2"
    else:
        target_old = as_category_text(old[c.prediction]).to_numpy(dtype=object)
        target_new = as_category_text(new[c.prediction]).to_numpy(dtype=object)
        model, scoring = HistGradientBoostingClassifier(**kw), "accuracy"
    if len(set(target_old.tolist())) < 2:
        return np.zeros(x_old.shape[1])
    model.fit(x_old, target_old)
    imp = permutation_importance(model, x_new, target_new, scoring=scoring, n_repeats=3, random_state=seed)
    return np.asarray(imp.importances_mean)


# --- an incident's slices, and HTML -----------------------------------------------------------------------


def incident_slices(rows: pd.DataFrame, cfg: ModelConfig, windows: Sequence[Any], **kw: Any) -> SliceReport:
    """The slices of an incident: its windows' labelled rows (``WINDOW`` among ``windows``), the older of them
    learning and the newer checking, as ``find_slices`` does for a period."""
    starts = pd.DatetimeIndex([pd.Timestamp(w) for w in windows])
    starts = starts.tz_localize("UTC") if starts.tz is None else starts.tz_convert("UTC")
    col = pd.DatetimeIndex(rows[WINDOW])
    col = col.tz_localize("UTC") if col.tz is None else col.tz_convert("UTC")
    mine = rows[col.isin(starts)].reset_index(drop=True)
    return find_slices(mine, cfg, **kw)


def slices_html(reports: Sequence[SliceReport], heading: str = "Where it fails") -> str:
    """An escaped HTML fragment of the slices and the features associated with the mistakes (no script)."""
    e = html.escape
    out = [f'<section class="where-it-fails"><h2>{e(heading)}</h2>']
    for r in reports:
        lines = r.lines()
        out.append(f"<p>{e(lines[0])}</p>")
        if r.refused:
            continue
        if r.slices:
            rate = "error rate" if r.measure == "error rate" else "mean abs. error"
            out.append(
                f"<table><thead><tr><th>slice</th><th>rows</th><th>{e(rate)}</th><th>lift</th><th>interval</th>"
                "</tr></thead><tbody>"
            )
            for s in r.slices:
                shown = _pct(s.rate) if r.measure == "error rate" else _num(s.rate)
                out.append(
                    f"<tr><td>{e(s.rule)}</td><td>{s.rows:,}</td><td>{e(shown)}</td><td>{s.lift:.2f}</td>"
                    f"<td>{s.lower:.2f} to {s.upper:.2f}</td></tr>"
                )
            out.append("</tbody></table>")
        out += [f"<p>{e(line)}</p>" for line in lines[1:] if not line.startswith("- ")]
        drivers = [line.removeprefix("- ") for line in r.driver_lines()]
        if drivers:
            out.append("<ul>" + "".join(f"<li>{e(d)}</li>" for d in drivers) + "</ul>")
    out.append("</section>")
    return "\n".join(out)
