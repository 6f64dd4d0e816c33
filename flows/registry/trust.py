"""What the registry trusts to load: a type allow-list for skops (classes only, never a function or a builtin)
and a check of tree models' node arrays before the first prediction. A model file that fails either is
refused with the reason; nothing in it is run."""

from __future__ import annotations

from typing import Any

from driftwarden.flows.errors import DriftwardenError


class RegistryError(DriftwardenError):
    """A registry operation was refused (unknown version, tampered file, untrusted types)."""


def _allowed(name: str) -> bool:
    """Whether skops may rebuild a type it does not trust by itself: scikit-learn classes, numpy dtypes, scalar
    and array types, scipy sparse matrices. Never a function, a builtin, or a class that wraps a callable
    (``numpy.vectorize``): those would let a crafted file run code."""
    import importlib
    import inspect

    import numpy as np

    module, _, attr = name.rpartition(".")
    if not (module == "numpy" or module.startswith(("numpy.", "sklearn.", "scipy.sparse"))):
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    if not inspect.isclass(obj):
        return False
    if module.startswith("numpy"):
        return issubclass(obj, np.dtype | np.generic | np.ndarray)
    if module.startswith("scipy"):
        from scipy import sparse

        return issubclass(obj, sparse.spmatrix | sparse.sparray)
    from sklearn.preprocessing import FunctionTransformer

    return not issubclass(obj, FunctionTransformer)


def trusted_types(blob: bytes, where: str) -> list[str]:
    """The types to pass to skops for this file, after refusing it if any is outside the allow-list."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=blob)
    except Exception as exc:
        raise RegistryError(f"{where}: not a readable skops file ({type(exc).__name__}: {exc})") from exc
    refused = [t for t in untrusted if not _allowed(t)]
    if refused:
        raise RegistryError(
            f"{where}: refuses to load {refused}: only scikit-learn classes, numpy dtypes/arrays and scipy sparse "
            "matrices are rebuilt (functions and builtins could run code)"
        )
    return list(untrusted)


def check_tree_structures(model: Any, where: str) -> None:
    """Refuse a model whose trees point outside themselves. skops rebuilds scikit-learn's tree classes
    (``sklearn.tree._tree.Tree``, the histogram gradient boosting's ``TreePredictor``) from arrays of node
    indices that prediction follows in compiled code without bounds checks: a crafted file with a child index
    or feature index out of range reads outside memory (a crash at best). The allow-list cannot see this; the
    arrays are checked before the first prediction."""
    import numpy as np

    seen: set[int] = set()

    def bad(what: str) -> RegistryError:
        return RegistryError(f"{where}: {what}: the file was tampered with or corrupted, so it is not used")

    def visit(obj: Any, n_features: int | None, depth: int) -> None:
        if depth > 12 or id(obj) in seen:
            return
        seen.add(id(obj))
        n_features = getattr(obj, "n_features_in_", n_features)
        kind = type(obj).__name__
        if kind == "TreePredictor" and hasattr(obj, "nodes"):
            nodes = obj.nodes
            inner = ~nodes["is_leaf"].astype(bool)
            size = len(nodes)
            at = np.arange(size)[inner]
            for field in ("left", "right"):
                child = nodes[field][inner]
                if ((child <= 0) | (child >= size)).any():
                    raise bad(f"a boosted tree has a child index outside its {size} nodes")
                if (child <= at).any():  # children follow their parent: a back edge would loop forever
                    raise bad("a boosted tree has a child that points back to an earlier node")
            if "is_categorical" in nodes.dtype.names and nodes["is_categorical"][inner].astype(bool).any():
                # Categorical splits index bitsets through bitset_idx, unchecked in compiled code too; such
                # models are not registrable here (their bin mapper needs functions skops would have to run).
                raise bad("a boosted tree has categorical splits, which this registry does not load")
            limit = n_features if n_features is not None else 0
            if inner.any() and ((nodes["feature_idx"][inner] < 0) | (nodes["feature_idx"][inner] >= limit)).any():
                raise bad(f"a boosted tree splits on a feature outside its {limit} features")
            return
        if kind == "Tree" and hasattr(obj, "children_left"):
            size = int(obj.node_count)
            left, right, feature = (np.asarray(a) for a in (obj.children_left, obj.children_right, obj.feature))
            inner = left != -1
            if ((left[inner] <= 0) | (left[inner] >= size) | (right[inner] <= 0) | (right[inner] >= size)).any():
                raise bad(f"a tree has a child index outside its {size} nodes")
            at = np.arange(len(left))[inner]
            if ((left[inner] <= at) | (right[inner] <= at)).any():
                raise bad("a tree has a child that points back to an earlier node")
            if (right[~inner] != -1).any() or ((feature[inner] < 0) | (feature[inner] >= int(obj.n_features))).any():
                raise bad("a tree's leaves or split features are out of range")
            return
        if isinstance(obj, list | tuple):
            for item in obj:
                visit(item, n_features, depth + 1)
        elif isinstance(obj, dict):
            for item in obj.values():
                visit(item, n_features, depth + 1)
        elif type(obj).__module__.startswith("sklearn."):
            for item in vars(obj).values() if hasattr(obj, "__dict__") else ():
                visit(item, n_features, depth + 1)
            for name in ("tree_",):  # cython attributes outside __dict__
                if hasattr(obj, name) and name not in getattr(obj, "__dict__", {}):
                    visit(getattr(obj, name), n_features, depth + 1)

    visit(model, None, 0)
