"""The model beyond the driver: features and scores from a ``SparkGraphState``'s tables.

When the links do not fit on the driver, the graph stages leave their results on Spark
(:class:`~ringfence.graph.spark.state.SparkGraphState`). :func:`state_frames` makes from
them the input tables of :mod:`ringfence.models.spark_features` (the same feature code as
on the driver: nothing is forked), :func:`spark_status_passes` and
:func:`spark_propagation_passes` the label passes (the folds' propagations as one batched
PageRank, as joins), and
:func:`score_beyond_driver` fits the model on the driver on the labelled accounts (a
sample above :data:`~ringfence.models.training.MAX_FIT_ROWS`) and scores and ranks every
account on Spark. Only the labelled accounts' rows and the explained top of the ranking
reach the driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ringfence.graph.config import GraphConfig
from ringfence.graph.progress import Stages
from ringfence.graph.tables import Tables
from ringfence.models.features import LABEL_COLUMNS
from ringfence.models.scoring import saved_model
from ringfence.models.spark_features import (accounts_frame, categories,
                                             spark_scoring_features)
from ringfence.models.spark_scoring import (_check_folds, fit_labelled, spark_explanations,
                                            spark_predict, spark_ranks)
from ringfence.models.training import MIN_LABELS, assign_folds, default_folds

__all__ = ["state_frames", "spark_status_passes", "spark_propagation_passes",
           "SparkScores", "score_beyond_driver"]


def state_frames(spark: SparkSession, state: Any, accounts: pd.DataFrame) -> dict[str, DataFrame]:
    """The input tables of :mod:`ringfence.models.spark_features` from a ``SparkGraphState``.

    ``links`` are the account graph's links with the rows of one pair added up (as
    ``AccountGraph.adjacency``), ``uses`` the build's identifier uses with their kind and
    sharing, ``edges`` the edge links, ``groups`` the identities and clusters, ``status``
    pass 0. Cost: one aggregation of the links; the identifier table (on the driver
    already) shipped once, or read where it stayed on Spark.

    Examples
    --------
    >>> frames = state_frames(spark, err.state, tables.accounts)  # doctest: +SKIP
    >>> sorted(frames)  # doctest: +SKIP
    ['accounts', 'edges', 'groups', 'links', 'status', 'uses']
    """
    fr = state.frames
    links = (state.graph_links.groupBy("a", "b").agg(F.sum("weight").alias("weight"))
             .where(F.col("weight") != 0))
    index = pd.Index(accounts["account_id"].astype(str).to_numpy(object))
    ident = fr["ident"]
    names = np.asarray(fr["kind_names"], dtype=object)
    if fr["uses"] is not None and ident is None:  # the identifier table stayed on Spark
        kind_of = F.element_at(F.array(*[F.lit(str(k)) for k in names]),
                               F.col("kind_code") + 1)
        kinds = fr["ident_frame"].select("identifier", kind_of.alias("kind"),
                                         F.col("n_accounts").cast("long"))
        uses = fr["uses"].join(kinds, "identifier").select("node", "kind", "n_accounts")
    elif fr["uses"] is not None and len(ident):
        kinds = spark.createDataFrame(pd.DataFrame({
            "identifier": np.arange(len(ident), dtype=np.int64),
            "kind": names[ident["kind_code"].to_numpy(np.int64)],
            "n_accounts": ident["n_accounts"].to_numpy(np.int64)}),
            "identifier long, kind string, n_accounts long")
        uses = fr["uses"].join(kinds, "identifier").select("node", "kind", "n_accounts")
    else:
        uses = spark.createDataFrame([], "node long, kind string, n_accounts long")
    edges = None
    if fr["links_by_edge"] is not None:
        edges = fr["links_by_edge"].select("a", "b", F.col("kinds").cast("long"),
                                           F.col("n_edges").cast("double"))
    groups = (state.status.select("node").join(state.identities, "node", "left")
              .join(state.clusters, "node", "left")
              .select("node", F.coalesce("identity", F.lit(-1)).cast("long").alias("identity"),
                      F.coalesce("cluster", F.lit(-1)).cast("long").alias("cluster")))
    return {"links": links, "accounts": accounts_frame(spark, index, accounts), "uses": uses,
            "edges": edges, "groups": groups,
            "status": spark_status_passes(state.status, None, 0)}


def spark_status_passes(status: DataFrame, folds: DataFrame | None, n_folds: int) -> DataFrame:
    """:func:`~ringfence.models.spark_features.status_passes` on Spark: pass 0 with every
    label, pass ``f + 1`` with the labels of fold ``f``'s accounts erased.

    ``status``: ``node`` and the label columns; ``folds``: ``node``, ``fold`` of the
    training accounts. Cost: the status table ``n_folds + 1`` times (a cross join with
    the pass numbers).
    """
    spark = status.sparkSession
    base = status.select("node", *[F.col(c).cast("double").alias(c) for c in LABEL_COLUMNS])
    passes = spark.range(n_folds + 1).select(F.col("id").alias("pass"))
    out = base.crossJoin(F.broadcast(passes))
    if folds is None or n_folds == 0:
        return out.where(F.col("pass") == 0).select("pass", "node", *LABEL_COLUMNS)
    out = out.join(folds, "node", "left")
    hidden = F.col("fold").isNotNull() & (F.col("pass") == F.col("fold") + 1)
    return out.select("pass", "node", *[F.when(hidden, F.lit(0.0)).otherwise(F.col(c)).alias(c)
                                        for c in LABEL_COLUMNS])


def _propagation_pair(prop: DataFrame, pass_: Column) -> DataFrame:
    """``pass`` (the column ``pass_``), ``node``, ``propagation``, ``propagation_raw_log``."""
    return prop.select(pass_.cast("long").alias("pass"), "node",
                       F.col("propagation_score").alias("propagation"),
                       F.log10(F.col("propagation_raw") + F.lit(1e-12))
                       .alias("propagation_raw_log"))


def spark_propagation_passes(state: Any, passes: DataFrame, n_folds: int,
                             config: GraphConfig) -> DataFrame:
    """:func:`~ringfence.models.spark_features.propagation_passes` on Spark: pass 0 from the
    state's propagation, and the folds' propagations (each with its fold's labels hidden)
    as one personalised PageRank carrying the pass as its key
    (:func:`~ringfence.graph.spark.pagerank.spark_propagations`): each fold's values and
    iteration count are those of its own run.

    Cost: one batched propagation over the links (``config.max_iter`` joins at most, each
    over every fold's scores), instead of ``n_folds`` runs of as many jobs each.
    """
    from ringfence.graph.spark.pagerank import spark_propagations

    links = state.graph_links.select("a", "b", "weight")
    out = _propagation_pair(state.propagation, F.lit(0))
    if n_folds:
        # a fold's convergence is the run's, reported once (spark_propagations warns not)
        st = passes.where(F.col("pass").between(1, n_folds)).select(
            F.col("pass").alias("key"), "node", (F.col("banned") > 0).alias("banned"),
            (F.col("cleared") > 0).alias("cleared"), "seed_weight")
        prop, _ = spark_propagations(links, st, config)
        out = out.unionByName(_propagation_pair(prop, F.col("key")))
    return out


@dataclass
class SparkScores:
    """Scores beyond the driver.

    ``ranks``: Spark ``node``, ``score``, ``rank`` (null: not eligible), ``percentile``;
    ``explanations``: node -> text for the :data:`~ringfence.models.scoring.EXPLAIN_LIMIT`
    best-ranked accounts; ``mode`` and ``info`` as :class:`~ringfence.models.scoring.Scoring`.
    """

    ranks: DataFrame
    mode: str
    info: dict[str, Any] = field(default_factory=dict)
    explanations: dict[int, str] = field(default_factory=dict)


def score_beyond_driver(state: Any, tables: Tables, config: GraphConfig, *,
                        use_model: bool = True, model_path: str | None = None,
                        max_age_days: float | None = None, min_labels: int = MIN_LABELS,
                        params: dict[str, Any] | None = None, seed: int = 0,
                        stages: Stages | None = None) -> SparkScores:
    """Every account's score and rank from a ``SparkGraphState``, as the in-process flag job.

    With at least ``min_labels`` banned and cleared accounts (and ``use_model``), the model
    is fitted on the driver on the labelled accounts' features and applied with
    ``mapInPandas``; the fitted accounts keep their out-of-fold probability. Otherwise the
    score is the propagation score, and ``info["reason"]`` says why. With ``model_path``
    (and ``use_model``) no model is fitted: the saved one scores the same features, as
    :class:`~ringfence.models.scoring.ModelScorer` does (:func:`_saved_scores`).

    Notes
    -----
    Cost: the features' joins over ``k + 1`` label passes, one propagation for the ``k``
    folds together, the labelled accounts' rows collected, one distributed sort for the
    ranks.

    Examples
    --------
    >>> scored = score_beyond_driver(err.state, tables, GraphConfig())  # doctest: +SKIP
    >>> scored.ranks.where("rank <= 10").count()  # doctest: +SKIP
    10
    """
    stages = stages or Stages(quiet=True)
    spark = state.status.sparkSession
    keys = state.status.select("node", F.col("account_id").cast("string").alias("account_id"),
                               (~F.col("banned") & ~F.col("cleared")).alias("eligible"))
    labelled = (state.status.where(F.col("banned") | F.col("cleared"))
                .select("node", "account_id", "banned").toPandas()
                .sort_values("node", ignore_index=True))
    y = labelled["banned"].to_numpy(bool).astype(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    saved = use_model and model_path is not None
    reason = ("model disabled (--no-model)" if not use_model else None if saved else
              f"too few labels to fit a model: {n_pos} banned and {n_neg} cleared accounts "
              f"(need {min_labels} of each)" if min(n_pos, n_neg) < min_labels else None)
    if reason is not None:
        with stages.stage("score"):
            scored = state.propagation.select("node", F.col("propagation_score").alias("score")) \
                .join(keys, "node")
            ranks = spark_ranks(scored).persist()
        return SparkScores(ranks, "propagation", {"reason": reason})
    nodes = labelled["node"].to_numpy(np.int64)
    n_folds = default_folds(len(nodes))
    fold = assign_folds(labelled["account_id"].astype(str).to_numpy(object), n_folds)
    if not saved:  # a saved model scores with any labels, as in-process
        _check_folds(y, fold, n_folds)
    fr = state.frames
    with stages.stage("features"):
        folds = spark.createDataFrame(pd.DataFrame({"node": nodes, "fold": fold}),
                                      "node long, fold long")
        frames = state_frames(spark, state, tables.accounts)
        frames["status"] = spark_status_passes(state.status, folds, n_folds).persist()
        prop = spark_propagation_passes(state, frames["status"], n_folds, config)
        features = spark_scoring_features(
            frames, prop, folds, kind_names=fr["kind_names"],
            edge_kind_names=fr["edge_kind_names"], as_of=state.as_of,
            link_threshold=config.link_threshold).persist()
        cats = categories(frames["accounts"])
        n_features = len(features.columns) - 1
    if saved:
        return _saved_scores(features, cats, keys, model_path, max_age_days, stages)
    with stages.stage("model"):
        labels = labelled.assign(label=y)[["node", "account_id", "label"]]
        model, fitted = fit_labelled(features, labels, cats, folds=fold, params=params,
                                     seed=seed)
    with stages.stage("score"):
        oof = spark.createDataFrame(pd.DataFrame({"node": fitted, "oof": model.oof_proba_}),
                                    "node long, oof double")
        scored = (spark_predict(features, model, cats).join(F.broadcast(oof), "node", "left")
                  .select("node", F.coalesce("oof", "score").alias("score"))
                  .join(keys, "node")).persist()  # the ranks' sort reads it twice
        ranks = spark_ranks(scored).persist()
        texts = spark_explanations(features, ranks, model, cats).toPandas()
    explanations = {int(n): t for n, t in zip(texts["node"], texts["explanation"]) if t}
    summary = {"accounts": int(state.status.count()), "positives": n_pos, "negatives": n_neg,
               "folds": n_folds, "features": n_features, "as_of": state.as_of.isoformat(),
               "fitted_rows": int(len(fitted))}
    return SparkScores(ranks, "model (fitted in this run)",
                       {"training": summary, "cv_metrics": model.cv_metrics_,
                        "features": n_features,
                        "spark": {"features": "spark (joins, from the graph stages' Spark "
                                              "tables; the folds' propagations as one "
                                              "batched PageRank on Spark)",
                                  "model": "driver (the labelled accounts)",
                                  "score": "spark (mapInPandas)"}}, explanations)


def _saved_scores(features: DataFrame, cats: dict[str, list[Any]], keys: DataFrame,
                  model_path: str, max_age_days: float | None, stages: Stages) -> SparkScores:
    """Scores, ranks and explanations of a saved model from the Spark features, with the
    in-process checks of its feature list (:func:`~ringfence.models.scoring.saved_model`:
    one read of the file). Cost: the model's prediction over every account, with
    ``mapInPandas``, and one distributed sort for the ranks."""
    with stages.stage("model"):
        model, columns, info = saved_model(model_path, [c for c in features.columns
                                                        if c != "node"], max_age_days)
        features = features.select("node", *columns)  # the model's columns, in its order
    with stages.stage("score"):
        scored = spark_predict(features, model, cats).join(keys, "node").persist()
        ranks = spark_ranks(scored).persist()
        texts = spark_explanations(features, ranks, model, cats).toPandas()
    explanations = {int(n): t for n, t in zip(texts["node"], texts["explanation"]) if t}
    info["spark"] = {"features": "spark (joins, from the graph stages' Spark tables; the "
                                 "folds' propagations as one batched PageRank)",
                     "model": f"driver (loaded from {model_path})",
                     "score": "spark (mapInPandas)"}
    return SparkScores(ranks, "model", info, explanations)
