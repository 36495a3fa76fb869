"""Connected components and identities on Spark, for link lists too large for the driver.

:func:`connected_components`
    Alternating large-star / small-star (Kiveris et al. 2014, "Connected Components in
    MapReduce and Beyond") as DataFrame joins, until every component is a star; a
    component's id is its smallest node.
:func:`spark_identities`
    The identities of :func:`ringfence.graph.identity.link_identities` from its
    ``same_actor`` links: components, those above ``max_identity_size`` split and pairs a
    reviewer decided apart separated by ringfence's own routines
    (:func:`~ringfence.graph.identity.split_components`,
    :func:`~ringfence.graph.identity.separate_decided`) in ``applyInPandas`` tasks
    (:func:`cut_components`; a component is never divided between tasks), identities
    numbered as in-process.

pyspark is imported inside the functions: :mod:`ringfence.graph` imports every module of
the package (its docstrings are tested) without the ``spark`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components as _scipy_components

from ringfence.graph.identity import separate_decided, split_components

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["SparkIdentities", "buckets", "connected_components", "cut_components",
           "materialise", "number_by_size", "spark_identities"]

#: the rows :func:`cut_components` returns, one per link
SPLIT_SCHEMA = "a long, b long, kept boolean, piece_a long, piece_b long"


def materialise(df: "DataFrame", *, reliable: bool, eager: bool = True) -> "DataFrame":
    """``df`` computed once and its lineage cut: a reliable checkpoint (written from a
    cache, so computed once) when asked and the session has a checkpoint directory, else
    a local one (kept by the executors).

    Iterative joins build a query plan that repeats the previous round's several times
    (8 times a round for :func:`connected_components`): without a cut, four rounds make
    a plan the driver cannot even print. A local checkpoint is cheap but lost with its
    executor (dynamic allocation removes executors): the reliable ones every few rounds
    bound what is recomputed.

    ``eager=False`` (local checkpoints only) cuts the lineage at once but computes the
    rows in the first job that reads them, keeping them for the later ones: for a frame
    that an action reads whole right away (a convergence test, a count), that action's
    job computes it instead of a job of its own. The rows are the same either way.

    Examples
    --------
    >>> edges = materialise(spark.range(4).toDF("v"), reliable=False, eager=False)  # doctest: +SKIP
    >>> edges.count()  # one job: computes the rows, keeps them and counts  # doctest: +SKIP
    4
    """
    from pyspark import StorageLevel

    if reliable and df.sparkSession.sparkContext.getCheckpointDir():
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        out = df.checkpoint(eager=True)
        df.unpersist()
        return out
    return df.localCheckpoint(eager=eager)


def _large_star(edges: "DataFrame") -> "DataFrame":
    """Every node's larger neighbours attached to the smallest node of its neighbourhood."""
    from pyspark.sql import functions as F

    sym = edges.select(F.col("v").alias("x"), F.col("p").alias("y")).unionByName(
        edges.select(F.col("p").alias("x"), F.col("v").alias("y")))
    smallest = sym.groupBy("x").agg(F.min("y").alias("m")) \
        .select("x", F.least("x", "m").alias("m"))
    return (sym.join(smallest, "x").where(F.col("y") > F.col("x"))
            .select(F.col("y").alias("v"), F.col("m").alias("p")).distinct())


def _small_star(edges: "DataFrame") -> "DataFrame":
    """Every node and its smaller neighbours attached to the smallest of them."""
    from pyspark.sql import functions as F

    smallest = edges.groupBy("v").agg(F.min("p").alias("m"))
    moved = (edges.join(smallest, "v").where(F.col("p") > F.col("m"))
             .select(F.col("p").alias("v"), F.col("m").alias("p")))
    return smallest.select("v", F.col("m").alias("p")).unionByName(moved).distinct()


