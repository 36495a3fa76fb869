"""Blacklist propagation on Spark, for link lists too large for the driver.

:func:`personalised_pageranks`
    :func:`ringfence.graph.propagate.personalized_pagerank` (random walk with restart,
    absorbing nodes, dangling mass back to the personalisation) as DataFrame joins, for
    several personalisations at once (a ``key`` column: the folds of the out-of-fold
    features): per iteration one join of every key's current scores with the shared
    transition list and one aggregation by (key, node), the lineage cut every iteration;
    each key stops when it converges, as its own run would.
:func:`personalised_pagerank`
    The one-key case.
:func:`spark_propagations`, :func:`spark_propagation`
    :func:`ringfence.graph.propagate.propagate_blacklist` on Spark (per key, or once):
    the same seeds, absorbing cleared accounts, degree normalisation and columns.

For the same iteration count the values agree with the in-process engine to rounding
(sums in another order): tests/spark/test_pagerank.py holds them to 1e-9, and a batched
run to the separate runs and to the in-process ones to 1e-12 on a small graph.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ringfence.graph.config import GraphConfig
from ringfence.graph.spark.components import materialise

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

__all__ = ["SparkPageRank", "SparkPageRanks", "exact_median", "personalised_pagerank",
           "personalised_pageranks", "spark_propagation", "spark_propagations"]


class SparkPageRank(NamedTuple):
    """Result of :func:`personalised_pagerank`.

    Attributes
    ----------
    scores : pyspark.sql.DataFrame
        ``node``, ``score``: the nodes with a positive score (every other node has 0).
    iterations : int
    converged : bool
    error : float
        L1 change of the last iteration.
    """

    scores: "DataFrame"
    iterations: int
    converged: bool
    error: float


def _symmetric(links: "DataFrame") -> "DataFrame":
    """``src``, ``dst``, ``w``: each undirected link in both directions."""
    from pyspark.sql import functions as F

    w = F.col("weight").cast("double").alias("w")
    return links.select(F.col("a").cast("long").alias("src"), F.col("b").cast("long").alias("dst"),
                        w).unionByName(
        links.select(F.col("b").cast("long").alias("src"), F.col("a").cast("long").alias("dst"), w))


def _degrees(sym: "DataFrame") -> "DataFrame":
    from pyspark.sql import functions as F

    return sym.groupBy(F.col("src").alias("node")).agg(F.sum("w").alias("degree"))


def personalised_pagerank(links: "DataFrame", personalization: "DataFrame", *,
                          alpha: float = 0.85, tol: float = 1e-8, max_iter: int = 200,
                          blocked: "DataFrame | None" = None,
                          checkpoint_every: int = 5) -> SparkPageRank:
    """Personalised PageRank by power iteration, as Spark joins.

    The fixed point of :func:`ringfence.graph.propagate.personalized_pagerank` with
    ``dangling="personalization"``::

        x = alpha * (x @ P + x[dangling].sum() * p) + (1 - alpha) * p

    ``P`` the links' weights with rows divided by their sums, absorbing (``blocked``)
    nodes passing nothing on and restarting nowhere, iterated from ``p`` until the L1
    change is below ``tol`` or ``max_iter`` iterations. The one-key case of
    :func:`personalised_pageranks`.

    Parameters
    ----------
    links : pyspark.sql.DataFrame
        Undirected links ``a``, ``b`` (nodes, ``a != b``), ``weight`` (non-negative);
        rows for the same pair add up, as in a sparse matrix.
    personalization : pyspark.sql.DataFrame
        ``node``, ``weight``: restart weights (non-negative; other nodes 0),
        normalised to sum 1 after the blocked nodes' are set to 0.
    alpha, tol, max_iter
        As in :func:`~ringfence.graph.propagate.personalized_pagerank`.
    blocked : pyspark.sql.DataFrame, optional
        ``node``: absorbing nodes.
    checkpoint_every : int, default 5
        Iterations between reliable checkpoints (local ones in between, see
        :func:`~ringfence.graph.spark.components.materialise`).

    Returns
    -------
    SparkPageRank

    Raises
    ------
    ValueError
        The personalisation is zero outside the blocked nodes.

    Notes
    -----
    Cost: per iteration a join of the scores with the transition list (twice the links)
    and one aggregation by node (which also carries the restart weights and the previous
    scores), checkpointed, then one job for the L1 change and the dangling mass; scores
    are kept only where positive.

    Examples
    --------
    >>> r = personalised_pagerank(links, seeds, alpha=0.85, max_iter=20)  # doctest: +SKIP
    >>> r.iterations, r.scores.orderBy("node").toPandas()  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    key = F.lit(0).cast("long").alias("key")
    try:
        res = personalised_pageranks(
            links, personalization.select(key, "node", "weight"), alpha=alpha, tol=tol,
            max_iter=max_iter, blocked=None if blocked is None else blocked.select(key, "node"),
            checkpoint_every=checkpoint_every, keys=[0])
    except ValueError as exc:  # the single run's message names no key
        raise ValueError(str(exc).replace("personalization of key 0", "personalization")) \
            from None
    return SparkPageRank(res.scores.select("node", "score"), res.iterations[0],
                         res.converged[0], res.error[0])


