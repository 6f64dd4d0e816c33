"""The drift methods, one module each, registered under the key ``drift.methods`` names them by
(``drift: {methods: {income: ks}}`` in ``config/<model>.yaml``; ``auto`` picks one by ``rules.py``).

One more method is one more module here with its class under its registration line, e.g.
``@register_method("psi", yields="distance", applies_to=("numeric",))`` (``base.py`` says what each keyword
declares), its import below, and its key in ``DriftMethod`` of ``driftwarden.config.model``, which cannot
import this package (tests/checks/drift/test_registry.py keeps the two equal).
"""

from driftwarden.checks.drift.methods import chisquare, jensenshannon, ks, wasserstein  # each registers itself
from driftwarden.checks.drift.methods.base import (
    ColumnKind,
    Measurement,
    Method,
    Yields,
    get_method,
    method_keys,
    register_method,
    registered_methods,
)

__all__ = [
    "ColumnKind",
    "Measurement",
    "Method",
    "Yields",
    "chisquare",
    "get_method",
    "jensenshannon",
    "ks",
    "method_keys",
    "register_method",
    "registered_methods",
    "wasserstein",
]
