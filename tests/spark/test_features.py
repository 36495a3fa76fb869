"""The model's features on Spark against the in-process ones (issue 16, local[2]).

The scoring features as a whole (their composition and order) are held to in-process by
tests/spark/test_scoring.py, through the scores.

Features are stored as float32 (``FEATURE_DTYPE``) on both engines; Spark sums in another
order, so a value may round to the neighbouring float32. The bound: equal at float32
precision, within one float32 unit in the last place (rtol 2**-23) plus 1e-9 absolute
(sums that cancel to zero leave residues of 1e-17 on either engine).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.config import GraphConfig
from ringfence.graph.pipeline import run_pipeline
from ringfence.graph.synth import generate_platform
from ringfence.models.features import account_features, label_features, out_of_fold_label_features
from ringfence.models.training import assign_folds, default_folds, labelled_nodes

pytestmark = pytest.mark.spark

RTOL = 2.0 ** -23  # one float32 unit in the last place
ATOL = 1e-9


@pytest.fixture(scope="module")
def setup(spark):
    from ringfence.models.spark_features import graph_frames

    p = generate_platform(n_accounts=1500, seed=5)
    accounts = p.accounts.copy()
    rng = np.random.default_rng(0)
    # what the synthetic platform lacks: missing values, a boolean, a column of too many
    # categories (frequency-encoded)
    accounts["referrer"] = pd.Series([f"r{i}" for i in rng.integers(0, 200, len(accounts))],
                                     dtype=object).where(rng.random(len(accounts)) > 0.1, None)
    accounts["verified"] = rng.random(len(accounts)) > 0.5
    accounts.loc[accounts.index[::7], "avg_session_min"] = np.nan
    accounts.loc[accounts.index[::11], "country"] = None
    accounts.loc[accounts.index[5], "created_at"] = pd.NaT
    tables = load_tables(accounts, p.identifiers, p.edges, p.enforcement)
    state = run_pipeline(tables, GraphConfig(seed=2))
    frames = graph_frames(spark, state, tables.accounts)
    return tables, state, frames


def _same(ref: pd.DataFrame, got: pd.DataFrame) -> dict[str, float]:
    """Asserts the same columns in the same order and values; returns the largest
    difference per column."""
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)
    diffs = {}
    for c in ref.columns:
        if isinstance(ref[c].dtype, pd.CategoricalDtype):
            assert list(got[c].cat.categories) == list(ref[c].cat.categories), c
            assert got[c].astype(object).fillna("<NA>").tolist() == \
                ref[c].astype(object).fillna("<NA>").tolist(), c
            continue
        assert got[c].dtype == ref[c].dtype == np.float32, c
        a, b = got[c].to_numpy(np.float64), ref[c].to_numpy(np.float64)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=c)
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=c)
        ok = ~np.isnan(b)
        diffs[c] = float(np.max(np.abs(a[ok] - b[ok]), initial=0.0))
    return diffs


def test_account_features_equal_in_process(setup):
    from ringfence.models.spark_features import categories, spark_account_features, to_pandas

    tables, state, f = setup
    g = state.graph
    ref = account_features(g, tables.accounts, state.identity, state.membership)
    got = spark_account_features(f["links"], f["accounts"], f["uses"], f["edges"], f["groups"],
                                 kind_names=g.kind_names, edge_kind_names=g.edge_kind_names,
                                 as_of=g.as_of)
    got = to_pandas(got, categories(f["accounts"]))
    diffs = _same(ref, got)
    # the platform exercises every family: per kind, edges, aggregates, categories
    assert any(c.startswith("nb_max2_") for c in diffs) and any(c.startswith("n_edges_") for c in diffs)
    assert any(isinstance(ref[c].dtype, pd.CategoricalDtype) for c in ref.columns)
    assert ref["nb_mean2_account_age_days"].notna().sum() > 500
    assert {"attr_referrer_freq", "attr_verified"} <= set(ref.columns)
    assert ref["attr_avg_session_min"].isna().sum() > 100 and ref["account_age_days"].isna().sum() == 1


def test_out_of_fold_label_features_hide_the_same_labels(spark, setup):
    from ringfence.models.spark_features import (propagation_passes,
                                                 spark_out_of_fold_label_features, status_passes,
                                                 to_pandas)

    tables, state, f = setup
    g = state.graph
    nodes, _ = labelled_nodes(g)
    fold = assign_folds(g.account_ids[nodes], default_folds(len(nodes)))
    ref = out_of_fold_label_features(g, state.identity, state.membership, nodes, fold, g.config,
                                     n_jobs=1, propagation=state.propagation)
    status = spark.createDataFrame(status_passes(g, nodes, fold))
    prop = spark.createDataFrame(propagation_passes(state, nodes, fold))
    folds = spark.createDataFrame(pd.DataFrame({"node": nodes.astype(np.int64), "fold": fold}))
    got = to_pandas(spark_out_of_fold_label_features(f["links"], status, f["groups"], prop, folds,
                                                     link_threshold=g.config.link_threshold))
    _same(ref, got)
    # the accounts outside training come from the pass with every label (label_features)
    assert len(nodes) > 40 and g.n_accounts - len(nodes) > 1000
    assert (ref["banned_share2"] != 0).sum() > 100 and (ref["max_link_to_banned"] > 0).sum() > 10
    # hiding changed the training rows: the all-labels pass differs there
    full = label_features(g, state.identity, state.membership, g.config,
                          propagation=state.propagation)
    assert not np.allclose(full["banned_in_identity"].to_numpy()[nodes],
                           ref["banned_in_identity"].to_numpy()[nodes]) or \
        not np.allclose(full["propagation"].to_numpy()[nodes], ref["propagation"].to_numpy()[nodes])