class SparkPageRanks(NamedTuple):
    """Result of :func:`personalised_pageranks`: one PageRank per key.

    Attributes
    ----------
    scores : pyspark.sql.DataFrame
        ``key``, ``node``, ``score``: the nodes with a positive score in that key's
        PageRank (every other node has 0).
    iterations, converged, error : dict
        Per key: the iteration count, whether the L1 change fell below ``tol``, and the
        L1 change of the key's last iteration.
    """

    scores: "DataFrame"
    iterations: dict[int, int]
    converged: dict[int, bool]
    error: dict[int, float]


def _per_key(values: dict[int, float]) -> "Column":
    """A per-key constant as a column: a literal map indexed by ``key`` (null for a key
    not in ``values``). The literals are the Python floats, so each key computes with
    exactly the number a single run would have as ``F.lit``."""
    from pyspark.sql import functions as F

    if not values:
        return F.lit(None).cast("double")
    pairs = [c for k, v in sorted(values.items()) for c in (F.lit(int(k)), F.lit(float(v)))]
    return F.create_map(*pairs)[F.col("key")]


def personalised_pageranks(links: "DataFrame", personalization: "DataFrame", *,
                           alpha: float = 0.85, tol: float = 1e-8, max_iter: int = 200,
                           blocked: "DataFrame | None" = None,
                           checkpoint_every: int = 5,
                           keys: "list[int] | None" = None) -> SparkPageRanks:
    """Several personalised PageRanks over the same links at once, one per ``key``.

    Each key is :func:`personalised_pagerank` with its own personalisation and absorbing
    nodes (the out-of-fold propagations: one key per fold). The keys share the
    transition list and every power iteration: one join of all the keys' scores with
    the transitions and one aggregation by (key, node), then one small action for every
    key's L1 change and dangling mass. A key whose L1 change falls below ``tol`` stops
    there (its scores are frozen and leave the iteration), as its own run would, so each
    key's scores, iteration count and error are those of a separate run.

    Parameters
    ----------
    links : pyspark.sql.DataFrame
        Undirected links ``a``, ``b``, ``weight``, shared by every key (see
        :func:`personalised_pagerank`).
    personalization : pyspark.sql.DataFrame
        ``key`` (integer), ``node``, ``weight``: each key's restart weights; the keys
        are those that appear here.
    alpha, tol, max_iter
        As in :func:`~ringfence.graph.propagate.personalized_pagerank`, for every key.
    blocked : pyspark.sql.DataFrame, optional
        ``key``, ``node``: each key's absorbing nodes.
    checkpoint_every : int, default 5
        Iterations between reliable checkpoints.
    keys : list of int, optional
        The keys to run (the others' rows are ignored); by default those of
        ``personalization``.

    Returns
    -------
    SparkPageRanks

    Raises
    ------
    ValueError
        A key's personalisation is zero outside its blocked nodes.

    Notes
    -----
    Cost: per iteration a join of the active keys' positive scores (at most ``k`` times
    the nodes) with the transition list (twice the links, not copied per key), one
    aggregation by (key, node) that also carries the previous scores (for the L1 change)
    and the restart weights, checkpointed, and one aggregation by key collected (``k``
    rows). Against ``k`` separate runs: the same rows joined, ``1/k`` of the jobs.

    Examples
    --------
    >>> r = personalised_pageranks(links, seeds_by_fold, alpha=0.85, max_iter=20)  # doctest: +SKIP
    >>> r.iterations  # doctest: +SKIP
    {1: 20, 2: 20, 3: 20}
    """
    from pyspark.sql import functions as F

    no_value, no_flag = F.lit(None).cast("double"), F.lit(None).cast("boolean")
    sym = _symmetric(links)
    out = _degrees(sym)
    p = personalization.select(F.col("key").cast("long"), F.col("node").cast("long"),
                               F.col("weight").cast("double").alias("p"))
    if keys is not None:
        keys = sorted({int(k) for k in keys})
        p = p.where(F.col("key").isin(keys))
    present = p.select("key")
    if blocked is not None:
        blocked = blocked.select(F.col("key").cast("long"), F.col("node").cast("long")).distinct()
        p = p.join(blocked, ["key", "node"], "left_anti")
    p = p.where(F.col("p") > 0)
    # every key (also one whose weights are all blocked or zero) with its total, one job
    totals = {int(k): float(t or 0.0) for k, t in
              present.distinct().join(p.groupBy("key").agg(F.sum("p").alias("t")), "key",
                                      "left").collect()}
    if keys is not None:
        totals = {k: totals.get(k, 0.0) for k in keys}
        if blocked is not None:
            blocked = blocked.where(F.col("key").isin(keys))
    for k in sorted(totals):
        if not totals[k] > 0:
            raise ValueError(f"personalization of key {k} is all zero" +
                             (" outside the blocked nodes" if blocked is not None else "") +
                             ": at least one node needs a positive weight")
    # each key's restart weights and absorbing nodes, with whether the node is dangling
    # (no out-link, not blocked): only nodes with a restart weight can hold mass without
    # an in-link, so these are the dangling nodes that matter
    seeds = (p.join(out, "node", "left")
             .select("key", "node", (F.col("p") / _per_key(totals)).alias("p"),
                     (F.coalesce(F.col("degree"), F.lit(0.0)) == 0).alias("spread"),
                     F.lit(False).alias("blocked")))
    if blocked is not None:
        seeds = seeds.unionByName(blocked.select("key", "node", no_value.alias("p"),
                                                 F.lit(False).alias("spread"),
                                                 F.lit(True).alias("blocked")))
    info = materialise(seeds, reliable=False)
    # one transition list for every key: a blocked node's scores are kept out of the join
    # instead (its out-degree, hence everybody else's transitions, is the same)
    step = out.where(F.col("degree") > 0) \
        .select(F.col("node").alias("src"), (F.lit(alpha) / F.col("degree")).alias("step"))
    trans = materialise(sym.join(step, "src")
                        .select(F.col("src").alias("node"), "dst",
                                (F.col("w") * F.col("step")).alias("t")),
                        reliable=True)

    x = info.where(F.col("p") > 0).select("key", "node", F.col("p").alias("x"), "blocked",
                                          "spread")
    dangling = {int(k): float(d or 0.0) for k, d in
                info.groupBy("key").agg(F.sum(F.when(F.col("spread"), F.col("p")))).collect()}
    active = sorted(totals)
    iterations: dict[int, int] = {}
    errors: dict[int, float] = {}
    done = []
    for it in range(1, max_iter + 1):
        restart = _per_key({k: alpha * dangling.get(k, 0.0) + (1.0 - alpha) for k in active})
        moved = (x.where(~F.col("blocked")).join(trans, "node")
                 .select("key", F.col("dst").alias("node"), (F.col("x") * F.col("t")).alias("c"),
                         no_value.alias("p"), no_value.alias("old"), no_flag.alias("blocked"),
                         no_flag.alias("spread")))
        restarts = info.where(F.col("key").isin(active)).select(
            "key", "node", no_value.alias("c"), "p", no_value.alias("old"), "blocked", "spread")
        previous = x.select("key", "node", no_value.alias("c"), no_value.alias("p"),
                            F.col("x").alias("old"), no_flag.alias("blocked"),
                            no_flag.alias("spread"))
        # the moved mass, the restart weights and the previous scores in one aggregation:
        # the new scores and what the L1 change needs, without a join per part
        new = (moved.unionByName(restarts).unionByName(previous)
               .groupBy("key", "node")
               .agg(F.sum("c").alias("c"), F.max("p").alias("p"), F.max("old").alias("old"),
                    F.coalesce(F.max("blocked"), F.lit(False)).alias("blocked"),
                    F.coalesce(F.max("spread"), F.lit(False)).alias("spread"))
               .select("key", "node",
                       (F.coalesce("c", F.lit(0.0))
                        + restart * F.coalesce("p", F.lit(0.0))).alias("x"),
                       F.coalesce("old", F.lit(0.0)).alias("old"), "blocked", "spread"))
        # a local checkpoint is computed by the job of the statistics below (one job an
        # iteration, not two); a reliable one is written first
        reliable = it % checkpoint_every == 0
        new = materialise(new, reliable=reliable, eager=reliable)
        # every active key's L1 change and next dangling mass in one job
        stats = (new.groupBy("key")
                 .agg(F.sum(F.abs(F.col("x") - F.col("old"))),
                      F.sum(F.when(F.col("spread"), F.col("x"))))
                 .collect())
        x = new.where(F.col("x") != 0).select("key", "node", "x", "blocked", "spread")
        finished = []
        for k, change, d in stats:
            k = int(k)
            errors[k], dangling[k] = float(change or 0.0), float(d or 0.0)
            iterations[k] = it
            if errors[k] < tol:
                finished.append(k)
        if finished:
            done.append(x.where(F.col("key").isin(finished)))
            active = [k for k in active if k not in finished]
            x = x.where(F.col("key").isin(active))
        if not active:
            break
    if active:
        done.append(x)
    scores = done[0]
    for part in done[1:]:
        scores = scores.unionByName(part)
    keys = sorted(totals)
    errors = {k: errors.get(k, float("inf")) for k in keys}
    return SparkPageRanks(scores.select("key", "node", F.col("x").alias("score")),
                          {k: iterations.get(k, 0) for k in keys},
                          {k: errors[k] < tol for k in keys}, errors)


