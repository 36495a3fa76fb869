"""Scoring on Spark (mapInPandas, the model broadcast) against in-process (issue 16, local[2])."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ringfence.models.scoring import EXPLAIN_LIMIT, ModelScorer, eligible_nodes, rank_order
from ringfence.models.training import fit_model
from spark.helpers import platform_tables

pytestmark = pytest.mark.spark

CAPACITY = 100


@pytest.fixture(scope="module")
def setup(platform, in_process_flag):
    """conftest.py's platform and the graph state of its in-process flag run (the graph
    stages' outputs, which scoring reads and does not change)."""
    return platform_tables(platform), in_process_flag.state


def _features_frame(spark, X: pd.DataFrame):
    """In-process features on Spark (``node`` first; categories as strings)."""
    pdf = X.copy()
    for c in pdf.columns:
        if isinstance(pdf[c].dtype, pd.CategoricalDtype):
            pdf[c] = pdf[c].astype(object).where(pdf[c].notna(), None)
        else:
            pdf[c] = pdf[c].astype(np.float64)
    pdf.insert(0, "node", np.arange(len(pdf), dtype=np.int64))
    return spark.createDataFrame(pdf)


def test_scores_and_ranks_equal_for_the_same_model_and_features(spark, setup):
    from ringfence.models.spark_scoring import spark_explanations, spark_predict, spark_ranks

    tables, state = setup
    g = state.graph
    model, X, _ = fit_model(tables, state, seed=0)
    cats = {c: list(X[c].cat.categories) for c in X.columns
            if isinstance(X[c].dtype, pd.CategoricalDtype)}
    ref = model.predict_proba(X)[:, 1]
    feats = _features_frame(spark, X).repartition(3)  # several batches, out of node order
    got = spark_predict(feats, model, cats).toPandas().sort_values("node")
    np.testing.assert_array_equal(got["node"].to_numpy(), np.arange(g.n_accounts))
    diff = np.abs(got["score"].to_numpy() - ref)
    assert diff.max() <= 1e-9, diff.max()
    eligible = eligible_nodes(state)
    keys = spark.createDataFrame(pd.DataFrame({"node": np.arange(g.n_accounts, dtype=np.int64),
                                               "account_id": g.account_ids.astype(str),
                                               "eligible": eligible, "score": ref}))
    ranks = spark_ranks(keys).toPandas().sort_values("node")
    order = rank_order(ref, eligible, g.account_ids)
    expected = np.full(g.n_accounts, np.nan)
    expected[order] = np.arange(1, len(order) + 1)
    np.testing.assert_array_equal(ranks["rank"].to_numpy(float), expected)
    # explanations of the best-ranked, as in-process
    limit = 30
    texts = spark_explanations(feats, spark.createDataFrame(ranks[["node", "rank"]]), model,
                               cats, limit=limit).toPandas()
    from ringfence.models.training import explanations_text
    want = explanations_text(model.explain(X.iloc[order[:limit]]))
    assert dict(zip(texts["node"], texts["explanation"])) == dict(zip(order[:limit], want))
    assert sum(bool(t) for t in want) > limit // 2


def test_the_spark_scorer_gives_the_in_process_scores_and_queue(spark, setup):
    from ringfence.models.spark_scoring import SparkModelScorer

    tables, state = setup
    ref = ModelScorer(seed=0).score(tables, state)
    got = SparkModelScorer(spark, seed=0).score(tables, state)
    assert got.mode == ref.mode == "model (fitted in this run)"
    assert got.info["training"] == {k: v for k, v in ref.info["training"].items()}
    assert got.info["cv_metrics"] == ref.info["cv_metrics"]
    diff = np.abs(got.scores - ref.scores)
    assert diff.max() <= 1e-9, diff.max()
    g = state.graph
    eligible = eligible_nodes(state)
    queue = rank_order(ref.scores, eligible, g.account_ids)[:CAPACITY]
    np.testing.assert_array_equal(rank_order(got.scores, eligible, g.account_ids)[:CAPACITY],
                                  queue)
    assert got.explanations == ref.explanations
    assert len(ref.explanations) > 0 and EXPLAIN_LIMIT >= len(ref.explanations)
