"""The learning side: leakage, the estimator contract, save/load, the flag
job's use of the model, and that it beats propagation alone."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.clusters import find_clusters
from ringfence.graph.identity import link_identities
from ringfence.graph.synth import generate_platform
from ringfence.jobs.flag import run_flag
from ringfence.models.evaluate import evaluate_scores
from ringfence.models.features import account_features, hide_labels, label_features
from ringfence.models.model import (FeatureMismatchError, RepeatOffenderModel, column_major_decision,
                          load_model, save_model)
from ringfence.models.training import training_set


@pytest.fixture(scope="module")
def platform():
    return generate_platform(n_accounts=8000, seed=11)


@pytest.fixture(scope="module")
def parts(platform):
    p = platform
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    g = build_graph(t)
    ident = link_identities(g)
    membership, _ = find_clusters(g)
    return t, g, ident, membership


def _with_enforcement(platform, enforcement):
    p = platform
    t = load_tables(p.accounts, p.identifiers, p.edges, enforcement)
    g = build_graph(t)
    ident = link_identities(g)
    membership, _ = find_clusters(g)
    return t, g, ident, membership


def test_own_label_cannot_change_own_features(platform, parts):
    """Flip a training account's label, or give an unlabelled account violations:
    its own feature row stays exactly the same, while its neighbours' rows move."""
    t, g, ident, membership = parts
    enf = platform.enforcement
    ts = training_set(g, t.accounts, ident.identity, membership, seed=0)
    st = g.status
    adj = g.adjacency
    degree = np.diff(adj.indptr)
    banned = np.flatnonzero(st["banned"].to_numpy() & (degree > 0))[:2]
    cleared = np.flatnonzero(st["cleared"].to_numpy() & (degree > 0))[:2]
    unlabelled = np.flatnonzero(~st["banned"].to_numpy() & ~st["cleared"].to_numpy()
                                & (degree > 0))[:1]
    for node in np.r_[banned, cleared, unlabelled]:
        acc = g.account_ids[node]
        if st["banned"].iloc[node]:
            changed = enf[enf["account_id"] != acc]
            changed = pd.concat([changed, pd.DataFrame({"account_id": [acc], "action": ["cleared"],
                                                        "at": [enf["at"].max()], "reason": [""]})])
        elif st["cleared"].iloc[node]:
            changed = pd.concat([enf[enf["account_id"] != acc],
                                 pd.DataFrame({"account_id": [acc], "action": ["ban"],
                                               "at": [enf["at"].max()], "reason": ["fraud"]})])
        else:
            changed = pd.concat([enf, pd.DataFrame({"account_id": [acc] * 3,
                                                    "action": ["violation"] * 3,
                                                    "at": [enf["at"].max()] * 3,
                                                    "reason": ["spam"] * 3})])
        t2, g2, ident2, membership2 = _with_enforcement(platform, changed.reset_index(drop=True))
        ts2 = training_set(g2, t2.accounts, ident2.identity, membership2, seed=0)
        num = ts.X.select_dtypes("number").columns
        np.testing.assert_array_equal(ts.X.iloc[node][num].to_numpy(float),
                                      ts2.X.iloc[node][num].to_numpy(float))
        assert ts.X.iloc[node].equals(ts2.X.iloc[node])
        nb = adj.indices[adj.indptr[node]:adj.indptr[node + 1]]
        assert not np.allclose(ts.X.iloc[nb][num].to_numpy(float),
                               ts2.X.iloc[nb][num].to_numpy(float))


def test_a_given_propagation_is_reused_not_changed(parts):
    t, g, ident, membership = parts
    import warnings
    from ringfence.graph.propagate import propagate_blacklist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prop = propagate_blacklist(g)
    own = training_set(g, t.accounts, ident.identity, membership, seed=0, n_jobs=1).X
    given = training_set(g, t.accounts, ident.identity, membership, seed=0,
                         propagation=prop).X
    pd.testing.assert_frame_equal(own, given)   # also: threads (n_jobs=-1) change nothing


def test_training_rows_features_do_not_see_own_fold(parts):
    t, g, ident, membership = parts
    ts = training_set(g, t.accounts, ident.identity, membership, n_folds=5, seed=0)
    lab_cols = list(label_features(g, ident.identity, membership).columns)
    # recompute fold 0 by hand: its rows must equal features computed with fold 0 hidden
    nodes = ts.train_nodes[ts.folds == 0]
    hidden = np.zeros(g.n_accounts, bool)
    hidden[nodes] = True
    expected = label_features(hide_labels(g, hidden), ident.identity, membership)
    np.testing.assert_allclose(ts.X.iloc[nodes][lab_cols].to_numpy(float),
                               expected.iloc[nodes].to_numpy(float), rtol=1e-9, atol=1e-12)
    # and they differ from the all-labels features (the fold's labels mattered)
    full = label_features(g, ident.identity, membership)
    assert not np.allclose(ts.X.iloc[nodes][lab_cols].to_numpy(float),
                           full.iloc[nodes].to_numpy(float))


