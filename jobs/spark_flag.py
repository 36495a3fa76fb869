"""The flag job beyond the driver: from the graph stages' Spark tables to the run folder.

When the links outnumber ``spark_driver_max_links``, the graph stages run on Spark
(:func:`ringfence.graph.spark.state.graph_beyond_driver`) and :func:`flag_beyond_driver`
takes their :class:`~ringfence.graph.spark.state.SparkGraphState` to the end: the
features and scores on Spark with the model fitted on the driver
(:func:`ringfence.models.spark_beyond.score_beyond_driver`), the queue chosen on Spark
(its top ``k`` by rank), the reasons and evidence of those ``k`` accounts on the driver
from the links around them (:func:`ringfence.jobs.spark_outputs.local_graph`), and the
output tables as Spark DataFrames with the in-process columns
(:mod:`ringfence.jobs.spark_outputs`), written as Parquet folders by
:func:`ringfence.jobs.runs.write_run`.
"""

from __future__ import annotations

import platform
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from ringfence.graph.build import account_status
from ringfence.graph.masking import Masker
from ringfence.graph.progress import Stages, peak_rss_mib
from ringfence.graph.subgraph import keep_around
from ringfence.graph.tables import Tables
from ringfence.jobs.config import JobConfig
from ringfence.jobs.continuity import Previous, queue_table
from ringfence.jobs.flag import FlagResult, _evidence, _versions, run_parameters, summary_tail
from ringfence.jobs.spark_outputs import (carried_groups, clusters_frame, identities_frame,
                                          latest_decisions, links_frame, local_graph,
                                          scores_frame, vs_previous_frame)
from ringfence.models.spark_beyond import score_beyond_driver

__all__ = ["SparkFlagResult", "flag_beyond_driver"]


