"""The pair classifier's personal-group context on Spark: ``same_person`` and ``mixing``.

:func:`ringfence.graph.linking.supervised.pair_context` reads, per candidate pair,
whether a chain of email or phone agreements joins the two accounts (``same_person``)
and how many people use the other values they share (``mixing``,
:mod:`ringfence.graph.linking.mixing`). Here both are DataFrame operations:

:func:`spark_personal_groups`
    Connected components (:func:`~ringfence.graph.spark.components.connected_components`)
    of the candidate pairs that agree partially or exactly on a personal comparison.
:func:`spark_value_mixing`
    Per raw value that counts (:func:`~ringfence.graph.linking.mixing.counted_values`:
    not personal, within its kind's share limit, decided from the per-value counts on
    the driver before any use is read), ``(groups - 1) / (users - 1)`` over its users'
    personal groups; per pair sharing such values, the smallest.
:func:`pair_mixing`
    Both, per candidate pair.

Only the partition into groups matters (``same_person`` compares two groups, ``mixing``
counts distinct ones): the group ids need not be in-process's.

pyspark is imported inside the functions: :mod:`ringfence.graph` imports every module of
the package (its docstrings are tested) without the ``spark`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ringfence.graph.config import GraphConfig
from ringfence.graph.linking.mixing import (PERSONAL, SHARING_MIN_USERS, counted_values,
                                            personal_kinds)
from ringfence.graph.spark.components import connected_components, materialise

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["pair_mixing", "sharing_levels_frame", "spark_personal_groups",
           "spark_value_mixing"]

# more values than this are joined without a broadcast (as the build's linking values)
_BROADCAST_VALUES = 2_000_000


def spark_personal_groups(candidates: "DataFrame", names: list[str],
                          personal: tuple[str, ...] = PERSONAL) -> "DataFrame":
    """Personal group per node, as :func:`ringfence.graph.linking.mixing.personal_groups`.

    Parameters
    ----------
    candidates : pyspark.sql.DataFrame
        ``a``, ``b`` and ``lv0..`` (the raw comparison levels of
        :func:`~ringfence.graph.spark.levels.candidate_levels`).
    names : list of str
        The comparison name of each ``lv`` column.
    personal : tuple of str
        Comparisons whose agreement (partial or exact: level 2 and above) says "one
        person".

    Returns
    -------
    pyspark.sql.DataFrame
        ``node``, ``group`` (the smallest node of its group), for the nodes of an
        agreeing pair only: any other node is a group of its own.

    Notes
    -----
    Cost: one filter of the candidates and
    :func:`~ringfence.graph.spark.components.connected_components` of those that agree.

    Examples
    --------
    >>> spark_personal_groups(cand, ["device", "email", "timing"]).collect()  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    agree = F.lit(False)
    for j, name in enumerate(names):
        if name in personal:
            agree = agree | (F.col(f"lv{j}") >= 2)  # above "different": partial or exact
    return connected_components(candidates.where(agree).select("a", "b")) \
        .withColumnRenamed("component", "group")


