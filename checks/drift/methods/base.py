"""What a drift method is, and the registry that finds one by its key (``drift.methods`` in the config).

A method is a class that declares what it is and measures one column of a window (a sketch) against the
reference profile; ``@register_method("<key>")`` on it makes it available under that key. Deciding what a
measurement means (thresholds, noise floors, Holm, ``auto``, ``min_rows``) is not a method's business: the
rules in ``driftwarden.checks.drift.rules`` do it the same way for every method of a kind.

    @register_method("wasserstein")
    class Wasserstein(Method):
        yields = "distance"
        applies_to = frozenset({"numeric"})
        threshold_field = "wasserstein_threshold"
        evidently_name = "wasserstein"

        def numeric(self, ref: NumericProfile, cur: NumericSketch) -> Measurement: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

from driftwarden.checks.profile import CategoricalProfile, NumericProfile
from driftwarden.checks.sketch import CategoricalSketch, NumericSketch
from driftwarden.config.model import DriftConfig

Yields = Literal["distance", "p_value"]
ColumnKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Measurement:
    """One column measured by one method."""

    value: float
    """The distance, or the p-value before any correction."""
    note: str = ""
    floor: float = 0.0
    """Distance methods: what sampling noise alone reaches; the threshold never sits below it."""


class Method:
    """A drift method: what it declares, and how it measures a column of each kind it applies to."""

    key: ClassVar[str] = ""
    """Its name in ``drift.methods`` and in the results; set by ``register_method``."""
    yields: ClassVar[Yields]
    """``distance``: an effect size held to a threshold; ``p_value``: a test, Holm-corrected across columns."""
    applies_to: ClassVar[frozenset[ColumnKind]]
    """The column kinds it measures; any other kind named in ``drift.methods`` is refused."""
    threshold_field: ClassVar[str | None] = None
    """Distance methods: the ``DriftConfig`` field holding the threshold."""
    evidently_name: ClassVar[str]
    """The name Evidently 0.7 gives the same stat test (the report page asks Evidently for it)."""

    def numeric(self, ref: NumericProfile, cur: NumericSketch) -> Measurement:
        raise NotImplementedError(f"{self.key} does not measure numeric columns")

    def categorical(self, ref: CategoricalProfile, cur: CategoricalSketch) -> Measurement:
        raise NotImplementedError(f"{self.key} does not measure categorical columns")

    def threshold(self, cfg: DriftConfig) -> float:
        """The configured level a value is held to: the distance threshold, or the (uncorrected) p-value."""
        if self.yields == "p_value":
            return cfg.p_value
        return float(getattr(cfg, str(self.threshold_field)))


_METHODS: dict[str, Method] = {}

M = TypeVar("M", bound=type[Method])


def register_method(key: str) -> Callable[[M], M]:
    """Class decorator: register the method under ``key``, once; its declarations are checked here."""

    def register(cls: M) -> M:
        if key in _METHODS:
            raise ValueError(
                f"drift method {key!r} is registered twice ({type(_METHODS[key]).__name__}, {cls.__name__})"
            )
        if key in ("auto", "none"):
            raise ValueError(f"drift method key {key!r} is reserved")
        if getattr(cls, "yields", None) not in ("distance", "p_value"):
            raise ValueError(f"drift method {key!r}: yields must be 'distance' or 'p_value'")
        kinds: frozenset[str] = getattr(cls, "applies_to", frozenset())
        if not kinds or not kinds <= {"numeric", "categorical"}:
            raise ValueError(f"drift method {key!r}: applies_to must name 'numeric' and/or 'categorical'")
        if cls.yields == "distance" and cls.threshold_field not in DriftConfig.model_fields:
            raise ValueError(f"drift method {key!r}: threshold_field {cls.threshold_field!r} is no DriftConfig field")
        if not getattr(cls, "evidently_name", ""):
            raise ValueError(f"drift method {key!r}: evidently_name is missing")
        cls.key = key
        _METHODS[key] = cls()
        return cls

    return register


def get_method(key: str) -> Method:
    """The method registered under ``key``; an unknown key's error lists the valid ones."""
    try:
        return _METHODS[key]
    except KeyError:
        raise ValueError(f"unknown drift method {key!r}; registered: {', '.join(method_keys())}") from None


def method_keys() -> list[str]:
    """The registered keys, sorted."""
    return sorted(_METHODS)


def registered_methods() -> list[Method]:
    """The registered methods, by key."""
    return [_METHODS[k] for k in method_keys()]
