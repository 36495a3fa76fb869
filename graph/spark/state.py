"""The graph stages when the links do not fit on the driver: every table stays on Spark.

:func:`graph_beyond_driver` takes what :func:`~ringfence.graph.spark.build.pair_frames`
built and runs the linker (:func:`~ringfence.graph.spark.linking.spark_link`), the
identities (:func:`~ringfence.graph.spark.components.spark_identities` of the same-actor
links), the clusters (:func:`~ringfence.graph.spark.leiden.leiden_per_component`) and the
propagation (:func:`~ringfence.graph.spark.pagerank.spark_propagation`), and returns a
:class:`SparkGraphState`: Spark DataFrames keyed by node, plus small driver tables.

pyspark is imported inside the functions: :mod:`ringfence.graph` imports every module of
the package (its docstrings are tested) without the ``spark`` extra.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ringfence.graph.build import _ns, account_status
from ringfence.graph.config import GraphConfig
from ringfence.graph.spark.leiden import METHOD
from ringfence.graph.spark.linking import SparkLinks, spark_link
from ringfence.graph.tables import Tables

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["FALLBACKS", "SparkGraphState", "graph_beyond_driver", "spark_status"]

#: how run.json names what ran instead of the driver's stages
FALLBACKS = {
    "identities": "connected components of the same-actor links on Spark (large-star / "
                  "small-star), oversized ones split by ringfence's routine per component",
    "clusters": f"{METHOD} of the identifier pairs (Leiden on each connected component "
                "of accounts sharing an identifier below the hub limits)",
    "propagation": "personalised PageRank as joins on Spark, to the config's tolerance",
}


@dataclass
class SparkGraphState:
    """The graph stages' results on Spark (the links did not fit on the driver).

    Every DataFrame is keyed by ``node`` (the account's position in
    ``tables.accounts``, as in-process) or by a node pair ``a < b``.

    Attributes
    ----------
    status : pyspark.sql.DataFrame
        One row per account: ``node``, ``account_id``, ``banned``, ``cleared``,
        ``lifted``, ``violations``, ``seed_weight`` (booleans, int, float as
        :func:`ringfence.graph.build.account_status`), ``ban_ns``, ``first_ns``,
        ``last_ns`` (the ban in force, the first and the last activity, ns since the
        epoch; ``-2**63`` when none).
    links : pyspark.sql.DataFrame
        Every candidate pair of the linker: ``a``, ``b``, ``match_weight``,
        ``match_probability``, ``link_kind`` (``same_actor`` / ``shared_environment``),
        ``decided`` (reviewer's decision or ``""``), ``bf_<comparison>`` (log2 Bayes
        factors), ``cut`` (a same-actor link dropped by a split or a decision apart).
    identities : pyspark.sql.DataFrame
        ``node``, ``identity``: accounts in an identity of two or more, numbered 0.. by
        descending size, ties by smallest node (as in-process); absent: no identity (-1).
    clusters : pyspark.sql.DataFrame
        ``node``, ``cluster``: clusters of two or more accounts numbered 0.. by
        descending size; absent: no cluster (-1).
    propagation : pyspark.sql.DataFrame
        One row per account: ``node``, ``propagation_raw``, ``propagation``,
        ``propagation_score``, ``seed``, ``cleared`` (as
        :func:`ringfence.graph.propagate.propagate_blacklist`).
    graph_links : pyspark.sql.DataFrame
        The account graph's links: ``a``, ``b``, ``weight``, ``source`` (``"identifier"``
        pairs with their hub-aware weights, ``"edge"`` links); a pair may have both.
    linker : SparkLinks
        The fitted model: pattern table, m/u, classifier (driver objects).
    propagation_meta : dict
        ``iterations``, ``converged``, ``error``.
    n_split : int
        Identities above ``max_identity_size`` before the split.
    fallbacks : dict
        Stage -> what ran instead of the driver's code (:data:`FALLBACKS`), for run.json.
    warnings : list of str
        Warnings of the propagation (no seeds, no convergence).
    frames : dict
        What :func:`~ringfence.graph.spark.build.pair_frames` built (``uses``,
        ``pairs``, ``links_by_edge``, ``ident``, the kind names): the flag job's
        features and evidence read them.
    as_of : pandas.Timestamp or None
        The time ages are measured from.
    """

    status: "DataFrame"
    links: "DataFrame"
    identities: "DataFrame"
    clusters: "DataFrame"
    propagation: "DataFrame"
    graph_links: "DataFrame"
    linker: SparkLinks
    propagation_meta: dict
    n_split: int
    fallbacks: dict = field(default_factory=lambda: dict(FALLBACKS))
    warnings: list = field(default_factory=list)
    frames: dict = field(default_factory=dict)
    as_of: pd.Timestamp | None = None


def spark_status(spark: "SparkSession", tables: Tables, frames: dict, config: GraphConfig,
                 as_of: pd.Timestamp) -> "DataFrame":
    """:attr:`SparkGraphState.status`: the enforcement status on the driver (the accounts
    and enforcement tables are there already), the first and last activity on Spark (the
    earliest and latest of creation, enforcement, identifier use and edge time, as
    :func:`ringfence.graph.build._activity_span`)."""
    from pyspark.sql import functions as F

    from ringfence.graph.spark.build import _MISSING_US

    acc = tables.accounts
    index = pd.Index(acc["account_id"].to_numpy(dtype=object))
    st = account_status(tables, index, as_of, config)
    n = len(index)
    nat = np.iinfo(np.int64).min
    base = np.full(n, np.iinfo(np.int64).max)
    top = np.full(n, nat)
    if "created_at" in acc.columns:
        created = _ns(acc["created_at"])
        ok = created != nat
        base[ok] = created[ok]
        top[ok] = created[ok]
    enf = tables.enforcement
    if enf is not None and "at" in enf.columns:
        at, nodes = _ns(enf["at"]), tables.account_positions("enforcement")
        ok = at != nat
        np.minimum.at(base, nodes[ok], at[ok])
        np.maximum.at(top, nodes[ok], at[ok])
    driver = pd.DataFrame({
        "node": np.arange(n, dtype=np.int64), "account_id": index.astype(str).to_numpy(object),
        "banned": st["banned"].to_numpy(bool), "cleared": st["cleared"].to_numpy(bool),
        "lifted": st["lifted"].to_numpy(bool) if "lifted" in st else np.zeros(n, bool),
        "violations": st["violations"].to_numpy(np.int64),
        "seed_weight": st["seed_weight"].to_numpy(float),
        "ban_ns": pd.DatetimeIndex(st["ban_at"]).asi8, "base_ns": base, "top_ns": top})
    times = []
    if frames["uses"] is not None:
        times.append(frames["uses"].select("node", F.col("first_us").alias("lo"),
                                           F.col("last_us").alias("hi")))
    if frames["edge_span"] is not None:
        times.append(frames["edge_span"].select("node", "lo", "hi"))
    out = spark.createDataFrame(driver)
    if times:
        seen = times[0]
        for t in times[1:]:
            seen = seen.unionByName(t)
        missing = F.lit(_MISSING_US)
        seen = seen.groupBy("node").agg(
            (F.min(F.when(F.col("lo") != missing, F.col("lo"))) * 1000).alias("seen_ns"),
            (F.max(F.when(F.col("hi") != missing, F.col("hi"))) * 1000).alias("seen_last_ns"))
        out = out.join(seen, "node", "left")
    else:
        out = out.withColumn("seen_ns", F.lit(None).cast("long")) \
            .withColumn("seen_last_ns", F.lit(None).cast("long"))
    first = F.least(F.col("base_ns"), F.coalesce("seen_ns", F.col("base_ns")))
    first = F.when(first == np.iinfo(np.int64).max, F.lit(nat)).otherwise(first)
    last = F.greatest(F.col("top_ns"), F.coalesce("seen_last_ns", F.col("top_ns")))
    return out.select("node", "account_id", "banned", "cleared", "lifted", "violations",
                      "seed_weight", "ban_ns", first.alias("first_ns"), last.alias("last_ns"))


def graph_beyond_driver(spark: "SparkSession", tables: Tables, config: GraphConfig,
                        frames: dict, as_of: pd.Timestamp,
                        stop_after: str = "propagation",
                        max_identifiers: int | None = None) -> SparkGraphState:
    """Identities, clusters and propagation with every pair and link kept on Spark.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    tables : Tables
        The accounts, enforcement and link decisions on the driver (the identifiers and
        edges already in ``frames``).
    config : GraphConfig
    frames : dict
        :func:`~ringfence.graph.spark.build.pair_frames`'s result.
    as_of : pandas.Timestamp
    stop_after : str
        ``"identities"``, ``"clusters"`` or ``"propagation"``; later stages' fields are
        None.
    max_identifiers : int, optional
        Most distinct identifiers normalised on the driver; beyond, on Spark
        (:func:`~ringfence.graph.spark.levels.driver_max_identifiers`).

    Returns
    -------
    SparkGraphState

    Notes
    -----
    Cost: :func:`~ringfence.graph.spark.linking.spark_link`, connected components twice
    (same-actor links; identifier pairs for the clusters), Leiden per component, and
    about ``config.max_iter`` joins of the links for the propagation. Nothing of size
    pairs or links reaches the driver.

    Examples
    --------
    >>> state = graph_beyond_driver(spark, tables, config, frames, as_of)  # doctest: +SKIP
    >>> state.identities.toPandas()  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    from ringfence.graph.spark.components import (connected_components, materialise,
                                                  spark_identities)
    from ringfence.graph.spark.leiden import leiden_per_component
    from ringfence.graph.spark.pagerank import spark_propagation

    status = materialise(spark_status(spark, tables, frames, config, as_of), reliable=False)
    decisions = getattr(tables, "link_decisions", None)
    dec = None
    if decisions is not None and len(decisions):
        index = pd.Index(tables.accounts["account_id"].astype(str).to_numpy(object))
        dec = pd.DataFrame({
            "a": index.get_indexer(decisions["account_a"].astype(str).to_numpy(object)),
            "b": index.get_indexer(decisions["account_b"].astype(str).to_numpy(object)),
            "decision": decisions["decision"].astype(str).to_numpy(object)})
    linker = spark_link(frames, status, config, decisions=dec, max_identifiers=max_identifiers)
    apart = None
    if dec is not None and (dec["decision"] == "different_actors").any():
        apart = spark.createDataFrame(dec[dec["decision"] == "different_actors"][["a", "b"]])
    same = linker.pairs.where(F.col("link_kind") == "same_actor") \
        .select("a", "b", F.col("match_weight").alias("weight"))
    found = spark_identities(same, int(linker.settings["max_identity_size"]), apart=apart)
    cut = found.links.where("cut").select("a", "b", F.lit(True).alias("cut"))
    links = linker.pairs.join(cut, ["a", "b"], "left") \
        .withColumn("cut", F.coalesce("cut", F.lit(False)))
    parts = []
    if frames["pairs"] is not None:
        parts.append(frames["pairs"].select("a", "b", "weight",
                                            F.lit("identifier").alias("source")))
    if frames["links_by_edge"] is not None:
        parts.append(frames["links_by_edge"].select("a", "b", "weight",
                                                    F.lit("edge").alias("source")))
    graph_links = parts[0] if parts else spark.createDataFrame(
        [], "a long, b long, weight double, source string")
    for p in parts[1:]:
        graph_links = graph_links.unionByName(p)
    state = SparkGraphState(status=status, links=links, identities=found.nodes, clusters=None,
                            propagation=None, graph_links=graph_links, linker=linker,
                            propagation_meta={}, n_split=found.n_split, frames=frames,
                            as_of=as_of)
    if stop_after == "identities":
        return state
    if frames["pairs"] is not None:
        comp = connected_components(frames["pairs"].select("a", "b"))
        nodes = (status.select("node", "account_id").join(comp, "node")
                 .join(found.nodes, "node", "left")
                 .select("node", "component", "account_id",
                         F.coalesce("identity", F.lit(-1)).alias("identity")))
        state.clusters = leiden_per_component(graph_links.select("a", "b", "weight"), nodes,
                                              config)
    else:
        state.clusters = spark.createDataFrame([], "node long, cluster long")
    if stop_after == "clusters":
        return state
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state.propagation, state.propagation_meta = spark_propagation(
            graph_links.select("a", "b", "weight"), status, config)
    state.warnings = [str(w.message) for w in caught]
    return state