@dataclass
class SparkFlagResult(FlagResult):
    """A flag job's result beyond the driver: ``scores``, ``identities``, ``links`` and
    ``clusters`` are Spark DataFrames (written as Parquet folders, never collected);
    ``evidence`` and the queue (``k`` rows) are pandas. ``state`` is None (the graph is
    on Spark: ``spark_state`` holds it)."""

    queue_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    spark_state: Any = field(default=None, repr=False)

    @property
    def queue(self) -> pd.DataFrame:
        """The flagged accounts in rank order (the ``queue`` output), chosen on Spark."""
        return self.queue_rows

    def top(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` highest-ranked flagged accounts with their reasons."""
        return self.queue_rows.head(n)[["account_id", "score", "rank", "reasons"]]


def _collect_flagged(scores: Any) -> pd.DataFrame:
    """The flagged rows of the Spark ``scores`` (``k`` of them) with the in-process dtypes:
    times in UTC whatever the session's time zone, ranks as nullable integers."""
    times = ("decided_at", "first_flagged_at")
    rows = scores.where(F.col("flagged")).select(
        *[F.unix_micros(c).alias(c) if c in times else c for c in scores.columns]).toPandas()
    for c in times:
        rows[c] = pd.to_datetime(rows[c], unit="us", utc=True)
    rows["rank"] = rows["rank"].astype("Int64")
    return rows


def flag_beyond_driver(tables: Tables, config: JobConfig, error: Any, *, masker: Masker,
                       stages: Stages, row_counts: dict[str, Any], t0: float,
                       previous: Previous | None = None) -> SparkFlagResult:
    """The flag job's scoring, ranking, explaining and output tables from the graph
    stages' Spark tables (``error``: the engine's
    :class:`~ringfence.graph.spark.engine.DriverLimitError`, its ``state`` and ``info``).

    A saved model (``config.model``) scores instead of one fitted in the run; with
    ``previous`` (:class:`~ringfence.jobs.continuity.Previous`) identities and clusters
    carry its ids and ``scores`` says each account's status against it, by the
    in-process rules.

    Collected to the driver: the labelled accounts' features (to fit the model), the
    explained top of the ranking, the queue (``k`` rows), the links around the queued
    accounts (their evidence) and a few counts; with ``previous``, each account's
    identity, cluster, score and flag (n values each: the accounts table is on the driver
    already). Cost: the graph stages' plus the features' joins, one batched propagation for
    all folds and one sort for the ranks, on Spark; the ``scores`` and ``identities`` tables
    are cached, so collecting the queue, counting and writing compute them once.
    """
    state, info = error.state, error.info
    gc = config.graph
    spark = state.status.sparkSession
    account_ids = tables.accounts["account_id"].to_numpy(dtype=object)
    index = pd.Index(account_ids)
    n = len(account_ids)
    scoring = score_beyond_driver(state, tables, gc, use_model=config.use_model,
                                  model_path=None if config.model is None else str(config.model),
                                  max_age_days=config.max_model_age_days, seed=gc.seed,
                                  stages=stages)
    with stages.stage("rank and explain"):
        ranks = scoring.ranks
        capacity = config.capacity_for(n)
        if config.threshold is not None:
            flagged = (F.col("rank").isNotNull() & (F.col("score") >= F.lit(config.threshold))
                       & (F.col("score") > 0))
        else:
            flagged = (F.col("rank") <= F.lit(capacity)) & (F.col("score") > 0)
        # the queue on Spark: only its k rows reach the driver
        top = (ranks.where(flagged).orderBy("rank").select("node", "rank").toPandas())
        flagged_nodes = top["node"].to_numpy(np.int64)
        status = account_status(tables, index, state.as_of, gc)
        graph = local_graph(spark, state, status, account_ids, flagged_nodes, gc)
        reasons, evidence = _evidence(graph, flagged_nodes, scoring.explanations, masker,
                                      config.max_paths)
        reason_rows = spark.createDataFrame(
            pd.DataFrame({"node": flagged_nodes,
                          "reasons": reasons[flagged_nodes].astype(str)}),
            "node long, reasons string")
        log = tables.decisions
        decisions = latest_decisions(spark, log, None if log is None
                                     else tables.account_positions("decisions"))
        numbered, maps, vs_previous, statuses = state, {}, None, None
        if previous is not None:  # the previous run's ids and each account's status against it
            state, maps, id_counters = carried_groups(numbered, account_ids, previous)
            vs_previous, statuses = vs_previous_frame(spark, ranks, flagged, account_ids,
                                                      previous, state.as_of,
                                                      config.score_tolerance)
        # the queue is collected from the scores and the run writes them: computed once
        # (without the cache the write ran the scores' joins and shuffles again)
        scores = scores_frame(state, ranks, flagged, reason_rows, decisions, state.as_of,
                              vs_previous).persist()
        kept_links = links_frame(state, masker, gc).persist()
        links = kept_links.drop("a", "b")
        # counted here and written later: computed once
        identities = identities_frame(numbered, kept_links, maps.get("identity")).persist()
        per_node = (state.status.select("node").join(ranks.select("node", "rank", "score"),
                                                     "node", "left")
                    .select("node", F.coalesce(flagged, F.lit(False)).alias("flagged"))
                    .join(decisions.select("node", "decision"), "node", "left"))
        clusters = clusters_frame(state, per_node, state.as_of)
        queue = queue_table(_collect_flagged(scores))
        around = keep_around(graph, flagged_nodes, masker, enforcement=tables.enforcement)
        n_ident, largest = identities.agg(F.count(F.lit(1)), F.max("size")).first()
        n_clusters, top_cluster = state.clusters.agg(F.countDistinct("cluster"),
                                                     F.max("cluster")).first()
    banned, cleared = int(status["banned"].sum()), int(status["cleared"].sum())
    summary = {
        "accounts": n, "banned": banned, "cleared": cleared, "identities": int(n_ident),
        "largest_identity": int(largest or 0), "identities_split": int(state.n_split),
        "clusters": int(n_clusters), "flagged": int(len(flagged_nodes)),
        **({"vs_previous": ", ".join(f"{c:,} {k}" for k, c in statuses.value_counts().items()
                                     if k != "not_flagged")} if previous is not None else {}),
        **summary_tail(scoring, tables, masker, t0),
    }
    parameters = run_parameters(config, capacity)
    graph_summary = {**graph.summary(), "sharing_pairs": int(info["identifier_pairs"]),
                     "edge_pairs": int(info["edge_links"])}
    engine = {"name": "spark", **info,
              "stages": {"load and validate": "spark (identifiers, edges); driver (accounts, "
                                              "enforcement, decisions)",
                         "build graph": "spark (identifier usage, hub limits, pairs and "
                                        "weights, edge aggregation); nothing of the links' "
                                        "size collected",
                         "link identities": "spark (beyond the driver)",
                         "find clusters": "spark (beyond the driver)",
                         "propagate blacklist": "spark (beyond the driver)",
                         **scoring.info.pop("spark", {"score": "spark (propagation scores)"}),
                         "queue": "spark (top k by rank); reasons and evidence of the k "
                                  "queued accounts on the driver, from the links around them",
                         "outputs": "spark (Parquet folders)"},
              "beyond_driver": True, "fallbacks": dict(state.fallbacks)}
    prop_meta = {k: (float(v) if isinstance(v, float) else v)
                 for k, v in state.propagation_meta.items()}
    run = {
        "run_id": uuid.uuid4().hex,
        "as_of": state.as_of.isoformat(),
        **({"previous": previous.reference()} if previous is not None else {}),
        "id_counters": id_counters if previous is not None else
        {"identity": int(n_ident) - 1, "cluster": int(top_cluster) if n_clusters else -1},
        "parameters": parameters,
        "inputs": {name: {"source": src} for name, src in tables.sources.items()},
        "row_counts": row_counts,
        "graph": graph_summary,
        "propagation": prop_meta,
        "propagation_warnings": list(state.warnings),
        "model": {"mode": scoring.mode, **scoring.info},
        "masking": {"persistent_key": masker.persistent, "key_source": masker.source,
                    "key_fingerprint": masker.fingerprint()},
        "input_notes": list(tables.notes),
        "warnings": list(tables.warnings) + list(scoring.info.get("warnings", [])),
        "time_format": tables.time_format,
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "stage_seconds": dict(stages.timings),
        "stage_peak_rss_mib": dict(stages.peak_mib),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "summary": summary,
        "subgraph": dict(around.info),
        "engine": engine,
    }
    return SparkFlagResult(scores=scores, identities=identities, links=links,
                           clusters=clusters, evidence=evidence, run=run, state=None,
                           subgraph=around, masker=masker, queue_rows=queue,
                           spark_state=state)