def test_label_free_features_have_the_documented_columns(parts):
    t, g, ident, membership = parts
    f = account_features(g, t.accounts, ident.identity, membership)
    assert len(f) == g.n_accounts
    for col in ("account_age_days", "n_ident_device", "shared_card", "n_edges_transfer",
                "hub_exposure", "identity_size", "cluster_size", "degree",
                "nb_mean1_account_age_days", "nb_max2_account_age_days",
                "nb_min1_account_age_days"):
        assert col in f.columns, col
    assert f["identity_size"].min() >= 1
    # hub exposure: the largest share count among an account's identifiers
    uses = g.uses
    node = int(uses["account"].iloc[0])
    n_acc = g.identifiers["n_accounts"].to_numpy()[uses.loc[uses["account"] == node, "identifier"]]
    assert f["hub_exposure"].iloc[node] == pytest.approx(np.log1p(n_acc.max()))


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
    with pytest.raises(ValueError, match="calibration must be"):
        RepeatOffenderModel(calibration="magic").fit(X, y)
    with pytest.raises(ValueError, match="need at least 5 examples of each class"):
        RepeatOffenderModel().fit(X.head(20), np.r_[np.ones(2), np.zeros(18)])
    # the fast column-major prediction path gives exactly scikit-learn's public answer
    for rows in (X, X.assign(c=pd.Categorical(["zz", None, "a"] * 166 + ["b", "a"]))):
        M = model._matrix(rows)
        np.testing.assert_array_equal(column_major_decision(model.booster_, M),
                                      model.booster_.decision_function(M))
    np.testing.assert_array_equal(
        p[:, 1], model._calibrate(model.booster_.predict_proba(model._matrix(X))[:, 1]))
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
    with pytest.raises(ValueError, match="model format 1.*retrain"):
        load_model(tmp_path / "old.joblib")
    (tmp_path / "junk.joblib").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a ringfence model"):
        load_model(tmp_path / "junk.joblib")


def test_flag_job_falls_back_to_propagation_with_few_labels(platform):
    p = platform
    enf = p.enforcement
    cleared = enf[enf["action"] == "cleared"].head(5)
    few = pd.concat([enf[enf["action"] != "cleared"], cleared])
    t = load_tables(p.accounts, p.identifiers, p.edges, few)
    r = run_flag(t, review_capacity=50)
    assert r.summary()["scoring"] == "propagation"
    assert "5 cleared" in r.summary()["scoring_note"]
    assert r.run["model"]["mode"] == "propagation"


def test_model_beats_propagation_alone_at_k(parts, platform):
    t = parts[0]
    truth = platform.truth
    k = 80
    prop = run_flag(t, review_capacity=k, scorer="propagation")
    model = run_flag(t, review_capacity=k)
    assert model.summary()["scoring"] == "model (fitted in this run)"
    m_prop = evaluate_scores(prop.scores, truth)
    m_model = evaluate_scores(model.scores, truth)
    assert m_model["precision_at_capacity"] > m_prop["precision_at_capacity"]
    assert m_model["average_precision"] > m_prop["average_precision"]
    flagged = model.scores[model.scores["flagged"]]
    assert flagged["reasons"].str.contains("model, top contributions").any()


def test_large_label_sets_fit_a_stratified_sample():
    from ringfence.models.training import _fit_sample
    from ringfence.models.training import default_folds

    y = np.r_[np.ones(3000), np.zeros(27000)].astype(int)
    idx = _fit_sample(y, 20000, seed=1)
    assert len(idx) == 20000 and len(np.unique(idx)) == 20000
    assert y[idx].mean() == pytest.approx(0.1, abs=1e-3)        # class shares kept
    np.testing.assert_array_equal(idx, _fit_sample(y, 20000, seed=1))
    assert len(_fit_sample(y[:500], 20000, seed=1)) == 500       # small sets untouched
    assert (default_folds(20000), default_folds(20001)) == (5, 3)


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
        np.testing.assert_array_equal(column_major_decision(model.booster_, M),
                                      model.booster_.decision_function(M))


def test_label_passes_run_one_at_a_time_when_memory_is_short(monkeypatch):
    from ringfence.models import features as F
    n = 1_000_000
    per_pass = F.PASS_BYTES_PER_ACCOUNT * n
    monkeypatch.setattr(F, "_available_memory", lambda: 2 * per_pass)
    assert F._passes_that_fit(n) == 1          # a second pass would leave too little
    monkeypatch.setattr(F, "_available_memory", lambda: 6 * per_pass)
    assert F._passes_that_fit(n) == 3
    monkeypatch.setattr(F, "_available_memory", lambda: None)  # not Linux: cores decide
    assert F._passes_that_fit(n) > 64


def test_one_pass_at_a_time_gives_the_same_features(parts, monkeypatch):
    from ringfence.models import features as F
    t, g, ident, membership = parts
    both = training_set(g, t.accounts, ident.identity, membership, seed=0, n_jobs=2).X
    monkeypatch.setattr(F, "_available_memory", lambda: 0)
    one = training_set(g, t.accounts, ident.identity, membership, seed=0, n_jobs=2).X
    pd.testing.assert_frame_equal(both, one, check_exact=True)


def test_features_are_stored_as_float32_and_categories_stay(parts):
    from ringfence.models.features import FEATURE_DTYPE
    t, g, ident, membership = parts
    X = training_set(g, t.accounts, ident.identity, membership, seed=0).X
    kinds = {str(d) for d in X.dtypes}
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    assert cats and kinds == {np.dtype(FEATURE_DTYPE).name, "category"}


def test_hide_labels_can_keep_only_the_label_columns(parts):
    from ringfence.models.features import LABEL_COLUMNS
    _, g, _, _ = parts
    banned = np.flatnonzero(g.status["banned"].to_numpy())[:5]
    hidden = np.zeros(g.n_accounts, bool)
    hidden[banned] = True
    slim = hide_labels(g, hidden, LABEL_COLUMNS)
    full = hide_labels(g, hidden)
    assert list(slim.status.columns) == list(LABEL_COLUMNS)
    pd.testing.assert_frame_equal(slim.status, full.status[list(LABEL_COLUMNS)])
    assert not slim.status["banned"].to_numpy()[banned].any()
    assert g.status["banned"].to_numpy()[banned].all()  # the original is untouched