def exact_median(df: "DataFrame", column: str, *, collect_below: int = 200_000) -> float | None:
    """The median of a column as :func:`numpy.median` gives it (the mean of the two
    middle values for an even count), without gathering the column: approximate
    quantiles bracket the middle, only the values inside the bracket are collected.

    Returns None for an empty column. Columns shorter than ``collect_below`` are
    collected whole.

    Notes
    -----
    Cost: one count, one approximate-quantile pass and one filtered pass; the bracket
    holds about 0.04 % of the values (Greenwald-Khanna with relative error 1e-4), widened
    fourfold until it holds the middle.

    Examples
    --------
    >>> exact_median(spark.range(10).toDF("degree"), "degree")  # doctest: +SKIP
    4.5
    """
    from pyspark.sql import functions as F

    values = df.select(F.col(column).cast("double").alias("v")).where(F.col("v").isNotNull())
    n = values.count()
    if n == 0:
        return None
    if n < collect_below:
        return float(np.median(np.array([r[0] for r in values.collect()], np.float64)))
    k1, k2 = (n - 1) // 2, n // 2
    rel = 1e-4
    while True:
        if rel >= 0.25:
            lo, hi = values.agg(F.min("v"), F.max("v")).first()
        else:
            lo, hi = values.approxQuantile("v", [0.5 - 2 * rel, 0.5 + 2 * rel], rel)
        below = values.where(F.col("v") < lo).count()
        middle = np.sort(np.array([r[0] for r in values.where(F.col("v").between(lo, hi))
                                   .collect()], np.float64))
        if below <= k1 and k2 < below + len(middle):
            return float((middle[k1 - below] + middle[k2 - below]) / 2)
        rel *= 4


