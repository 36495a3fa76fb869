"""models/features.py: label features never see an account's own label; columns, dtypes and label passes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from helpers import graph_parts, small_tables

from ringfence.graph.build import build_graph
from ringfence.models.features import (RATE_PRIOR, _row_max, account_features, hide_labels,
                                      label_features, neighbour_aggregates)
from ringfence.models.training import CLUSTER_FEATURES, training_set


@pytest.mark.slow  # a label pass per changed label
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
        t2, g2, ident2, membership2 = graph_parts(platform, changed.reset_index(drop=True))
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
    # the model leaves out what the seed's clusters would move
    assert not set(CLUSTER_FEATURES) & set(ts.X.columns)
    lab_cols = [c for c in label_features(g, ident.identity, membership).columns
                if c in ts.X.columns]
    # recompute fold 0 by hand: its rows must equal features computed with fold 0 hidden
    nodes = ts.train_nodes[ts.folds == 0]
    hidden = np.zeros(g.n_accounts, bool)
    hidden[nodes] = True
    expected = label_features(hide_labels(g, hidden), ident.identity, membership)
    np.testing.assert_allclose(ts.X.iloc[nodes][lab_cols].to_numpy(float),
                               expected.iloc[nodes][lab_cols].to_numpy(float), rtol=1e-9,
                               atol=1e-12)
    # and they differ from the all-labels features (the fold's labels mattered)
    full = label_features(g, ident.identity, membership)
    assert not np.allclose(ts.X.iloc[nodes][lab_cols].to_numpy(float),
                           full.iloc[nodes][lab_cols].to_numpy(float))


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


def test_two_hop_shares_that_cancel_are_exactly_zero():
    # a's only banned account within two hops is a itself: the walks back cancel its own ban.
    # Summed in another order (as Spark does) the residue differs (here -1.1e-16 against 0),
    # and the model split between such residues: both engines now make them 0
    w = np.array([[0, 0, .313, .577, .972, .775, .791, .759],
                  [0, 0, 0, 0, 0, 0, 0, .133],
                  [.313, 0, 0, 0, .526, 0, .965, 0],
                  [.577, 0, 0, 0, .188, 0, .232, .841],
                  [.972, 0, .526, .188, 0, .309, .396, .941],
                  [.775, 0, 0, 0, .309, 0, 0, .504],
                  [.791, 0, .965, .232, .396, 0, 0, .905],
                  [.759, .133, 0, .841, .941, .504, .905, 0]])
    names = ["a", "b", "c", "d", "e", "f", "g", "h"]
    t = small_tables(names, edges=[("a", "b", "transfer")], enforcement=[("a", "ban")])
    g = build_graph(t)
    order = g.index.get_indexer(names)  # node of each row of w
    adj = np.zeros_like(w)
    adj[np.ix_(order, order)] = w
    g = dataclasses.replace(g, adjacency=sp.csr_matrix(adj))
    f = label_features(g, np.full(8, -1), np.full(8, -1))
    a = order[0]
    assert f["banned_share2"].iloc[a] == 0.0 and f["ban_weight_share2"].iloc[a] == 0.0
    # the others see a's ban two hops away
    assert (f["banned_share2"].drop(index=a) > 1e-3).all()


def test_batched_label_passes_equal_each_pass_alone_to_the_last_bit(parts):
    # the folds' propagations run as batched PageRanks (split across two threads here); every
    # fold's rows must be exactly what its own pass, with its own propagation, gives
    from ringfence.models.features import LABEL_COLUMNS, out_of_fold_label_features
    from ringfence.models.training import assign_folds, labelled_nodes
    t, g, ident, membership = parts
    nodes, _ = labelled_nodes(g)
    folds = assign_folds(g.account_ids[nodes], 3)
    got = out_of_fold_label_features(g, ident.identity, membership, nodes, folds, n_jobs=2)
    np.testing.assert_array_equal(got.to_numpy()[np.setdiff1d(np.arange(g.n_accounts), nodes)],
                                  label_features(g, ident.identity, membership).to_numpy()[
                                      np.setdiff1d(np.arange(g.n_accounts), nodes)])
    for f in range(3):
        rows = nodes[folds == f]
        hidden = np.zeros(g.n_accounts, bool)
        hidden[rows] = True
        alone = label_features(hide_labels(g, hidden, LABEL_COLUMNS), ident.identity, membership)
        np.testing.assert_array_equal(got.iloc[rows].to_numpy(), alone.iloc[rows].to_numpy())
        assert alone["propagation"].iloc[rows].to_numpy().any()  # the propagation mattered


def test_neighbour_max_and_min_keep_the_sign_of_zero():
    # min is minus the max of the negated values (one gather serves both): with zeros of
    # both signs among the neighbours, every column's bits are that recipe's
    rng = np.random.default_rng(3)
    n = 60
    a = sp.random(n, n, density=0.08, random_state=4, format="csr")
    a = (a + a.T).tocsr()
    values = rng.choice([0.0, -0.0, 1.5, -2.0, np.nan], size=(n, 2))
    out = neighbour_aggregates(a, values, ["u", "v"])
    has = np.diff(a.indptr) > 0
    for j, name in enumerate(["u", "v"]):
        x = values[:, j]
        x = np.where(np.isnan(x), np.nanmean(x), x)
        max1 = _row_max(a, x)
        min1 = -_row_max(a, -x)
        expect = {"max1": max1, "max2": _row_max(a, np.where(has, max1, x)),
                  "min1": min1, "min2": -_row_max(a, -np.where(has, min1, x))}
        for key, want in expect.items():
            got = out[f"nb_{key[:3]}{key[3]}_{name}"].to_numpy()
            assert got.tobytes() == want.astype(np.float32).tobytes(), key
    assert np.signbit(out.to_numpy()[out.to_numpy() == 0]).any()  # the test sees -0.0
