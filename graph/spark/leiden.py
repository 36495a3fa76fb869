"""Clusters on Spark when the link list does not fit on the driver: Leiden per component.

No maintained distributed Leiden exists, and with edges included one connected component
holds most accounts (89 % at 1,000,000), so the whole graph cannot be cut into
independent pieces. The fallback runs today's Leiden
(:func:`ringfence.graph.clusters.detect_communities`, the config's objective, resolution,
iterations and seed, starting from the identities) on each connected component of the
identifier pairs (accounts sharing an identifier below the hub limits), with the account
graph's links inside the component, in ``applyInPandas`` tasks
(:func:`leiden_components`; each component whole in one task, many small ones sharing a
task, which Leiden handles as one graph of disconnected parts since its clusters are
connected). run.json names the method (:data:`METHOD`).

Why those components (measured on synthetic platforms where every offender is in a
ring, ring recall / precision by :func:`ring_quality`): at 6,000 accounts in-process
Leiden gave 0.885 / 0.617, per component of the identifier pairs 0.926 / 0.981, per
component of the same-actor links 0.507 / 0.989; at 20,000 accounts 0.919 / 0.714,
0.893 / 0.979 and 0.424 / 1.0. Same-actor components hold one actor each, while a ring
is several actors sharing devices, cards and proxies; the pair components keep a ring
together and leave out the bystanders that only transfers tie to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ringfence.graph.clusters import detect_communities
from ringfence.graph.config import GraphConfig

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["METHOD", "leiden_components", "leiden_per_component", "ring_quality"]

#: how run.json names the fallback
METHOD = "Leiden per component"

_SCHEMA = "node long, label long"


def leiden_components(nodes: pd.DataFrame, links: pd.DataFrame,
                      config: GraphConfig) -> pd.DataFrame:
    """Leiden clusters of whole components: the body of :func:`leiden_per_component`'s tasks.

    Parameters
    ----------
    nodes : pandas.DataFrame
        The components' accounts: ``node``, ``identity`` (starting group, -1: alone)
        and ``account_id`` (the vertices are ordered by its hash, as
        :func:`ringfence.graph.clusters.find_clusters` orders them, so that clusters do
        not depend on node numbers).
    links : pandas.DataFrame
        ``a``, ``b``, ``weight``: the account graph's links inside the components.
    config : GraphConfig
        ``cluster_method``, ``cluster_objective``, ``cluster_resolution``,
        ``cluster_iterations``, ``seed``.

    Returns
    -------
    pandas.DataFrame
        ``node``, ``label`` (the smallest node of its cluster) for the accounts in a
        cluster.

    Examples
    --------
    >>> nodes = pd.DataFrame({"node": [3, 4, 5, 6], "identity": [0, 0, -1, -1],
    ...                       "account_id": ["c", "d", "e", "f"]})
    >>> links = pd.DataFrame({"a": [3, 3, 4, 5], "b": [4, 5, 5, 6],
    ...                       "weight": [1.0, 1.0, 1.0, 0.01]})
    >>> leiden_components(nodes, links, GraphConfig()).values.tolist()  # f hangs on by a thread
    [[3, 3], [4, 3], [5, 3]]
    """
    order = np.argsort(pd.util.hash_array(nodes["account_id"].astype(str).to_numpy(object)),
                       kind="stable")
    ids = nodes["node"].to_numpy(np.int64)[order]
    by_node = np.argsort(ids)
    n = len(ids)

    def local(col: str) -> np.ndarray:
        return by_node[np.searchsorted(ids[by_node], links[col].to_numpy(np.int64))]

    la, lb = local("a"), local("b")
    w = links["weight"].to_numpy(np.float64)
    adj = sp.coo_array((np.concatenate([w, w]), (np.concatenate([la, lb]),
                                                 np.concatenate([lb, la]))), shape=(n, n)).tocsr()
    start = nodes["identity"].to_numpy(np.int64)[order] \
        if config.cluster_method == "leiden" else None
    found = detect_communities(adj, method=config.cluster_method,
                               objective=config.cluster_objective,
                               resolution=config.cluster_resolution,
                               n_iterations=config.cluster_iterations, seed=config.seed,
                               initial_membership=start)
    inside = found >= 0
    smallest = pd.Series(ids[inside]).groupby(found[inside]).transform("min").to_numpy()
    out = pd.DataFrame({"node": ids[inside], "label": smallest})
    return out.sort_values("node", ignore_index=True)


def leiden_per_component(links: "DataFrame", nodes: "DataFrame",
                         config: GraphConfig | None = None) -> "DataFrame":
    """Clusters by Leiden run separately on each component, on Spark.

    Parameters
    ----------
    links : pyspark.sql.DataFrame
        The account graph's links: ``a``, ``b``, ``weight`` (identifier pairs and edge
        links; links between components are left out).
    nodes : pyspark.sql.DataFrame
        ``node``, ``component`` (:func:`ringfence.graph.spark.components.connected_components`
        of the identifier pairs), ``identity`` (-1: none) and ``account_id``.
    config : GraphConfig, optional
        The cluster settings (default ``GraphConfig()``).

    Returns
    -------
    pyspark.sql.DataFrame
        ``node``, ``cluster``: clusters of two or more accounts numbered 0.. by
        descending size, ties by smallest member node (as
        :func:`ringfence.graph.clusters.detect_communities` numbers them); accounts in
        no cluster are absent.

    Notes
    -----
    Cost: two joins of the links with the components, then Leiden on the components of
    each of :func:`~ringfence.graph.spark.components.buckets` tasks (about linear in
    their links); a component larger than an executor's memory cannot be clustered this
    way.

    Examples
    --------
    >>> clusters = leiden_per_component(links, nodes, GraphConfig())  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    from ringfence.graph.spark.components import buckets, materialise, number_by_size

    config = config or GraphConfig()
    bucket = (F.abs(F.hash("component")) % buckets(links.sparkSession)).alias("bucket")
    comp = nodes.select(F.col("node").cast("long"), F.col("component").cast("long"),
                        F.col("identity").cast("long"), F.col("account_id").cast("string"))
    ends = comp.select(F.col("node").alias("a"), "component")
    inside = (links.select(F.col("a").cast("long"), F.col("b").cast("long"),
                           F.col("weight").cast("double"))
              .join(ends, "a")
              .join(ends.select(F.col("a").alias("b"), F.col("component").alias("cb")), "b")
              .where(F.col("component") == F.col("cb")).select(bucket, "a", "b", "weight"))

    def run(key, node_rows: pd.DataFrame, link_rows: pd.DataFrame) -> pd.DataFrame:
        if link_rows.empty:
            return pd.DataFrame({"node": np.empty(0, np.int64), "label": np.empty(0, np.int64)})
        return leiden_components(node_rows, link_rows, config)

    labels = materialise(comp.select(bucket, "node", "identity", "account_id")
                         .groupBy("bucket").cogroup(inside.groupBy("bucket"))
                         .applyInPandas(run, _SCHEMA), reliable=True)
    numbers = number_by_size(labels)
    return labels.join(numbers, "label").select("node", F.col("number").alias("cluster"))


