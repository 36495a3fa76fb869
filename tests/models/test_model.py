"""models/model.py: the estimator contract, saving and loading, fast prediction."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import clone

from ringfence.models.model import (FeatureMismatchError, RepeatOffenderModel, column_major_decision,
                          load_model, save_model)
from ringfence.models.signing import UntrustedModelError, key_path, sign_file


def test_estimator_contract():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=500), "c": pd.Categorical(rng.choice(["a", "b"], 500)),
                      "noise": rng.normal(size=500)})
    y = ((X["x"] + (X["c"] == "a") * 1.0 + 0.3 * rng.normal(size=500)) > 1.2).astype(int)
    model = RepeatOffenderModel(max_iter=60, random_state=1)
    assert model.get_params()["max_iter"] == 60
    model.set_params(learning_rate=0.1)
    assert clone(model).get_params()["learning_rate"] == 0.1
    model.fit(X, y)
    p = model.predict_proba(X)
    assert p.shape == (500, 2) and np.allclose(p.sum(axis=1), 1)
    assert model.cv_metrics_["roc_auc"] > 0.9
    # calibrated out of fold: mean probability close to the base rate
    assert abs(model.oof_proba_.mean() - y.mean()) < 0.03
    with pytest.raises(FeatureMismatchError, match="missing \\['noise'\\]"):
        model.predict_proba(X.drop(columns="noise"))
    refit = clone(model).set_params(ensemble="refit").fit(X, y)
    assert len(refit.boosters_) == 1 and refit.cv_metrics_ == pytest.approx(model.cv_metrics_)
    with pytest.raises(ValueError, match="ensemble must be"):
        RepeatOffenderModel(ensemble="bag").fit(X, y)
    with pytest.raises(ValueError, match="calibration must be"):
        RepeatOffenderModel(calibration="magic").fit(X, y)
    with pytest.raises(ValueError, match="need at least 5 examples of each class"):
        RepeatOffenderModel().fit(X.head(20), np.r_[np.ones(2), np.zeros(18)])
    # the fast column-major prediction path gives exactly scikit-learn's public answer
    for rows in (X, X.assign(c=pd.Categorical(["zz", None, "a"] * 166 + ["b", "a"]))):
        M = model._matrix(rows)
        for booster in model.boosters_:
            np.testing.assert_array_equal(column_major_decision(booster, M),
                                          booster.decision_function(M))
    # the ensemble: the five fold models, averaged in log-odds, then calibrated
    assert len(model.boosters_) == 5
    mean = np.mean([b.decision_function(model._matrix(X)) for b in model.boosters_], axis=0)
    np.testing.assert_allclose(p[:, 1], model._calibrate(expit(mean)), rtol=1e-12)
    # categories are matched by value, not by code: the same rows with the categories listed
    # in another order, or as plain strings, score the same; an unseen value counts as missing
    reordered = X.assign(c=X["c"].cat.reorder_categories(["b", "a"]))
    np.testing.assert_array_equal(model.predict_proba(reordered), p)
    np.testing.assert_array_equal(model.predict_proba(X.assign(c=X["c"].astype(str))), p)
    unseen = model.predict_proba(X.assign(c=pd.Categorical(["zz"] * 500)))
    missing = model.predict_proba(X.assign(c=pd.Categorical([None] * 500, categories=["a"])))
    np.testing.assert_array_equal(unseen, missing)
    assert not np.array_equal(unseen, p)
    # explanations name the features that pushed each score up
    top = model.explain(X[y == 1].head(40))
    firsts = [items[0][0] for items in top if items]
    assert len(firsts) >= 35
    assert np.mean([f in ("x", "c") for f in firsts]) >= 0.8   # the signal, not the noise


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = (X["a"] > 0.5).astype(int)
    model = RepeatOffenderModel(max_iter=30).fit(X, y)
    path, card_path = save_model(model, tmp_path / "m.joblib", training={"rows": 300})
    loaded, card = load_model(path, expected_features=["a", "b"])
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    on_disk = json.loads(card_path.read_text())
    assert on_disk["features"] == ["a", "b"]
    assert on_disk["training_data"] == {"rows": 300}
    assert set(on_disk["cv_metrics"]) >= {"roc_auc", "average_precision", "brier"}
    assert "scikit-learn" in on_disk["versions"] and on_disk["created_at"]
    with pytest.raises(FeatureMismatchError, match="different feature list"):
        load_model(path, expected_features=["a", "b", "c"])
    blob = joblib.load(path)
    blob["card"]["format"] = 1   # as written by a version whose booster read DataFrames
    joblib.dump(blob, tmp_path / "old.joblib")
    sign_file(tmp_path / "old.joblib")  # signed, so that the format check is reached
    with pytest.raises(ValueError, match="model format 1.*retrain"):
        load_model(tmp_path / "old.joblib")
    (tmp_path / "junk.joblib").write_bytes(b"not a model")
    sign_file(tmp_path / "junk.joblib")
    with pytest.raises(ValueError, match="not a ringfence model"):
        load_model(tmp_path / "junk.joblib")


def test_prediction_in_blocks_is_the_same(monkeypatch):
    import ringfence.models.model as model_module
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"x": rng.normal(size=300), "c": pd.Categorical(rng.choice(["a", "b"], 300))})
    model = RepeatOffenderModel(max_iter=20).fit(X, (X["x"] > 0.3).astype(int))
    whole = model.predict_proba(X)
    monkeypatch.setattr(model_module, "PREDICT_BLOCK", 7)
    np.testing.assert_array_equal(model.predict_proba(X), whole)


def test_fast_prediction_matches_with_missing_categories_in_training():
    rng = np.random.default_rng(3)
    c = pd.Categorical(rng.choice(["a", "b", "c", None], 600), categories=["a", "b", "c", "d"])
    X = pd.DataFrame({"x": rng.normal(size=600), "c": c,
                      "k": pd.Categorical(rng.choice(["u", "v"], 600))})
    y = ((X["x"] + (X["c"] == "b") * 1.5) > 1).astype(int)
    model = RepeatOffenderModel(max_iter=40).fit(X, y)
    rows = X.assign(c=pd.Categorical(rng.choice(["a", "d", "zz", None], 600)))
    for frame in (X, rows):
        M = model._matrix(frame)
        for booster in model.boosters_:
            np.testing.assert_array_equal(column_major_decision(booster, M),
                                          booster.decision_function(M))


def _small_model() -> RepeatOffenderModel:
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    return RepeatOffenderModel(max_iter=10).fit(X, (X["a"] > 0.5).astype(int))


class _WritesMarker:
    """Unpickling this calls ``open(marker, "w")``: code run by merely loading the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_pickle_is_refused_before_it_is_read(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.joblib"
    joblib.dump({"model": _WritesMarker(marker), "card": {"format": 2}}, path)
    with pytest.raises(UntrustedModelError, match="no signature"):
        load_model(path)
    (tmp_path / "evil.joblib.sig").write_text("hmac-sha256 " + "0" * 64 + "\n")
    with pytest.raises(UntrustedModelError, match="signature does not match"):
        load_model(path)
    assert not marker.exists()


def test_a_model_signed_with_another_key_is_refused(tmp_path, monkeypatch):
    path, _ = save_model(_small_model(), tmp_path / "m.joblib")
    load_model(path)
    monkeypatch.setenv("RINGFENCE_MODEL_KEY", "the key of another machine")
    with pytest.raises(UntrustedModelError, match="signed with another key.*copy"):
        load_model(path)
    save_model(_small_model(), path)   # signed with the variable's key: now it loads
    load_model(path)
    monkeypatch.delenv("RINGFENCE_MODEL_KEY")
    with pytest.raises(UntrustedModelError, match="does not match"):
        load_model(path)


def test_a_changed_model_file_is_refused(tmp_path):
    path, _ = save_model(_small_model(), tmp_path / "m.joblib")
    data = bytearray(path.read_bytes())
    data[-20] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(UntrustedModelError, match="does not match"):
        load_model(path)


def test_key_file_is_private_and_model_follows_umask(tmp_path, monkeypatch):
    import os
    import stat
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    old = os.umask(0o022)
    try:
        path, card = save_model(_small_model(), tmp_path / "m.joblib")
    finally:
        os.umask(old)
    key = key_path()
    assert key == tmp_path / "config" / "ringfence" / "model.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64
    for p in (path, card, tmp_path / "m.joblib.sig"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    save_model(_small_model(), tmp_path / "n.joblib")
    assert len(list(key.parent.iterdir())) == 1   # the key is made once, no leftovers


def test_no_key_on_this_machine_is_a_clear_refusal(tmp_path, monkeypatch):
    path, _ = save_model(_small_model(), tmp_path / "m.joblib")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    with pytest.raises(UntrustedModelError, match="no model key on this machine.*RINGFENCE_MODEL_KEY"):
        load_model(path)


def test_tree_tables_give_scikit_learns_log_odds_to_the_last_bit():
    # the table path (a byte of split outcomes per row, the leaf value looked up) against the
    # public decision_function: numbers with NaN on both sides of splits, a category unseen
    # in fit, a missing one, one listed but absent in training, and a category column given
    # as plain strings
    from ringfence.models.model import _EnsembleTables, _member_tables
    rng = np.random.default_rng(11)
    n = 3000
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    c = pd.Categorical(rng.choice(["a", "b", "c", None], n), categories=["a", "b", "c", "d"])
    X = pd.DataFrame({"x": x, "z": rng.normal(size=n).astype(np.float32), "c": c,
                      "k": pd.Categorical(rng.choice(["u", "v", "w"], n)),
                      "i": rng.integers(0, 5, n)})
    y = ((np.nan_to_num(x, nan=1.0) + (X["c"] == "b") * 1.5 + (X["k"] == "w") * 0.7
          + 0.3 * rng.normal(size=n)) > 1).astype(int)
    model = RepeatOffenderModel(max_iter=40, random_state=2).fit(X, y)
    assert all(_member_tables(b, X.shape[1]) is not None for b in model.boosters_)
    rows = X.assign(c=pd.Categorical(rng.choice(["a", "d", "zz", None], n)),
                    k=X["k"].astype(str))
    for frame in (X, rows):
        M = model._matrix(frame)
        for booster in model.boosters_:
            np.testing.assert_array_equal(
                _EnsembleTables.of([booster], M.shape[1]).decision(lambda j, r: M[r, j], n),
                booster.decision_function(M))
        mean = np.mean([b.decision_function(M) for b in model.boosters_], axis=0)
        np.testing.assert_array_equal(model.predict_proba(frame)[:, 1],
                                      model._calibrate(expit(mean)))


def test_trees_too_large_for_tables_take_scikit_learns_loop(monkeypatch):
    import ringfence.models.model as model_module
    rng = np.random.default_rng(12)
    X = pd.DataFrame({"x": rng.normal(size=800), "w": rng.normal(size=800)})
    y = (X["x"] * X["w"] + 0.2 * rng.normal(size=800) > 0).astype(int)
    model = RepeatOffenderModel(max_iter=15, max_leaf_nodes=20).fit(X, y)
    assert model_module._EnsembleTables.of(model.boosters_, 2) is None
    mean = np.mean([b.decision_function(model._matrix(X)) for b in model.boosters_], axis=0)
    np.testing.assert_array_equal(model.predict_proba(X)[:, 1], model._calibrate(expit(mean)))
    # rows in blocks smaller than the data: the same numbers
    small = RepeatOffenderModel(max_iter=15).fit(X, y)
    whole = small.predict_proba(X)
    monkeypatch.setattr(model_module, "TABLE_ROWS", 64)
    np.testing.assert_array_equal(small.predict_proba(X), whole)


def test_boosters_are_fitted_side_by_side_with_one_openmp_thread_each(monkeypatch):
    # small trees on few rows meet at an OpenMP barrier every few hundred microseconds,
    # and waiting threads spin: the boosters are fitted side by side instead, one
    # OpenMP thread each, and the model is the one a single thread fits
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    from ringfence.graph.cpus import thread_limits

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"x": rng.normal(size=600), "c": pd.Categorical(rng.choice(["a", "b"], 600)),
                      "noise": rng.normal(size=600)})
    y = ((X["x"] + (X["c"] == "a") * 1.0 + 0.3 * rng.normal(size=600)) > 1.2).astype(int)
    with thread_limits(1):
        alone = RepeatOffenderModel(max_iter=40, random_state=2).fit(X, y)
    seen = []
    fit = HistGradientBoostingClassifier.fit

    def spy(self, *args, **kwargs):
        seen.append(_openmp_effective_n_threads())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", spy)
    with thread_limits(2):
        together = RepeatOffenderModel(max_iter=40, random_state=2).fit(X, y)
        refit = RepeatOffenderModel(max_iter=40, random_state=2, ensemble="refit").fit(X, y)
    assert seen == [1] * 11  # five folds, then five folds and the refit
    np.testing.assert_array_equal(together.predict_proba(X), alone.predict_proba(X))
    np.testing.assert_array_equal(together.oof_proba_, alone.oof_proba_)
    assert len(refit.boosters_) == 1
