"""models/training.py: large label sets fit a stratified sample; fit_model is deterministic and
fits exactly the enforcement labels."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.pipeline import run_pipeline
from ringfence.graph.synth import generate_platform
from ringfence.models.training import fit_model, labelled_nodes


def test_large_label_sets_fit_a_stratified_sample():
    from ringfence.models.training import _fit_sample
    from ringfence.models.training import default_folds

    y = np.r_[np.ones(3000), np.zeros(27000)].astype(int)
    ids = np.array([f"acc{i}" for i in range(len(y))], dtype=object)
    idx = _fit_sample(y, 20000, 1, ids)
    assert len(idx) == 20000 and len(np.unique(idx)) == 20000
    assert y[idx].mean() == pytest.approx(0.1, abs=1e-3)        # class shares kept
    np.testing.assert_array_equal(idx, _fit_sample(y, 20000, 1, ids))
    assert len(_fit_sample(y[:500], 20000, 1, ids[:500])) == 500       # small sets untouched
    # the same accounts whatever the order of the rows
    perm = np.random.default_rng(0).permutation(len(y))
    again = _fit_sample(y[perm], 20000, 1, ids[perm])
    assert set(ids[perm][again]) == set(ids[idx])
    assert (default_folds(20000), default_folds(20001)) == (5, 3)


# --- fit_model on a small platform ----------------------------------------------------------

# a light booster: these tests check what fit_model passes around, not the model's quality
PARAMS = {"max_iter": 30}


@pytest.fixture(scope="module")
def small():
    p = generate_platform(n_accounts=2000, seed=2)
    t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    return p, t, run_pipeline(t)


@pytest.fixture(scope="module")
def fitted(small):
    _, t, state = small
    return fit_model(t, state, params=PARAMS, seed=0)


def test_fit_model_is_deterministic_for_a_seed(small, fitted):
    _, t, state = small
    model, X, summary = fitted
    again, X2, summary2 = fit_model(t, state, params=PARAMS, seed=0)
    np.testing.assert_array_equal(again.oof_proba_, model.oof_proba_)
    pd.testing.assert_frame_equal(X2, X)
    np.testing.assert_array_equal(summary2["train_nodes"], summary["train_nodes"])
    assert again.cv_metrics_ == model.cv_metrics_


def test_summary_counts_the_enforcement_labels(small, fitted):
    p, _, state = small
    _, X, summary = fitted
    enf = p.enforcement
    banned = set(enf.loc[enf["action"] == "ban", "account_id"])
    cleared = set(enf.loc[enf["action"] == "cleared", "account_id"]) - banned
    assert summary["positives"] == len(banned) > 0
    assert summary["negatives"] == len(cleared) > 0
    assert summary["fitted_rows"] == len(banned) + len(cleared)
    assert summary["accounts"] == len(X) == 2000
    assert summary["features"] == X.shape[1]
    assert summary["folds"] == 5
    assert summary["as_of"] == state.graph.as_of.isoformat()


def test_train_nodes_are_the_labelled_nodes(small, fitted):
    p, _, state = small
    model, _, summary = fitted
    nodes = summary["train_nodes"]
    np.testing.assert_array_equal(nodes, labelled_nodes(state.graph)[0])   # all of them, sorted
    ids = set(state.graph.account_ids[nodes])
    enf = p.enforcement
    assert ids == set(enf.loc[enf["action"].isin(["ban", "cleared"]), "account_id"])
    assert len(model.oof_proba_) == len(nodes)