def spark_propagations(links: "DataFrame", status: "DataFrame",
                       config: GraphConfig | None = None, *,
                       checkpoint_every: int = 5) -> tuple["DataFrame", dict[int, dict]]:
    """:func:`spark_propagation` for several label sets at once, one per ``key``: the
    out-of-fold propagations (one key per fold, that fold's labels hidden) as one
    :func:`personalised_pageranks` run over the shared links.

    Each key's rows equal :func:`spark_propagation` on that key's status alone (the same
    seeds, absorbing nodes, iteration count and normalisation; the degree median is the
    links', shared).

    Parameters
    ----------
    links : pyspark.sql.DataFrame
        ``a``, ``b``, ``weight``, as :func:`spark_propagation`.
    status : pyspark.sql.DataFrame
        ``key`` (integer), ``node``, ``banned``, ``cleared``, ``seed_weight``: one row per
        account and key.
    config : GraphConfig, optional
    checkpoint_every : int

    Returns
    -------
    (pyspark.sql.DataFrame, dict)
        ``key`` and :func:`spark_propagation`'s columns, one row per row of ``status``;
        and per key ``{"iterations", "converged", "error"}`` (a key without seeds:
        0 iterations, converged, every score 0).

    Notes
    -----
    Cost: one count of seeds per key (one job), :func:`personalised_pageranks` over the
    keys with seeds, the degrees and their median once, the table checkpointed, one
    aggregation by key for the maxima. No warnings: the caller reports convergence.

    Examples
    --------
    >>> table, metas = spark_propagations(links, status_by_fold, config)  # doctest: +SKIP
    >>> metas[1]["iterations"]  # doctest: +SKIP
    20
    """
    from pyspark.sql import functions as F

    config = config or GraphConfig()
    st = status.select(F.col("key").cast("long"), F.col("node").cast("long"),
                       F.col("banned").cast("boolean"), F.col("cleared").cast("boolean"),
                       F.col("seed_weight").cast("double"))
    st = st.withColumn("seed", F.col("banned") & (F.col("seed_weight") > 0) & ~F.col("cleared"))
    st = materialise(st, reliable=False)
    degree = materialise(_degrees(_symmetric(links)), reliable=False)
    n_seeds = {int(k): int(n) for k, n in
               st.groupBy("key").agg(F.sum(F.col("seed").cast("long"))).collect()}
    seeded = sorted(k for k, n in n_seeds.items() if n)
    metas = {k: {"iterations": 0, "converged": True, "error": 0.0} for k in n_seeds}
    if seeded:
        res = personalised_pageranks(
            links, st.where("seed").select("key", "node", F.col("seed_weight").alias("weight")),
            alpha=1.0 - config.restart, tol=config.tol, max_iter=config.max_iter,
            blocked=st.where("cleared").select("key", "node"),
            checkpoint_every=checkpoint_every, keys=seeded)
        raw = res.scores
        for k in seeded:
            metas[k] = {"iterations": res.iterations[k], "converged": res.converged[k],
                        "error": res.error[k]}
    else:
        raw = st.sparkSession.createDataFrame([], "key long, node long, score double")
    table = (st.join(raw, ["key", "node"], "left").join(degree, "node", "left")
             .select("key", "node", "banned", "cleared", "seed",
                     F.coalesce("score", F.lit(0.0)).alias("propagation_raw"),
                     F.coalesce("degree", F.lit(0.0)).alias("degree")))
    if config.degree_normalise:
        d0 = exact_median(degree.where(F.col("degree") > 0), "degree")
        d0 = 1.0 if d0 is None else d0
        norm = F.col("propagation_raw") * (F.lit(d0) / (F.col("degree") + F.lit(d0)))
    else:
        norm = F.col("propagation_raw")
    table = materialise(table.withColumn("propagation", norm), reliable=True)
    tops = {int(k): float(t or 0.0) for k, t in
            table.where(~F.col("banned") & ~F.col("cleared")).groupBy("key")
            .agg(F.max("propagation")).collect()}
    top = _per_key({k: t for k, t in tops.items() if t > 0})
    score = (F.when(top.isNotNull(), F.least(F.col("propagation") / top, F.lit(1.0)))
             .otherwise((F.col("propagation") > 0).cast("double")))
    score = F.when(F.col("degree") == 0, F.lit(0.0)).otherwise(score)
    return table.select("key", "node", "propagation_raw", "propagation",
                        score.alias("propagation_score"), "seed", "cleared"), metas


