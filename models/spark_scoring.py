"""The repeat-offender model with the Spark engine: fitted on the driver, applied on Spark.

The model is fitted on the driver on the labelled accounts (a sample of
:data:`~ringfence.models.training.MAX_FIT_ROWS` above that many labels, as in-process);
every account's score, the rank among the accounts that may be queued, and the
explanations of the top :data:`~ringfence.models.scoring.EXPLAIN_LIMIT` are computed on
Spark with ``mapInPandas``, the fitted model broadcast to the tasks. Features come from
:mod:`ringfence.models.spark_features`. :class:`SparkModelScorer` is the flag job's scorer
with ``--engine spark``; it returns the in-process :class:`~ringfence.models.scoring.Scoring`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ringfence.graph.pipeline import GraphState
from ringfence.graph.progress import Stages
from ringfence.graph.tables import Tables
from ringfence.models.model import RepeatOffenderModel
from ringfence.models.scoring import EXPLAIN_LIMIT, PropagationScorer, Scoring
from ringfence.models.spark_features import (categories, graph_frames, pandas_features,
                                             propagation_passes, spark_scoring_features,
                                             status_passes)
from ringfence.models.training import (LARGE_LABEL_SET, LARGE_SET_PARAMS, MAX_FIT_ROWS,
                                       MIN_LABELS, _fit_sample, assign_folds, default_folds,
                                       explanations_text, labelled_nodes)

__all__ = ["fit_labelled", "spark_predict", "spark_ranks", "spark_explanations",
           "SparkModelScorer", "spark_scorer"]


def fit_labelled(features: DataFrame, labels: pd.DataFrame, cats: dict[str, list[Any]], *,
                 folds: np.ndarray, params: dict[str, Any] | None = None, seed: int = 0
                 ) -> tuple[RepeatOffenderModel, np.ndarray]:
    """Fit the model on the driver on the labelled accounts, as the in-process flag job.

    ``labels``: ``node``, ``account_id`` and ``label`` (1 banned, 0 cleared) of every
    labelled account, in node order; ``folds`` their folds. Only the fitted rows'
    features are collected (at most :data:`MAX_FIT_ROWS`, chosen by keyed hash of the
    account ids). Returns the model and the fitted nodes (in node order).
    """
    y = labels["label"].to_numpy(int)
    fit = _fit_sample(y, MAX_FIT_ROWS, seed, labels["account_id"].to_numpy())
    nodes = labels["node"].to_numpy(np.int64)[fit]
    spark = features.sparkSession
    chosen = spark.createDataFrame(pd.DataFrame({"node": nodes}), "node long")
    rows = features.join(F.broadcast(chosen), "node").orderBy("node").toPandas()
    X = pandas_features(rows.drop(columns=["node"]), cats)
    large = LARGE_SET_PARAMS if len(y) > LARGE_LABEL_SET else {}
    model = RepeatOffenderModel(random_state=seed, **{**large, **(params or {})})
    model.fit(X, y[fit], folds=np.asarray(folds)[fit])
    return model, nodes


def spark_predict(features: DataFrame, model: RepeatOffenderModel,
                  cats: dict[str, list[Any]]) -> DataFrame:
    """``node`` and ``score`` (the model's calibrated probability) for every row of
    ``features``, with ``mapInPandas`` and the model broadcast. Cost: the model's
    prediction, spread over the tasks."""
    shared = features.sparkSession.sparkContext.broadcast(model)

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m = shared.value
        for pdf in batches:
            X = pandas_features(pdf.drop(columns=["node"]), cats)
            p = m.predict_proba(X)[:, 1] if len(X) else np.zeros(0)
            yield pd.DataFrame({"node": pdf["node"].to_numpy(np.int64), "score": p})

    return features.mapInPandas(predict, "node long, score double")


def spark_ranks(scores: DataFrame) -> DataFrame:
    """Ranks among the accounts that may be queued, as in-process
    (:func:`~ringfence.models.scoring.rank_order`): riskiest first, ties by account id.

    ``scores``: ``node``, ``account_id`` (string), ``score`` and ``eligible`` (boolean).
    Returns ``node``, ``score``, ``rank`` (null when not eligible) and ``percentile``.
    Cost: one distributed sort of the eligible accounts.
    """
    elig = scores.where(F.col("eligible")).orderBy(F.desc("score"),
                                                   F.asc(F.col("account_id").cast("string")))
    n = elig.count()
    ranked = (elig.select("node").rdd.zipWithIndex()
              .map(lambda r: (int(r[0][0]), int(r[1]) + 1))
              .toDF("node long, rank long"))
    out = scores.select("node", "score").join(ranked, "node", "left")
    return out.withColumn("percentile", F.lit(100.0) * (F.lit(n) - F.col("rank") + 1)
                          / F.lit(float(max(n, 1))))


def spark_explanations(features: DataFrame, ranks: DataFrame, model: RepeatOffenderModel,
                       cats: dict[str, list[Any]], limit: int = EXPLAIN_LIMIT) -> DataFrame:
    """``node`` and ``explanation`` (the features that pushed the score up most, as
    in-process) for the ``limit`` best-ranked accounts, with ``mapInPandas``.
    Cost: ``limit * n_features`` predictions, spread over the tasks."""
    shared = features.sparkSession.sparkContext.broadcast(model)
    top = ranks.where(F.col("rank") <= limit).select("node")

    def explain(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m = shared.value
        for pdf in batches:
            X = pandas_features(pdf.drop(columns=["node"]), cats)
            texts = explanations_text(m.explain(X)) if len(X) else []
            yield pd.DataFrame({"node": pdf["node"].to_numpy(np.int64),
                                "explanation": np.asarray(texts, dtype=object).astype(str)})

    return features.join(F.broadcast(top), "node").mapInPandas(
        explain, "node long, explanation string")


@dataclass
class SparkModelScorer:
    """The flag job's model fitted in the run, with features and scoring on Spark.

    The same model, scores and explanations as
    :class:`~ringfence.models.scoring.ModelScorer` without a saved model (``params``,
    ``seed`` and ``min_labels`` as there), computed from the driver's graph state shipped
    to ``spark``. The returned :class:`~ringfence.models.scoring.Scoring` has the scores
    in node order; ``info["spark"]`` says where each part ran.

    Examples
    --------
    >>> from ringfence.graph.spark import spark_session  # doctest: +SKIP
    >>> scoring = SparkModelScorer(spark_session()).score(tables, state)  # doctest: +SKIP
    """

    spark: SparkSession
    min_labels: int = MIN_LABELS
    params: dict[str, Any] | None = None
    seed: int = 0

    def score(self, tables: Tables, state: GraphState,
              stages: Stages | None = None) -> Scoring:
        stages = stages or Stages(quiet=True)
        g = state.graph
        nodes, y = labelled_nodes(g)
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        if n_pos < self.min_labels or n_neg < self.min_labels:
            return PropagationScorer(
                f"too few labels to fit a model: {n_pos} banned and {n_neg} cleared accounts "
                f"(need {self.min_labels} of each)").score(tables, state)
        n_folds = default_folds(len(nodes))
        fold = assign_folds(g.account_ids[nodes], n_folds)
        _check_folds(y, fold, n_folds)
        spark = self.spark
        with stages.stage("features"):
            frames = graph_frames(spark, state, tables.accounts)
            frames["status"] = spark.createDataFrame(status_passes(g, nodes, fold))
            prop = spark.createDataFrame(propagation_passes(state, nodes, fold))
            folds = spark.createDataFrame(pd.DataFrame({"node": nodes.astype(np.int64),
                                                        "fold": fold}))
            features = spark_scoring_features(
                frames, prop, folds, kind_names=g.kind_names, edge_kind_names=g.edge_kind_names,
                as_of=g.as_of, link_threshold=g.config.link_threshold).persist()
            cats = categories(frames["accounts"])
            n_features = len(features.columns) - 1
        with stages.stage("model"):
            labels = pd.DataFrame({"node": nodes, "account_id": g.account_ids[nodes],
                                   "label": y})
            model, fitted = fit_labelled(features, labels, cats, folds=fold,
                                         params=self.params, seed=self.seed)
        with stages.stage("score"):
            # honest scores for the fitted rows: their out-of-fold probability
            oof = spark.createDataFrame(pd.DataFrame({"node": fitted, "oof": model.oof_proba_}),
                                        "node long, oof double")
            status = g.status
            keys = spark.createDataFrame(pd.DataFrame({
                "node": np.arange(g.n_accounts, dtype=np.int64),
                "account_id": np.asarray(g.account_ids).astype(str),
                "eligible": ~status["banned"].to_numpy() & ~status["cleared"].to_numpy()}))
            scored = (spark_predict(features, model, cats).join(F.broadcast(oof), "node", "left")
                      .select("node", F.coalesce("oof", "score").alias("score"))
                      .join(keys, "node")).persist()  # the ranks' sort reads it twice
            ranks = spark_ranks(scored).persist()
            texts = spark_explanations(features, ranks, model, cats).toPandas()
            got = ranks.select("node", "score").toPandas()
            p = np.zeros(g.n_accounts)
            p[got["node"].to_numpy()] = got["score"].to_numpy()
            for frame in (ranks, scored, features):
                frame.unpersist()
        explanations = {int(n): t for n, t in zip(texts["node"], texts["explanation"]) if t}
        summary = {"accounts": int(g.n_accounts), "positives": n_pos, "negatives": n_neg,
                   "folds": n_folds, "features": n_features, "as_of": g.as_of.isoformat(),
                   "fitted_rows": int(len(fitted))}
        return Scoring(p, "model (fitted in this run)",
                       {"training": summary, "cv_metrics": model.cv_metrics_,
                        "features": n_features,
                        "spark": {"features": "spark (joins)", "model": "driver",
                                  "score": "spark (mapInPandas)"}}, explanations)


def _check_folds(y: np.ndarray, fold: np.ndarray, n_folds: int) -> None:
    """The in-process training set's conditions (:func:`~ringfence.models.training.training_set`)."""
    if len(np.unique(y)) < 2 or np.bincount(y, minlength=2).min() < n_folds:
        raise ValueError(f"need at least {n_folds} banned and {n_folds} cleared accounts to "
                         f"train, got {int(y.sum())} banned and {int((1 - y).sum())} cleared")
    for f in range(n_folds):
        if len(np.unique(y[fold != f])) < 2:
            raise ValueError(f"fold {f} leaves only one class to train on: too few labels")


def spark_scorer(scorer: Any, master: str | None = None) -> Any:
    """The flag job's scorer with ``--engine spark``: a :class:`SparkModelScorer` in place
    of a :class:`~ringfence.models.scoring.ModelScorer` that fits its model in the run;
    any other scorer (a saved model, propagation alone, a caller's own) as it is."""
    from ringfence.graph.spark.session import spark_session
    from ringfence.models.scoring import ModelScorer

    if isinstance(scorer, ModelScorer) and scorer.model_path is None:
        return SparkModelScorer(spark_session(master), min_labels=scorer.min_labels,
                                params=scorer.params, seed=scorer.seed)
    return scorer
