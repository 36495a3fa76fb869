"""models/attribute_score.py and the reviewed-neighbour rates: what the new label features hold,
and that a training account's own label never reaches its own row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import small_tables
from sklearn.metrics import roc_auc_score

from ringfence.graph.build import build_graph
from ringfence.models.attribute_score import attribute_score_columns, standardised_attributes
from ringfence.models.features import (RATE_PRIOR, _GraphOps, _row_max, account_features,
                                       hide_labels, label_features)
from ringfence.models.training import training_set


def test_banned_rate_counts_reviewed_neighbours_only():
    # hub h: banned b1, cleared c1 and three unreviewed neighbours; b2 banned far away
    t = small_tables(["h", "b1", "c1", "u1", "u2", "u3", "b2", "c2"],
                     edges=[("h", x, "transfer") for x in ("b1", "c1", "u1", "u2", "u3")]
                     + [("b2", "c2", "transfer")],
                     enforcement=[("b1", "ban"), ("b2", "ban"), ("c1", "cleared"),
                                  ("c2", "cleared")])
    g = build_graph(t)
    f = label_features(g, np.full(8, -1), np.full(8, -1))
    node = {a: i for i, a in enumerate(g.account_ids)}
    w = g.adjacency[node["h"], node["b1"]]   # every link here has the same weight
    base = 2 / 4   # two banned of four reviewed accounts
    a = RATE_PRIOR
    # one banned and one cleared neighbour: the three unreviewed ones do not dilute the rate
    assert f["banned_rate1"].iloc[node["h"]] == pytest.approx((w + a * base) / (2 * w + a))
    assert f["reviewed_share1"].iloc[node["h"]] == pytest.approx(2 / 5)
    assert f["banned_share1"].iloc[node["h"]] == pytest.approx(1 / 5)   # diluted
    # no reviewed neighbour: the base rate, not 0
    assert f["banned_rate1"].iloc[node["u1"]] == pytest.approx(base)
    assert f["banned_rate1"].iloc[node["c2"]] == pytest.approx((w + a * base) / (w + a))
    # two hops from b1 (through h): c1 counts, b1's own ban (the walk back) does not
    assert f["banned_rate2"].iloc[node["b1"]] == pytest.approx(a * base / (w + a))
    assert f["banned_rate2"].iloc[node["c1"]] == pytest.approx((w + a * base) / (w + a))


def test_standardised_attributes_ignore_categories_and_constants():
    X = pd.DataFrame({"attr_a": [1.0, 3.0, np.nan, 2.0], "attr_c": pd.Categorical(list("xyxy")),
                      "attr_k": 7.0, "degree": [1.0, 2.0, 3.0, 4.0]})
    Z = standardised_attributes(X)
    assert Z.shape == (4, 1)
    np.testing.assert_allclose(Z[:, 0], [-np.sqrt(1.5), np.sqrt(1.5), 0.0, 0.0])
    assert standardised_attributes(X[["attr_c", "degree"]]) is None


def test_attribute_score_ranks_by_the_attributes_that_tell_bans_apart():
    rng = np.random.default_rng(0)
    n = 600
    Z = rng.normal(size=(n, 5))
    truth = Z[:, 0] + 0.5 * Z[:, 1] + rng.normal(size=n) > 1.2
    banned = (truth & (rng.random(n) < 0.5)).astype(float)      # half the offenders reviewed
    cleared = (~truth & (rng.random(n) < 0.3)).astype(float)
    import scipy.sparse as sp
    adj = sp.csr_matrix(sp.diags(np.ones(n - 1), 1) + sp.diags(np.ones(n - 1), -1))
    cols = attribute_score_columns(adj, adj.multiply(0.5).tocsr(), Z, banned, cleared, _row_max)
    s = cols["attr_score"]
    unreviewed = (banned == 0) & (cleared == 0)
    assert roc_auc_score(truth[unreviewed], s[unreviewed]) > 0.85
    np.testing.assert_allclose(cols["attr_score_nb_max1"][1:-1],
                               np.maximum(s[:-2], s[2:]))
    # one class only: no information, not an error
    none = attribute_score_columns(adj, adj, Z, banned, np.zeros(n), _row_max)
    assert (none["attr_score"] == 0).all()


@pytest.fixture(scope="module")
def trained(parts):
    t, g, ident, membership = parts
    return training_set(g, t.accounts, ident.identity, membership, n_folds=5, seed=0)


def test_training_rows_attribute_score_is_fitted_without_their_fold(parts, trained):
    t, g, ident, membership = parts
    ts = trained
    for col in ("attr_score", "attr_score_nb_mean1", "attr_score_nb_max1", "banned_rate1",
                "banned_rate2", "reviewed_share1"):
        assert col in ts.X.columns, col
    Z = standardised_attributes(account_features(g, t.accounts, ident.identity, membership))
    nodes = ts.train_nodes[ts.folds == 1]
    hidden = np.zeros(g.n_accounts, bool)
    hidden[nodes] = True
    ops = _GraphOps(g.adjacency, g.config.link_threshold, Z)
    expected = label_features(hide_labels(g, hidden), ident.identity, membership, ops=ops)
    np.testing.assert_allclose(ts.X["attr_score"].iloc[nodes].to_numpy(float),
                               expected["attr_score"].iloc[nodes].to_numpy(float), rtol=1e-5)
    seen = label_features(g, ident.identity, membership, ops=ops)
    assert not np.allclose(ts.X["attr_score"].iloc[nodes].to_numpy(float),
                           seen["attr_score"].iloc[nodes].to_numpy(float))
