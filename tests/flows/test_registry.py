"""The registry on an fsspec URL: versions, the champion alias, rollback, and refusals."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from config.model import ModelConfig
from flows.registry import Registry, RegistryError, trusted_types
from tests.streams import agrawal_config


def test_registry_on_an_fsspec_url(dw_home):
    cfg = ModelConfig.model_validate(agrawal_config(retrain={"registry": "memory://registry-test"}))
    registry = Registry(cfg)
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    first = registry.register(model, {"reason": "first"})
    second = registry.register(model, {"reason": "second", "parent": 1})
    assert [v.number for v in registry.versions()] == [1, 2] and registry.champion() is None
    registry.set_champion(first.number, "start")
    registry.set_champion(second.number, "better")
    assert registry.champion().number == 2
    assert registry.load(2).predict([[3.0]])[0] == 1
    assert registry.rollback("regret") == 1 and registry.champion().number == 1
    with pytest.raises(RegistryError, match="no version 7"):
        registry.set_champion(7, "typo")
    assert registry.champion().number == 1
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback("again")
    # A changed file is refused before skops reads it.
    registry.fs.pipe(f"{registry.root}/versions/1/model.skops", b"garbage")
    with pytest.raises(RegistryError, match="does not match"):
        registry.load(1)


def test_a_model_file_that_would_run_code_is_refused():
    """numpy.vectorize(eval) inside FunctionTransformers: skops would rebuild it if told to trust numpy and
    builtins wholesale, and the first transform would run the text as code."""
    import numpy as np
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    evil = make_pipeline(
        FunctionTransformer(np.full_like, kw_args={"fill_value": "__import__('os').getpid()"}),
        FunctionTransformer(np.vectorize(eval)),
    )
    with pytest.raises(RegistryError, match="refuses to load") as refused:
        trusted_types(sio.dumps(evil), "evil.skops")
    assert "builtins.eval" in str(refused.value) and "numpy.vectorize" in str(refused.value)
    fitted = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    assert all(t.startswith(("sklearn.", "numpy.")) for t in trusted_types(sio.dumps(fitted), "ok.skops"))
