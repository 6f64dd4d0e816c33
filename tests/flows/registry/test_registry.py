"""The registry on an fsspec URL: versions, the champion alias, rollback, and refusals."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from driftwarden.config.model import ModelConfig
from driftwarden.flows.registry.trust import RegistryError
from driftwarden.flows.registry.versions import Registry
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


def test_a_tree_that_points_outside_itself_is_refused_before_it_predicts(dw_home):
    """Tree node arrays are followed in compiled code without bounds checks: a crafted child index would read
    outside memory (a segfault, seen in review). The allow-list passes the types; the arrays are checked."""
    import hashlib
    import json

    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    cfg = ModelConfig.model_validate(agrawal_config())
    registry = Registry(cfg)
    x = np.random.default_rng(0).random((200, 2))
    y = (x[:, 0] > 0.5).astype(int)
    for model in (HistGradientBoostingClassifier(max_iter=3).fit(x, y), RandomForestClassifier(3).fit(x, y)):
        version = registry.register(model, {"reason": "clean"})
        assert (registry.load(version.number).predict(x[:5]) == model.predict(x[:5])).all()
    crafted = HistGradientBoostingClassifier(max_iter=2).fit(x, y)
    nodes = crafted._predictors[0][0].nodes.copy()
    nodes["left"][0] = 2_000_000_000
    crafted._predictors[0][0].nodes = nodes
    with pytest.raises(RegistryError, match="child index outside"):
        registry.register(crafted, {"reason": "tampered"})
    # Someone who can write both the file and its recorded hash swaps it in: refused before it predicts.
    import skops.io as sio

    blob = sio.dumps(crafted)
    folder = f"{registry.root}/versions/1"
    meta = json.loads(registry.fs.cat(f"{folder}/meta.json"))
    registry.fs.pipe(f"{folder}/model.skops", blob)
    registry.fs.pipe(f"{folder}/meta.json", json.dumps({**meta, "sha256": hashlib.sha256(blob).hexdigest()}).encode())
    with pytest.raises(RegistryError, match="child index outside"):
        registry.load(1)
    # A categorical split on a numeric model points bitset_idx far outside its bitsets (a segfault in review),
    # and a back edge would make prediction loop forever: both refused.
    for field, value, message in (("is_categorical", 1, "categorical splits"), ("right", 0, "child index outside")):
        crafted = HistGradientBoostingClassifier(max_iter=2).fit(x, y)
        nodes = crafted._predictors[0][0].nodes.copy()
        nodes[field][0] = value
        nodes["bitset_idx"][0] = 50_000_000
        crafted._predictors[0][0].nodes = nodes
        with pytest.raises(RegistryError, match=message):
            registry.register(crafted, {"reason": "tampered"})
    looping = RandomForestClassifier(2, random_state=0).fit(x, (x.sum(axis=1) > 1).astype(int))
    tree = looping.estimators_[0].tree_
    state = tree.__getstate__()
    inner = np.flatnonzero(state["nodes"]["left_child"] != -1)
    state["nodes"]["left_child"][inner[-1]] = inner[1]  # inside the tree, but back up it
    tree.__setstate__(state)
    with pytest.raises(RegistryError, match="points back"):
        registry.register(looping, {"reason": "tampered"})


def test_a_champion_whose_holdout_was_too_small_keeps_the_reference_in_force(dw_home):
    """v2 brought its holdout as the reference; v3's holdout was under drift.min_rows, so it brought none:
    drift keeps being measured against v2's reference, not silently 'not evaluated', not the stale source."""
    import pandas as pd

    from driftwarden.flows.sources import promoted_reference

    cfg = ModelConfig.model_validate(agrawal_config(retrain={"registry": "memory://registry-small-holdout"}))
    registry = Registry(cfg)
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    registry.register(model, {"parent": None, "has_reference": False})
    registry.set_champion(1, "first")
    assert promoted_reference(cfg) is None  # the configured source
    holdout = pd.DataFrame({"x": range(1500)})
    registry.register(model, {"parent": 1, "has_reference": True}, holdout)
    registry.set_champion(2, "better")
    assert promoted_reference(cfg)[1] == 2
    registry.register(model, {"parent": 2, "has_reference": False, "reference_note": "holdout of 300 rows"})
    registry.set_champion(3, "better again")
    assert promoted_reference(cfg)[1] == 2