def _all_stars(edges: "DataFrame") -> bool:
    """Every node has one parent and no parent has one: each component is a star."""
    from pyspark.sql import functions as F

    roles = edges.select(F.col("v").alias("node"), F.lit(1).alias("parents"),
                         F.lit(False).alias("parent")).unionByName(
        edges.select(F.col("p").alias("node"), F.lit(0).alias("parents"),
                     F.lit(True).alias("parent")))
    per_node = roles.groupBy("node").agg(F.sum("parents").alias("k"),
                                         F.max("parent").alias("parent"))
    bad = (F.col("k") > 1) | ((F.col("k") == 1) & F.col("parent"))
    return not per_node.agg(F.max(bad.cast("int"))).first()[0]


def connected_components(links: "DataFrame", *, a: str = "a", b: str = "b",
                         checkpoint_every: int = 4, max_rounds: int = 100) -> "DataFrame":
    """Connected components of an undirected link list, as Spark joins.

    Alternates large-star and small-star (Kiveris, Lattanzi, Mirrokni, Rastogi and
    Vassilvitskii, "Connected Components in MapReduce and Beyond", SoCC 2014) over the
    links oriented from the larger node to the smaller one, until every component is a
    star around its smallest node (each node has one parent, no parent has one). No
    component is ever gathered into one task: a node's neighbours are reduced by ``min``
    (partial aggregation), so a hub costs its rows, not an array.

    Parameters
    ----------
    links : pyspark.sql.DataFrame
        One row per link with integer node columns ``a`` and ``b`` (any order;
        duplicates and self-links are ignored).
    a, b : str
        The node columns.
    checkpoint_every : int, default 4
        Rounds between reliable checkpoints (to the session's checkpoint directory);
        local checkpoints in the other rounds (see :func:`materialise`).
    max_rounds : int, default 100
        A bound that is never reached in practice (the rounds grow as log^2 of the
        number of nodes at worst; a chain of 400 nodes numbered at random took 8).

    Returns
    -------
    pyspark.sql.DataFrame
        ``node``, ``component`` (long): every node of a link, with the smallest node
        of its component (computed: a local checkpoint).

    Raises
    ------
    RuntimeError
        Not every component was a star after ``max_rounds`` rounds.

    Notes
    -----
    Cost: O(log^2 n) rounds at worst, each a few shuffles of the current edge list (at
    most the number of links), a checkpoint and a star test (one aggregation).

    Examples
    --------
    >>> links = spark.createDataFrame([(1, 2), (3, 2), (7, 8)], "a long, b long")  # doctest: +SKIP
    >>> connected_components(links).orderBy("node").collect()  # doctest: +SKIP
    [Row(node=1, component=1), Row(node=2, component=1), Row(node=3, component=1),
     Row(node=7, component=7), Row(node=8, component=7)]
    """
    from pyspark.sql import functions as F

    edges = (links.select(F.greatest(a, b).cast("long").alias("v"),
                          F.least(a, b).cast("long").alias("p"))
             .where(F.col("v") != F.col("p")).distinct())
    edges = materialise(edges, reliable=False)
    for rnd in range(1, max_rounds + 1):
        # a local checkpoint is computed by the star test's job (one job a round, not two)
        reliable = rnd % checkpoint_every == 0
        edges = materialise(_small_star(_large_star(edges)), reliable=reliable,
                            eager=reliable)
        if _all_stars(edges):
            break
    else:
        raise RuntimeError(f"connected components: not every component was a star after "
                           f"{max_rounds} rounds")
    roots = edges.select(F.col("p").alias("node"), F.col("p").alias("component")).distinct()
    return materialise(edges.select(F.col("v").alias("node"), F.col("p").alias("component"))
                       .unionByName(roots), reliable=False)


def _labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m = sp.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    return _scipy_components(m, directed=False)[1]


def buckets(session) -> int:
    """How many ``applyInPandas`` tasks share the components: the session's shuffle
    partitions (many small components per task, so the per-group cost of a Python
    worker is paid per bucket, not per component)."""
    return max(1, int(session.conf.get("spark.sql.shuffle.partitions")))


