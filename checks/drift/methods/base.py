"""What a drift method is, and the registry that finds one by its key (``drift.methods`` in the config).

A method is a class that measures one column of a window (a sketch) against the reference profile. What it is
(its key, whether it yields a distance or a p-value, the column kinds it measures) is said once, in its
registration line; deciding what a measurement means (thresholds, noise floors, Holm, ``auto``, ``min_rows``)
is not a method's business: the rules in ``driftwarden.checks.drift.rules`` do it the same way for every method
of a kind. A sketch of one more (it also needs ``psi_threshold`` on ``DriftConfig``)::

    @register_method("psi", yields="distance", applies_to=("numeric",))
    class PopulationStability(Method):
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
    """A drift method: how it measures a column of each kind it applies to. ``register_method`` sets the
    declarations below from its keywords of the same names."""

    key: ClassVar[str] = ""
    """Its name in ``drift.methods`` and in the results."""
    yields: ClassVar[Yields]
    """``distance``: an effect size held to a threshold; ``p_value``: a test, Holm-corrected across columns."""
    applies_to: ClassVar[frozenset[ColumnKind]]
    """The column kinds it measures; any other kind named in ``drift.methods`` is refused."""
    threshold_field: ClassVar[str | None] = None
    """Distance methods: the ``DriftConfig`` field holding the threshold (``<key>_threshold`` unless named)."""
    evidently_name: ClassVar[str]
    """The name Evidently 0.7 gives the same stat test (the key unless named; the report page asks Evidently
    for it)."""

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


def register_method(
    key: str,
    *,
    yields: Yields,
    applies_to: tuple[ColumnKind, ...],
    threshold_field: str | None = None,
    evidently_name: str | None = None,
) -> Callable[[M], M]:
    """Class decorator: register the method under ``key``, once, with what it declares (``Method`` says what
    each keyword means); the declaration is checked here and nothing is registered when it is refused."""

    def register(cls: M) -> M:
        if key in _METHODS:
            raise ValueError(
                f"drift method {key!r} is registered twice ({type(_METHODS[key]).__name__}, {cls.__name__})"
            )
        if key in ("auto", "none"):
            raise ValueError(f"drift method key {key!r} is reserved")
        if yields not in ("distance", "p_value"):
            raise ValueError(f"drift method {key!r}: yields must be 'distance' or 'p_value'")
        kinds = frozenset(applies_to)
        if not kinds or not kinds <= {"numeric", "categorical"}:
            raise ValueError(f"drift method {key!r}: applies_to must name 'numeric' and/or 'categorical'")
        field = f"{key}_threshold" if threshold_field is None and yields == "distance" else threshold_field
        if yields == "distance" and field not in DriftConfig.model_fields:
            raise ValueError(f"drift method {key!r}: threshold_field {field!r} is no DriftConfig field")
        name = key if evidently_name is None else evidently_name
        if not name:
            raise ValueError(f"drift method {key!r}: evidently_name is missing")
        cls.key, cls.yields, cls.applies_to, cls.threshold_field, cls.evidently_name = key, yields, kinds, field, name
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