def spark_value_mixing(frames: dict, groups: "DataFrame", config: GraphConfig,
                       personal: tuple[str, ...] = PERSONAL,
                       min_users: int = 2, known_only: bool = False) -> "DataFrame | None":
    """Per pair of accounts sharing a raw value that counts, the smallest ``mixing`` of
    those values, as :func:`ringfence.graph.linking.mixing.value_mixing`.

    Parameters
    ----------
    frames : dict
        :func:`~ringfence.graph.spark.build.pair_frames`'s result (``ident`` with the
        accounts per identifier, ``kind_names``, ``uses``).
    groups : pyspark.sql.DataFrame
        ``node``, ``group`` (:func:`spark_personal_groups`).
    config : GraphConfig
        The share limits.
    personal : tuple of str
        Kinds whose values do not count (they make the groups).
    min_users : int
        Values used by fewer accounts do not count either.
    known_only : bool
        Count groups over the users with a personal value only, and leave out values
        with fewer than two of them (``known`` of the in-process function).

    Returns
    -------
    pyspark.sql.DataFrame or None
        ``a < b``, ``mixing``; None when no value counts (known on the driver), or
        empty.

    Notes
    -----
    Cost: the values that count are chosen from the per-value counts on the driver
    (:func:`~ringfence.graph.linking.mixing.counted_values`), or on Spark when the
    identifier table stayed there (the same rule as a filter), so a hub's uses are
    dropped by a join before any grouping; then two aggregations of their uses (groups
    per value) and one self-join per value (at most ``limit**2 / 2`` rows each), one
    aggregation by pair.

    Examples
    --------
    >>> spark_value_mixing(frames, groups, config).orderBy("a", "b").collect()  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    ident = frames["ident"]
    if frames["uses"] is None:
        return None
    spark = frames["uses"].sparkSession
    mine = personal_kinds(frames["kind_names"], personal)
    if ident is None:  # the identifier table stayed on Spark (pair_frames): filtered there
        table = frames["ident_frame"]
        names = frames["kind_names"]
        limit = F.element_at(F.array(*[F.lit(int(config.share_limit(k))) for k in names]),
                             F.col("kind_code") + 1)
        own_codes = [int(c) for c in np.flatnonzero(mine)]
        counts = (~F.col("kind_code").isin(own_codes)) & (F.col("n_accounts") >= min_users) \
            & (F.col("n_accounts") <= limit)
        # no count of them (an action): without any, the result is merely empty
        values = table.where(counts).select("identifier", F.col("n_accounts").alias("users"))
        own = table.where(F.col("kind_code").isin(own_codes)).select("identifier")
    else:
        users = ident["n_accounts"].to_numpy(np.int64)
        counted = np.flatnonzero(counted_values(ident["kind_code"].to_numpy(np.int64), users,
                                                frames["kind_names"], config, personal,
                                                min_users))
        if not len(counted):
            return None
        values = spark.createDataFrame(pd.DataFrame({"identifier": counted.astype(np.int64),
                                                     "users": users[counted]}))
        if len(counted) < _BROADCAST_VALUES:
            values = F.broadcast(values)
        ids = np.flatnonzero(mine[ident["kind_code"].to_numpy(np.int64)]).astype(np.int64)
        own = spark.createDataFrame(pd.DataFrame({"identifier": ids}), "identifier long")
        if len(ids) < _BROADCAST_VALUES:
            own = F.broadcast(own)
    uses = frames["uses"].select("identifier", "node").join(values, "identifier") \
        .join(groups, "node", "left")
    if known_only:  # the accounts with an email or a phone (personal_accounts in-process)
        known = frames["uses"].select("identifier", "node").join(own, "identifier") \
            .select("node").distinct().withColumn("known", F.lit(True))
        uses = uses.join(known, "node", "left")
    else:
        uses = uses.withColumn("known", F.lit(True))
    uses = materialise(
        # a node of no agreeing pair is its own group (no group id is another node's)
        uses.select("identifier", "node", "users", F.coalesce("group", "node").alias("group"),
                    F.coalesce("known", F.lit(False)).alias("known")),
        reliable=False)
    counted_uses = uses.where("known")
    per_value = (counted_uses.select("identifier", "group").distinct()
                 .groupBy("identifier").agg(F.count("*").alias("groups"))
                 .join(counted_uses.groupBy("identifier")
                       .agg(F.countDistinct("node").alias("known")),
                       "identifier")
                 .where(F.col("known") >= 2)
                 .select("identifier", ((F.col("groups") - 1).cast("double")
                                        / (F.col("known") - 1)).alias("mixing")))
    left = uses.select("identifier", F.col("node").alias("a")).join(per_value, "identifier")
    right = uses.select("identifier", F.col("node").alias("b"))
    return (left.join(right, "identifier").where(F.col("a") < F.col("b"))
            .groupBy("a", "b").agg(F.min("mixing").alias("mixing")))


def pair_mixing(candidates: "DataFrame", names: list[str], frames: dict,
                config: GraphConfig, groups: "DataFrame | None" = None) -> "DataFrame":
    """``same_person`` and ``mixing`` of every candidate pair, as
    :func:`ringfence.graph.linking.supervised.pair_context` gives them.

    Parameters
    ----------
    candidates : pyspark.sql.DataFrame
        ``a < b`` and the raw levels ``lv0..`` of every candidate pair (decided ones
        included, as in-process).
    names : list of str
        The comparison name of each ``lv`` column.
    frames : dict
        :func:`~ringfence.graph.spark.build.pair_frames`'s result.
    config : GraphConfig
        The share limits.
    groups : pyspark.sql.DataFrame, optional
        :func:`spark_personal_groups` of these candidates when already computed.

    Returns
    -------
    pyspark.sql.DataFrame
        ``a``, ``b``, ``same_person`` (1.0 when one personal group, else 0.0),
        ``mixing`` (0.0 without a shared value that counts); computed (a local
        checkpoint).

    Notes
    -----
    Cost: one connected-components pass (:func:`spark_personal_groups`), the mixing of
    :func:`spark_value_mixing`, and three joins onto the candidates.

    Examples
    --------
    >>> pair_mixing(cand, ["device", "email", "timing"], frames, config).show()  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    if groups is None:
        groups = spark_personal_groups(candidates, names)
    side = (lambda s: groups.select(F.col("node").alias(s), F.col("group").alias(f"g_{s}")))
    out = candidates.select("a", "b").join(side("a"), "a", "left").join(side("b"), "b", "left")
    same = F.coalesce(F.col("g_a") == F.col("g_b"), F.lit(False)).cast("double")
    mixing = spark_value_mixing(frames, groups, config)
    if mixing is not None:
        out = out.join(mixing, ["a", "b"], "left")
    else:
        out = out.withColumn("mixing", F.lit(None).cast("double"))
    return materialise(out.select("a", "b", same.alias("same_person"),
                                  F.coalesce("mixing", F.lit(0.0)).alias("mixing")),
                       reliable=False)


def sharing_levels_frame(candidates: "DataFrame", groups: "DataFrame", frames: dict,
                         config: GraphConfig, several_above: float, column: str
                         ) -> "DataFrame":
    """The candidates with the ``sharing`` comparison's level in ``column``, as
    :func:`ringfence.graph.linking.mixing.sharing_comparison` gives it: null (0) without
    a shared value used by :data:`~ringfence.graph.linking.mixing.SHARING_MIN_USERS` or
    more accounts, ``several people`` (1) when the smallest mixing of those values is
    above ``several_above``, else ``one person`` (2).

    Cost: :func:`spark_value_mixing` of the values with that many users and one left join
    onto the candidates.

    Examples
    --------
    >>> sharing_levels_frame(cand, groups, frames, config, 0.5, "lv7")  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    mixing = spark_value_mixing(frames, groups, config, min_users=SHARING_MIN_USERS,
                                known_only=True)
    if mixing is None:
        return candidates.withColumn(column, F.lit(0))
    level = (F.when(F.col("mixing").isNull(), 0)
             .when(F.col("mixing") > F.lit(float(several_above)), 1).otherwise(2))
    return candidates.join(mixing, ["a", "b"], "left").withColumn(column, level) \
        .drop("mixing")
