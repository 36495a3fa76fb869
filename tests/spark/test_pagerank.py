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
    from ringfence.graph.spark.pagerank import personalised_pagerank

    # path 0-1-2-3 with 1 absorbing, a triangle 4-5-6, and 7 a seed with no link
    a = np.array([0, 1, 2, 4, 4, 5])
    b = np.array([1, 2, 3, 5, 6, 6])
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    adj = sp.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(8, 8)).tocsr()
    p = np.array([1.0, 9.0, 0, 0, 2.0, 0, 0, 0.5])  # 1 absorbs: its weight goes
    blocked = np.zeros(8, bool)
    blocked[1] = True
    expected = personalized_pagerank(adj, p, alpha=0.3, tol=1e-8, blocked=blocked)

    got = personalised_pagerank(
        spark.createDataFrame(pd.DataFrame({"a": a, "b": b, "weight": w})),
        spark.createDataFrame(pd.DataFrame({"node": [0, 4, 7, 1], "weight": [1.0, 2.0, 0.5, 9.0]})),
        alpha=0.3, tol=1e-8, blocked=spark.createDataFrame(pd.DataFrame({"node": [1]})),
        checkpoint_every=3)
    scores = np.zeros(8)
    table = got.scores.toPandas()
    scores[table["node"].to_numpy()] = table["score"].to_numpy()
    assert (got.iterations, got.converged) == (expected.iterations, expected.converged)
    assert expected.converged and np.abs(scores - expected.scores).max() < 1e-12
    assert scores[2] == scores[3] == 0  # behind the absorbing node
    assert scores[7] > 0  # the isolated seed's mass goes back to every seed


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