def spark_propagation(links: "DataFrame", status: "DataFrame",
                      config: GraphConfig | None = None, *,
                      checkpoint_every: int = 5) -> tuple["DataFrame", dict]:
    """Risk propagated from banned accounts, on Spark:
    :func:`ringfence.graph.propagate.propagate_blacklist`'s columns.

    Seeds are banned, not cleared accounts with a positive ``seed_weight`` (their
    restart weight); cleared accounts absorb; ``alpha = 1 - config.restart``; the
    result is divided by ``degree + d0`` times ``d0`` (``d0`` the median positive
    weighted degree) when ``config.degree_normalise``; ``propagation_score`` is that
    over its maximum among accounts neither banned nor cleared, 0 for accounts
    without links. The one-key case of :func:`spark_propagations`.

    Parameters
    ----------
    links : pyspark.sql.DataFrame
        The account graph's links: ``a``, ``b``, ``weight`` (identifier pairs and edge
        links; rows of one pair add up, as in ``AccountGraph.adjacency``).
    status : pyspark.sql.DataFrame
        One row per account: ``node``, ``banned``, ``cleared``, ``seed_weight``
        (``AccountGraph.status`` with the node number).
    config : GraphConfig, optional
        ``restart``, ``tol``, ``max_iter``, ``degree_normalise``.
    checkpoint_every : int
        See :func:`personalised_pagerank`.

    Returns
    -------
    (pyspark.sql.DataFrame, dict)
        One row per account of ``status``: ``node``, ``propagation_raw``,
        ``propagation``, ``propagation_score``, ``seed``, ``cleared``; and
        ``{"iterations", "converged", "error"}``.

    Warns
    -----
    UserWarning
        No seeds, or no convergence within ``config.max_iter`` (the in-process
        engine's messages).

    Notes
    -----
    Cost: see :func:`spark_propagations` (one key).

    Examples
    --------
    >>> table, meta = spark_propagation(links, status, GraphConfig(max_iter=20))  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    config = config or GraphConfig()
    table, metas = spark_propagations(
        links, status.select(F.lit(0).cast("long").alias("key"), "node", "banned", "cleared",
                             "seed_weight"), config, checkpoint_every=checkpoint_every)
    meta = metas.get(0, {"iterations": 0, "converged": True, "error": 0.0})
    if meta["iterations"] == 0:
        warnings.warn("blacklist propagation: no banned accounts with a positive seed weight; "
                      "every propagation score is 0", UserWarning, stacklevel=2)
    elif not meta["converged"]:
        warnings.warn(f"blacklist propagation did not converge in {meta['iterations']} "
                      f"iterations (last L1 change {meta['error']:.3g}, tol {config.tol:g}); "
                      f"scores are approximate", UserWarning, stacklevel=2)
    return table.drop("key"), meta