def ring_quality(cluster: np.ndarray, ring: np.ndarray) -> tuple[float, float]:
    """How well clusters recover planted rings: mean recall and precision over rings.

    A ring's main cluster is the one holding most of its members (the smallest id on a
    tie); recall is the share of the ring in it, precision the share of that cluster
    from the ring. A ring with no member in a cluster scores 0 and 0. This is how the
    Spark fallback is held to the in-process clusters (docs/engines.md).

    Parameters
    ----------
    cluster : numpy.ndarray of int
        Cluster id per account, -1 for none.
    ring : numpy.ndarray of int
        Planted ring per account (``0..k-1``), -1 for none.

    Returns
    -------
    (float, float)
        Mean recall and mean precision (NaN without rings).

    Examples
    --------
    >>> ring_quality(np.array([0, 0, 0, 1, 1, -1]), np.array([0, 0, 1, 1, 1, -1]))
    (0.8333333333333333, 0.8333333333333333)
    """
    cluster, ring = np.asarray(cluster, np.int64), np.asarray(ring, np.int64)
    k = int(ring.max(initial=-1)) + 1
    if not k:
        return float("nan"), float("nan")
    ring_size = np.bincount(ring[ring >= 0], minlength=k)
    cluster_size = np.bincount(cluster[cluster >= 0])
    both = (ring >= 0) & (cluster >= 0)
    counts = pd.DataFrame({"ring": ring[both], "cluster": cluster[both]}) \
        .value_counts().rename("n").reset_index() \
        .sort_values(["ring", "n", "cluster"], ascending=[True, False, True]) \
        .drop_duplicates("ring")
    recall, precision = np.zeros(k), np.zeros(k)
    r, c, hits = (counts[col].to_numpy() for col in ("ring", "cluster", "n"))
    recall[r] = hits / ring_size[r]
    precision[r] = hits / cluster_size[c]
    return float(recall.mean()), float(precision.mean())
