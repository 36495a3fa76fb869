"""Propagation on Spark: graph/propagate.py's values, iteration for iteration."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.propagate import personalized_pagerank, propagation_columns
from ringfence.graph.synth import generate_platform

pytestmark = pytest.mark.spark


def _links(adjacency) -> pd.DataFrame:
    upper = sp.triu(sp.coo_matrix(adjacency), k=1)
    return pd.DataFrame({"a": upper.row.astype(np.int64), "b": upper.col.astype(np.int64),
                         "weight": upper.data})


def test_small_graph_with_absorbing_and_dangling_nodes(spark):
    """One run per key and one batched run of three keys (the folds' case: their own
    seeds and absorbing nodes) against the in-process PageRank: the same scores to 1e-12,
    iteration counts and errors, each key frozen when it converges."""
    from ringfence.graph.spark.pagerank import personalised_pagerank, personalised_pageranks

    # path 0-1-2-3, a triangle 4-5-6, 7 a seed with no link (dangling), a pair 8-9
    a = np.array([0, 1, 2, 4, 4, 5, 8])
    b = np.array([1, 2, 3, 5, 6, 6, 9])
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.25])
    adj = sp.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(10, 10)).tocsr()
    p = {1: np.array([1.0, 9.0, 0, 0, 2.0, 0, 0, 0.5, 0, 0]),   # 1 absorbs: its weight goes
         2: np.array([0, 0, 0, 3.0, 0, 0, 1.0, 0, 0, 0]),         # 2 absorbs: 3 is cut off
         3: np.array([0, 0, 0, 0, 0, 0, 0, 4.0, 1.0, 0])}         # no absorbing node
    blocked = {1: [1], 2: [2], 3: []}
    links = spark.createDataFrame(pd.DataFrame({"a": a, "b": b, "weight": w}))
    pers = pd.concat([pd.DataFrame({"key": k, "node": np.flatnonzero(v), "weight": v[v > 0]})
                      for k, v in p.items()], ignore_index=True)
    blk = pd.DataFrame({"key": [k for k, v in blocked.items() for _ in v],
                        "node": [n for v in blocked.values() for n in v]})
    got = personalised_pageranks(links, spark.createDataFrame(pers), alpha=0.2, tol=1e-8,
                                 blocked=spark.createDataFrame(blk, "key long, node long"),
                                 checkpoint_every=3)
    table = got.scores.toPandas()
    assert sorted(got.iterations) == [1, 2, 3]
    for k in p:
        mask = np.zeros(10, bool)
        mask[blocked[k]] = True
        expected = personalized_pagerank(adj, p[k], alpha=0.2, tol=1e-8, blocked=mask)
        one = personalised_pagerank(
            links, spark.createDataFrame(pers[pers["key"] == k][["node", "weight"]]),
            alpha=0.2, tol=1e-8, checkpoint_every=3,
            blocked=spark.createDataFrame(blk[blk["key"] == k][["node"]], "node long"))
        scores, separate = np.zeros(10), np.zeros(10)
        mine = table[table["key"] == k]
        scores[mine["node"].to_numpy()] = mine["score"].to_numpy()
        sep = one.scores.toPandas()
        separate[sep["node"].to_numpy()] = sep["score"].to_numpy()
        assert expected.converged and got.converged[k] and one.converged
        assert got.iterations[k] == one.iterations == expected.iterations, k
        assert got.error[k] == pytest.approx(one.error, rel=1e-9), k
        assert np.abs(separate - expected.scores).max() < 1e-12, k
        assert np.abs(scores - separate).max() < 1e-12, k
        assert np.abs(scores - expected.scores).max() < 1e-12, k
        if k == 1:
            assert scores[2] == scores[3] == 0  # behind the absorbing node
            assert scores[1] > 0  # which receives
            assert scores[7] > 0  # the isolated seed's mass goes back to every seed
    # the keys stop at different iterations: the ones that converged first stay frozen
    assert len(set(got.iterations.values())) > 1, got.iterations
    assert table.loc[table["key"] == 2, "node"].isin([0, 1]).sum() == 0  # behind 2
    assert table.loc[table["key"] == 3, "node"].isin([7, 8, 9]).all()  # 7 dangling


def test_a_key_without_weight_outside_its_blocked_nodes_is_an_error(spark):
    from ringfence.graph.spark.pagerank import personalised_pageranks

    links = spark.createDataFrame(pd.DataFrame({"a": [0], "b": [1], "weight": [1.0]}))
    pers = spark.createDataFrame(pd.DataFrame({"key": [4, 5], "node": [0, 1],
                                               "weight": [1.0, 2.0]}))
    blocked = spark.createDataFrame(pd.DataFrame({"key": [5], "node": [1]}))
    with pytest.raises(ValueError, match="personalization of key 5 is all zero outside"):
        personalised_pageranks(links, pers, blocked=blocked)


@pytest.fixture(scope="module")
def graph():
    p = generate_platform(3_000, seed=4)
    return build_graph(load_tables(p.accounts, p.identifiers, p.edges, p.enforcement))


def test_propagation_equals_in_process_for_twenty_iterations(spark, graph):
    from ringfence.graph.spark.pagerank import spark_propagation

    config = GraphConfig(max_iter=20, tol=1e-300)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected, meta = propagation_columns(graph, config)
        status = graph.status[["banned", "cleared", "seed_weight"]].assign(
            node=np.arange(graph.n_accounts))
        table, got_meta = spark_propagation(spark.createDataFrame(_links(graph.adjacency)),
                                            spark.createDataFrame(status), config)
        got = table.toPandas().sort_values("node", ignore_index=True)
    messages = [str(w.message) for w in caught if "blacklist propagation" in str(w.message)]
    assert len(messages) == 2 and messages[0] == messages[1]  # "did not converge in 20 ..."
    assert got["node"].tolist() == list(range(graph.n_accounts))
    assert got_meta["iterations"] == meta["iterations"] == 20
    assert got_meta["error"] == pytest.approx(meta["error"], rel=1e-6)
    for col in ("propagation_raw", "propagation", "propagation_score"):
        assert np.abs(got[col].to_numpy() - expected[col]).max() < 1e-9, col
    for col in ("seed", "cleared"):
        assert (got[col].to_numpy() == expected[col]).all()
    # the platform has what the semantics are about
    assert expected["cleared"].sum() > 0 and expected["seed"].sum() > 10
    assert (expected["propagation_score"] == 1).sum() >= 1


def test_the_folds_in_one_run_equal_in_process_per_fold(spark, graph):
    """The out-of-fold propagations (spark_propagation_passes' case) as one batched run:
    each fold's columns are the in-process propagation of the graph with that fold's
    labels hidden, to 1e-9, for the same iteration count."""
    from ringfence.graph.spark.pagerank import spark_propagations
    from ringfence.models.features import hide_labels

    config = GraphConfig(max_iter=5, tol=1e-300)
    st = graph.status
    labelled = np.flatnonzero(st["banned"].to_numpy() | st["cleared"].to_numpy())
    fold = np.arange(len(labelled)) % 3
    status, expected = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge in 5", on both engines
        for k in range(3):
            hidden = np.zeros(graph.n_accounts, bool)
            hidden[labelled[fold == k]] = True
            g = hide_labels(graph, hidden)
            expected[k + 1] = propagation_columns(g, config)
            status.append(g.status[["banned", "cleared", "seed_weight"]].assign(
                key=k + 1, node=np.arange(graph.n_accounts)))
        table, metas = spark_propagations(spark.createDataFrame(_links(graph.adjacency)),
                                          spark.createDataFrame(pd.concat(status)), config)
    got = table.toPandas().sort_values(["key", "node"], ignore_index=True)
    assert sorted(metas) == [1, 2, 3]
    for k, (want, meta) in expected.items():
        mine = got[got["key"] == k]
        assert mine["node"].tolist() == list(range(graph.n_accounts))
        assert metas[k]["iterations"] == meta["iterations"] == 5
        assert metas[k]["error"] == pytest.approx(meta["error"], rel=1e-6)
        for col in ("propagation_raw", "propagation", "propagation_score"):
            assert np.abs(mine[col].to_numpy() - want[col]).max() < 1e-9, (k, col)
        for col in ("seed", "cleared"):
            assert (mine[col].to_numpy() == want[col]).all(), (k, col)
        assert want["seed"].sum() > 10 and (want["propagation_score"] == 1).sum() >= 1
    # the folds' labels differ, and so do their propagations
    raw = got.pivot(index="node", columns="key", values="propagation_raw")
    assert (raw[1] != raw[2]).any() and (raw[2] != raw[3]).any()

    # the model's label passes beyond the driver: pass 0 the state's, then these folds
    from types import SimpleNamespace

    from ringfence.models.spark_beyond import spark_propagation_passes

    zero = got[got["key"] == 1].drop(columns="key")
    state = SimpleNamespace(graph_links=spark.createDataFrame(_links(graph.adjacency)),
                            propagation=spark.createDataFrame(zero))
    passes = spark.createDataFrame(pd.concat(status).rename(columns={"key": "pass"})
                                   .astype({"banned": float, "cleared": float}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = spark_propagation_passes(state, passes, 3, config).toPandas()
    table = table.sort_values(["pass", "node"], ignore_index=True)
    assert table.columns.tolist() == ["pass", "node", "propagation", "propagation_raw_log"]
    assert table["pass"].tolist() == [k for k in range(4) for _ in range(graph.n_accounts)]
    for k in range(4):
        mine, want = table[table["pass"] == k], got[got["key"] == max(k, 1)]
        np.testing.assert_allclose(mine["propagation"], want["propagation_score"],
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(10 ** mine["propagation_raw_log"].to_numpy() - 1e-12,
                                   want["propagation_raw"], rtol=0, atol=1e-12)


def test_no_seeds_warns_and_scores_zero(spark):
    from ringfence.graph.spark.pagerank import spark_propagation

    links = spark.createDataFrame(pd.DataFrame({"a": [0], "b": [1], "weight": [1.0]}))
    status = spark.createDataFrame(pd.DataFrame({"node": [0, 1, 2], "banned": [False] * 3,
                                                 "cleared": [False] * 3,
                                                 "seed_weight": [0.0] * 3}))
    with pytest.warns(UserWarning, match="no banned accounts"):
        table, meta = spark_propagation(links, status)
    got = table.toPandas()
    assert meta["iterations"] == 0 and len(got) == 3
    assert (got[["propagation_raw", "propagation", "propagation_score"]].to_numpy() == 0).all()


@pytest.mark.parametrize("n", [1, 2, 1000, 1001])
def test_exact_median_brackets_the_middle(spark, n):
    from ringfence.graph.spark.pagerank import exact_median

    rng = np.random.default_rng(n)
    values = rng.choice([0.5, 1.0, 1.5, 2.0, 7.25], n) + (rng.random(n) < 0.5) * rng.random(n)
    df = spark.createDataFrame(pd.DataFrame({"v": values}))
    assert exact_median(df, "v", collect_below=0) == np.median(values)