def cut_components(links: pd.DataFrame, apart: pd.DataFrame, max_size: int) -> pd.DataFrame:
    """Whole components' links after ringfence's split and reviewer separation.

    The body of the ``applyInPandas`` tasks of :func:`spark_identities`: the links of
    one or more whole connected components (``a``, ``b``, ``weight``), those with more
    than ``max_size`` nodes split by :func:`~ringfence.graph.identity.split_components`,
    then separated by :func:`~ringfence.graph.identity.separate_decided` where a pair
    of ``apart`` (``a``, ``b``: accounts a reviewer decided are different actors) would
    be joined. Both routines work component by component, so a task holding several
    components gives what one task per component would.

    Returns
    -------
    pandas.DataFrame
        One row per link: ``a``, ``b``, ``kept`` (False: cut), ``piece_a``,
        ``piece_b`` (the smallest node of each end's piece after the cuts).

    Notes
    -----
    Cost: that of the two routines on these components alone.

    Examples
    --------
    >>> links = pd.DataFrame({"a": [10, 11, 12], "b": [11, 12, 13],
    ...                       "weight": [5.0, 1.0, 5.0]})
    >>> out = cut_components(links, pd.DataFrame({"a": [], "b": []}), max_size=2)
    >>> out[["kept", "piece_a", "piece_b"]].values.tolist()  # the weak middle link goes
    [[True, 10, 10], [False, 10, 12], [True, 12, 12]]
    """
    a = links["a"].to_numpy(np.int64)
    b = links["b"].to_numpy(np.int64)
    w = links["weight"].to_numpy(np.float64)
    nodes = np.unique(np.concatenate([a, b]))
    la, lb = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    n = len(nodes)
    _, kept = split_components(n, la, lb, w, max_size)
    if len(apart):
        fa = np.searchsorted(nodes, apart["a"].to_numpy(np.int64))
        fb = np.searchsorted(nodes, apart["b"].to_numpy(np.int64))
        kept = separate_decided(n, la, lb, w, kept, fa, fb)
    labels = _labels(n, la[kept], lb[kept])
    smallest = np.full(n, n, np.int64)
    np.minimum.at(smallest, labels, np.arange(n))  # nodes are sorted: the smallest member
    piece = nodes[smallest[labels]]
    return pd.DataFrame({"a": a, "b": b, "kept": kept, "piece_a": piece[la],
                         "piece_b": piece[lb]})


class SparkIdentities(NamedTuple):
    """Result of :func:`spark_identities`.

    Attributes
    ----------
    nodes : pyspark.sql.DataFrame
        ``node``, ``identity``: every account in an identity (two or more accounts),
        identities numbered 0.. by descending size, ties by smallest member node, as
        :func:`ringfence.graph.identity.link_identities` numbers them.
    links : pyspark.sql.DataFrame
        ``a``, ``b``, ``cut`` per same-actor link (True: dropped by a split or a
        reviewer's decision).
    n_split : int
        Components above ``max_identity_size`` (before any split).
    """

    nodes: "DataFrame"
    links: "DataFrame"
    n_split: int


def number_by_size(labels: "DataFrame") -> "DataFrame":
    """``label`` -> ``number``: 0.. by descending size, ties by label (the smallest
    member), for the labels with two or more nodes. A distributed ranking (a range
    partitioned sort and per-partition offsets), never one partition for all."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    sizes = labels.groupBy("label").count().where(F.col("count") >= 2)
    ranked = (sizes.repartitionByRange(F.col("count").desc(), F.col("label").asc())
              .withColumn("part", F.spark_partition_id()))
    within = Window.partitionBy("part").orderBy(F.col("count").desc(), F.col("label").asc())
    # computed by the counts' job, kept for the join below
    ranked = materialise(ranked.withColumn("row", F.row_number().over(within)), reliable=False,
                         eager=False)
    counts = ranked.groupBy("part").count().orderBy("part").collect()
    offsets, total = [], 0
    for row in counts:  # one row per partition
        offsets.append((row["part"], total))
        total += row["count"]
    offsets_df = labels.sparkSession.createDataFrame(offsets or [(0, 0)], "part int, offset long")
    return ranked.join(F.broadcast(offsets_df), "part") \
        .select("label", (F.col("offset") + F.col("row") - 1).alias("number"))


def spark_identities(links: "DataFrame", max_identity_size: int, *,
                     apart: "DataFrame | None" = None,
                     checkpoint_every: int = 4) -> SparkIdentities:
    """Identities from the same-actor links, on Spark: the partition of
    :func:`ringfence.graph.identity.link_identities`.

    Components by :func:`connected_components`; each component above
    ``max_identity_size`` nodes, or holding both accounts of a pair a reviewer decided
    are different actors, is cut with ringfence's own routines in an ``applyInPandas``
    task (:func:`cut_components`; the components are spread over :func:`buckets` tasks,
    each component whole in one).

    Parameters
    ----------
    links : pyspark.sql.DataFrame
        The ``same_actor`` links: ``a``, ``b`` (nodes) and ``weight`` (the
        ``match_weight`` the in-process split orders links by).
    max_identity_size : int
        Components above this size lose their weakest links.
    apart : pyspark.sql.DataFrame, optional
        ``a``, ``b``: node pairs decided ``different_actors``.
    checkpoint_every : int
        See :func:`connected_components`.

    Returns
    -------
    SparkIdentities

    Notes
    -----
    Cost: that of :func:`connected_components`, two joins of the links with the
    components, the split routines on the oversized components (each whole in one
    task: a component is as large as its same-actor links make it, which the hub limits
    and the linker bound) and a distributed sort of the identities.

    Examples
    --------
    >>> found = spark_identities(same_actor_links, 20)  # doctest: +SKIP
    >>> found.nodes.toPandas()  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    links = links.select(F.col("a").cast("long"), F.col("b").cast("long"),
                         F.col("weight").cast("double"))
    comp = connected_components(links, checkpoint_every=checkpoint_every)
    sizes = comp.groupBy("component").count()
    oversized = sizes.where(F.col("count") > max_identity_size).select("component")
    n_split = oversized.count()
    todo = oversized
    apart_c = None
    if apart is not None:
        ends = comp.select(F.col("node").alias("a"), F.col("component"))
        apart_c = (apart.select(F.least("a", "b").cast("long").alias("a"),
                                F.greatest("a", "b").cast("long").alias("b"))
                   .join(ends, "a")
                   .join(comp.select(F.col("node").alias("b"), F.col("component").alias("cb")),
                         "b")
                   .where(F.col("component") == F.col("cb")).select("component", "a", "b"))
        todo = todo.unionByName(apart_c.select("component")).distinct()
    with_comp = links.join(comp.select(F.col("node").alias("a"), "component"), "a")
    k = buckets(links.sparkSession)
    bucket = (F.abs(F.hash("component")) % k).alias("bucket")
    work = with_comp.join(todo, "component", "left_semi").select(bucket, "a", "b", "weight")

    def cut(key, link_rows: pd.DataFrame, apart_rows: pd.DataFrame) -> pd.DataFrame:
        return cut_components(link_rows, apart_rows, max_identity_size)

    if apart_c is not None:
        apart_b = apart_c.select(bucket, "a", "b")
        done = (work.groupBy("bucket").cogroup(apart_b.groupBy("bucket"))
                .applyInPandas(cut, SPLIT_SCHEMA))
    else:
        empty = pd.DataFrame({"a": np.empty(0, np.int64), "b": np.empty(0, np.int64)})
        done = work.groupBy("bucket").applyInPandas(
            lambda rows: cut_components(rows, empty, max_identity_size), SPLIT_SCHEMA)
    done = materialise(done, reliable=True)
    pieces = (done.select(F.col("a").alias("node"), F.col("piece_a").alias("piece"))
              .unionByName(done.select(F.col("b").alias("node"), F.col("piece_b").alias("piece")))
              .distinct())
    labels = materialise(comp.join(pieces, "node", "left")
                         .select("node", F.coalesce("piece", "component").alias("label")),
                         reliable=False)
    numbers = number_by_size(labels)
    nodes = labels.join(numbers, "label").select("node", F.col("number").alias("identity"))
    dropped = done.where(~F.col("kept")).select("a", "b", F.lit(True).alias("cut"))
    out_links = links.join(dropped, ["a", "b"], "left") \
        .select("a", "b", F.coalesce("cut", F.lit(False)).alias("cut"))
    return SparkIdentities(nodes=nodes, links=out_links, n_split=int(n_split))
