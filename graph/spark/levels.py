"""Candidate pairs and their comparison levels on Spark, as the in-process linker finds them.

:func:`candidate_levels` is :func:`ringfence.graph.linking.comparisons.compare_pairs` as
DataFrame joins and aggregations: canonical values and partial keys per distinct
identifier by the in-process normalisers (on the driver, or with ``mapInPandas`` beyond
:data:`DRIVER_MAX_IDENTIFIERS`), accounts per value counted before any pair is
formed (values above the share limit join nothing), pairs by a self-join at their hub
band, the best level per comparison, ``different`` / ``null`` from which accounts have a
value of the kind, and the timing level. :mod:`ringfence.graph.spark.linking` fits and
applies the model on them.

pyspark is imported inside the functions: :mod:`ringfence.graph` imports every module of
the package (its docstrings are tested) without the ``spark`` extra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ringfence.graph.config import GraphConfig
from ringfence.graph.linking.comparisons import (_canonical, _normalised, band_names,
                                                comparison_kinds)
from ringfence.graph.linking.linker import _settings
from ringfence.graph.spark.components import materialise

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["DRIVER_MAX_IDENTIFIERS", "candidate_levels", "driver_max_identifiers",
           "linker_settings", "n_identifiers_of"]

_NS_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min

#: distinct identifiers normalised on the driver at most (Arrow kernels, a few hundred
#: bytes each there); beyond, a ``mapInPandas`` over them on Spark.
#: ``RINGFENCE_SPARK_DRIVER_MAX_IDENTIFIERS`` overrides.
DRIVER_MAX_IDENTIFIERS = 20_000_000


def driver_max_identifiers(given: int | None = None) -> int:
    """The limit of :data:`DRIVER_MAX_IDENTIFIERS`: ``given``, else the
    ``RINGFENCE_SPARK_DRIVER_MAX_IDENTIFIERS`` environment variable, else the default.

    >>> driver_max_identifiers(10)
    10
    """
    if given is not None:
        return int(given)
    return int(os.environ.get("RINGFENCE_SPARK_DRIVER_MAX_IDENTIFIERS",
                              DRIVER_MAX_IDENTIFIERS))


def n_identifiers_of(frames: dict) -> int:
    """How many distinct identifiers :func:`~ringfence.graph.spark.build.pair_frames`
    numbered (on the driver or on Spark).

    >>> n_identifiers_of({"ident": None, "n_identifiers": 7})
    7
    """
    return int(frames["n_identifiers"]) if frames.get("ident") is None \
        else len(frames["ident"])


def linker_settings(config: GraphConfig, kind_names: list[str]) -> dict[str, Any]:
    """The linker settings :func:`ringfence.graph.identity.link_identities` resolves for a
    graph with identifier kinds ``kind_names``: ``config.linking`` over the defaults, the
    share limits and ``max_identity_size`` from ``config``.

    >>> linker_settings(GraphConfig(), ["device"])["share_limits"]["device"] > 0
    True
    """
    limits = {k: config.share_limit(k) for k in kind_names}
    s = _settings({"max_identity_size": config.max_identity_size, **config.linking,
                   "share_limits": {**limits, **config.linking.get("share_limits", {})}})
    kinds = set(kind_names) | {c["kind"] for c in s["comparisons"]}
    s["share_limits"] = {k: int(s["share_limits"].get(k, config.share_limit(k))) for k in kinds}
    if s["max_identity_size"] is None:
        s["max_identity_size"] = config.max_identity_size
    return s


@dataclass
class _Spec:
    """One comparison: its name, kind, levels and how its pairs are levelled."""

    name: str
    kind: str
    spec: dict
    limit: int
    level_names: list[str]
    first_exact: int
    edges: list[int]  # upper edges of the hub bands, rarest last
    alone: bool  # its partial key alone makes a candidate


def _specs(s: dict[str, Any], kind_names: list[str]) -> list[_Spec]:
    """The comparisons in :func:`compare_pairs`'s order (:func:`comparison_kinds`)."""
    by_kind = {c["kind"]: c for c in s["comparisons"]}
    out = []
    for name, kind in zip(*comparison_kinds(s, kind_names)):
        spec = by_kind.get(kind, {})
        limit = int(s["share_limits"][kind])
        partial = spec.get("partial") is not None
        out.append(_Spec(
            name=name, kind=kind, spec=spec, limit=limit,
            level_names=["null", "different"] + (["partial"] if partial else [])
            + band_names(s["hub_bands"], limit),
            first_exact=3 if partial else 2,
            edges=[b for b in sorted(s["hub_bands"]) if b < limit] + [limit],
            alone=spec.get("name") in s.get("partial_candidates", ())))
    return out


def _first(code: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per row, the identifier number (of ``rows``) of the first row with its ``code``;
    -1 stays -1. A code that names its value by an identifier, as :func:`_spark_keys`'s."""
    out = np.full(len(code), -1, np.int64)
    has = code >= 0
    _, first, inverse = np.unique(code[has], return_index=True, return_inverse=True)
    out[has] = rows[has][first][inverse]
    return out


def _keys(frames: dict, specs: list[_Spec], region: str | None) -> pd.DataFrame:
    """Per (identifier, comparison): the code of its canonical value and of its partial
    key (-1: none), by the in-process normalisers on the distinct identifiers, on the
    driver. A code is the smallest identifier number with that value (or key), as
    :func:`_spark_keys` numbers them."""
    ident, kind_names = frames["ident"], frames["kind_names"]
    kind_code = ident["kind_code"].to_numpy(np.int64)
    values = pa.array(ident["value"].to_numpy(object), pa.large_string())
    parts = []
    for ci, c in enumerate(specs):
        if c.kind not in kind_names:
            continue
        rows = np.flatnonzero(kind_code == kind_names.index(c.kind))
        canon, partial = _canonical(values.take(pa.array(rows)), c.spec, region)
        parts.append(pd.DataFrame({
            "identifier": rows.astype(np.int64), "ci": np.full(len(rows), ci, np.int32),
            "canon": _first(canon, rows),
            "partial": (_first(partial, rows) if partial is not None
                        else np.full(len(rows), -1)).astype(np.int64)}))
    if not parts:
        return pd.DataFrame({"identifier": np.empty(0, np.int64), "ci": np.empty(0, np.int32),
                             "canon": np.empty(0, np.int64), "partial": np.empty(0, np.int64)})
    return pd.concat(parts, ignore_index=True)


def _spark_keys(spark: "SparkSession", frames: dict, specs: list[_Spec],
                region: str | None) -> "DataFrame":
    """:func:`_keys` on Spark, for identifier tables beyond
    :func:`driver_max_identifiers`: the in-process normalisers
    (:func:`~ringfence.graph.linking.comparisons._normalised`) in a ``mapInPandas`` over
    the distinct (kind, value) rows, each canonical value and partial key then coded by
    the smallest identifier number that has it (a window per value). The same codes as
    :func:`_keys`: the normalisers work value by value, so a batch's values get the
    driver's spellings whatever else is in the batch.

    Cost: one pass of the normalisers over the identifiers in the tasks, two shuffles
    (by canonical value, by partial key); nothing of the table's size on the driver.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ident, kind_names = frames["ident"], frames["kind_names"]
    if ident is None:  # the identifier table stayed on Spark (pair_frames)
        table = frames["ident_frame"].select("identifier", F.col("kind_code").cast("long"),
                                             "value")
    else:
        table = spark.createDataFrame(pd.DataFrame({
            "identifier": np.arange(len(ident), dtype=np.int64),
            "kind_code": ident["kind_code"].to_numpy(np.int64),
            "value": ident["value"].to_numpy(object)}),
            "identifier long, kind_code long, value string")
    by_kind: dict[int, list[tuple[int, dict]]] = {}
    for ci, c in enumerate(specs):
        if c.kind in kind_names:
            by_kind.setdefault(kind_names.index(c.kind), []).append((ci, c.spec))

    def normalise(batches):
        for rows in batches:
            code = rows["kind_code"].to_numpy(np.int64)
            values = pa.array(rows["value"].to_numpy(object), pa.large_string())
            number = rows["identifier"].to_numpy(np.int64)
            for kc, comparisons in by_kind.items():
                mine = np.flatnonzero(code == kc)
                if not len(mine):
                    continue
                for ci, spec in comparisons:
                    canon, partial = _normalised(values.take(pa.array(mine)), spec, region)
                    none = np.full(len(mine), None, object)
                    yield pd.DataFrame({
                        "identifier": number[mine], "ci": np.full(len(mine), ci, np.int32),
                        "canon": none if canon is None
                        else canon.to_numpy(zero_copy_only=False),
                        "partial": none if partial is None
                        else partial.to_numpy(zero_copy_only=False)})

    norm = table.mapInPandas(
        normalise, "identifier long, ci int, canon string, partial string")

    def first(col: str) -> "Column":
        # an identifier without a canonical spelling (no normaliser) or without a partial
        # key is a group of its own, keyed by its number: no null key gathers a whole kind
        own = F.when(F.col(col).isNull(), F.col("identifier"))
        return F.min("identifier").over(Window.partitionBy("ci", col, own))

    return norm.select(
        "identifier", "ci", first("canon").alias("canon"),
        F.when(F.col("partial").isNull(), F.lit(-1)).otherwise(first("partial"))
        .cast("long").alias("partial"))


def _per_ci(values: list) -> "Column":
    """A constant per comparison, looked up by the ``ci`` column."""
    from pyspark.sql import functions as F

    return F.element_at(F.array(*[F.lit(v) for v in values]), F.col("ci") + 1)


def _pairs_of(groups: "DataFrame", key: str) -> "DataFrame":
    """``ci``, ``a < b``, ``cnt`` for the accounts under each ``(ci, key)`` group."""
    from pyspark.sql import functions as F

    left = groups.select("ci", key, F.col("node").alias("a"), "cnt")
    right = groups.select("ci", key, F.col("node").alias("b"))
    return left.join(right, ["ci", key]).where(F.col("a") < F.col("b")).drop(key)


def candidate_levels(frames: dict, status: "DataFrame", s: dict[str, Any],
                     decided: "DataFrame | None" = None, *,
                     max_identifiers: int | None = None) -> tuple["DataFrame", list[_Spec]]:
    """Every candidate pair and its raw comparison levels, on Spark.

    Parameters
    ----------
    frames : dict
        :func:`~ringfence.graph.spark.build.pair_frames`'s result (``ident``,
        ``kind_names``, ``uses``).
    status : pyspark.sql.DataFrame
        Per account: ``node``, ``banned`` (bool), ``ban_ns``, ``first_ns`` (ns since the
        epoch of the ban in force and of the first activity; NaT's integer when none).
    s : dict
        Resolved linker settings (:func:`linker_settings`).
    decided : pyspark.sql.DataFrame, optional
        ``a``, ``b`` (nodes): pairs a reviewer decided, candidates whatever they share.
    max_identifiers : int, optional
        Distinct identifiers normalised on the driver at most
        (:func:`driver_max_identifiers`); beyond, with ``mapInPandas`` on Spark, the
        same codes.

    Returns
    -------
    (pyspark.sql.DataFrame, list)
        ``a``, ``b`` (``a < b``), ``lv0..`` (level per comparison, the last the
        timing), ``sb0..`` (accounts using the rarest agreeing value, 0 without exact
        agreement); and the comparisons' specifications.

    Notes
    -----
    Cost: a count per canonical value and partial key, self-joins of the values within
    their share limits (each group at most ``limit`` accounts: at most ``limit**2 / 2``
    rows per value), two aggregations of the (pair, comparison) rows; beyond
    ``max_identifiers``, :func:`_spark_keys`'s pass over the identifiers.
    """
    from pyspark.sql import functions as F

    spark = status.sparkSession
    specs = _specs(s, frames["kind_names"])
    n_comp = len(specs)
    region = s.get("phone_region")
    n_identifiers = n_identifiers_of(frames)
    if frames["ident"] is None or n_identifiers > driver_max_identifiers(max_identifiers):
        # computed once: the uses below read the keys twice (exact values, partial keys)
        keys = materialise(_spark_keys(spark, frames, specs, region), reliable=False)
    else:
        keys = spark.createDataFrame(_keys(frames, specs, region))
    uses = frames["uses"].select("identifier", "node").join(F.broadcast(keys), "identifier") \
        if n_identifiers < 2_000_000 else \
        frames["uses"].select("identifier", "node").join(keys, "identifier")
    limit = _per_ci([c.limit for c in specs])
    # hub limits first: accounts per canonical value counted before any pair exists
    exact = uses.select("ci", "canon", "node").distinct()
    exact = materialise(exact.join(exact.groupBy("ci", "canon").agg(F.count("*").alias("cnt")),
                                   ["ci", "canon"]).where(F.col("cnt") <= limit), reliable=False)
    has_value = exact.groupBy("node").agg(
        F.bit_or(F.expr("shiftleft(CAST(1 AS BIGINT), ci)")).alias("hv"))
    band = F.lit(0)
    for ci, c in enumerate(specs):
        # the band: 0 the most shared, len(edges) - 1 values shared by two
        below = sum((F.col("cnt") > F.lit(e)).cast("int") for e in c.edges)
        band = F.when(F.col("ci") == ci, F.lit(len(c.edges) - 1) - below).otherwise(band)
    first_exact = _per_ci([c.first_exact for c in specs])
    records = [_pairs_of(exact.where(F.col("cnt") >= 2), "canon")
               .select("a", "b", "ci", (first_exact + band).alias("level"),
                       F.col("cnt").alias("shared_n"))]
    partial = uses.where(F.col("partial") >= 0).select("ci", "partial", "node").distinct()
    partial = partial.join(partial.groupBy("ci", "partial").agg(F.count("*").alias("cnt")),
                           ["ci", "partial"])
    partial = partial.where((F.col("cnt") >= 2) & (F.col("cnt") <= limit))
    alone = _per_ci([-1 if c.alone else 0 for c in specs])
    records.append(_pairs_of(partial, "partial")
                   .select("a", "b", "ci", F.lit(2).alias("level"), alone.alias("shared_n")))
    if decided is not None:
        records.append(decided.select(F.least("a", "b").cast("long").alias("a"),
                                      F.greatest("a", "b").cast("long").alias("b"),
                                      F.lit(0).alias("ci"), F.lit(0).alias("level"),
                                      F.lit(0).alias("shared_n")))
    rec = records[0]
    for r in records[1:]:
        rec = rec.unionByName(r)
    # a pair needs an exact shared value, a decision or a partial key that may stand alone
    anchored = rec.where((F.col("shared_n") != 0) | (F.col("level") == 0)).select("a", "b")
    rec = rec.join(anchored.distinct(), ["a", "b"], "left_semi")
    # the best level per (pair, comparison), then the rarest value at it
    best = (rec.where(F.col("level") > 0).groupBy("a", "b", "ci")
            .agg(F.max(F.struct(F.col("level"),
                                (-F.greatest("shared_n", F.lit(0))).alias("s"))).alias("t"))
            .select("a", "b", "ci", F.col("t.level").alias("level"),
                    (-F.col("t.s")).alias("shared_n")))
    cols = []
    for ci in range(n_comp):
        on = F.col("ci") == ci
        cols += [F.max(F.when(on, F.col("level"))).alias(f"l{ci}"),
                 F.max(F.when(on, F.col("shared_n"))).alias(f"s{ci}")]
    agreed = best.groupBy("a", "b").agg(*cols) if n_comp else best.select("a", "b")
    pairs = rec.select("a", "b").distinct().join(agreed, ["a", "b"], "left")
    hv = lambda side: has_value.select(F.col("node").alias(side), F.col("hv").alias(f"hv_{side}"))
    st = lambda side: status.select(F.col("node").cast("long").alias(side),
                                    F.col("banned").cast("boolean").alias(f"banned_{side}"),
                                    F.col("ban_ns").cast("long").alias(f"ban_{side}"),
                                    F.col("first_ns").cast("long").alias(f"first_{side}"))
    pairs = (pairs.join(hv("a"), "a", "left").join(hv("b"), "b", "left")
             .join(st("a"), "a").join(st("b"), "b"))
    both = F.coalesce(F.col("hv_a"), F.lit(0)).bitwiseAND(F.coalesce(F.col("hv_b"), F.lit(0)))
    out = [F.col("a"), F.col("b")]
    for ci in range(n_comp):
        bit = F.lit(1 << ci)
        without = (both.bitwiseAND(bit) != 0).cast("int")
        out.append(F.coalesce(F.col(f"l{ci}"), without).cast("int").alias(f"lv{ci}"))
    out.append(_timing(float(s["after_ban_days"])).alias(f"lv{n_comp}"))
    for ci in range(n_comp):
        out.append(F.coalesce(F.col(f"s{ci}"), F.lit(0)).cast("long").alias(f"sb{ci}"))
    out += [F.col("banned_a"), F.col("banned_b"), F.col("first_a"), F.col("first_b")]
    return pairs.select(*out), specs


def _timing(days: float) -> "Column":
    """:func:`ringfence.graph.linking.comparisons._timing` as a Spark expression."""
    from pyspark.sql import functions as F

    window = F.lit(days * _NS_DAY)

    def after(x: str, y: str) -> "Column":  # y started within the window after x's ban
        ok = F.col(f"banned_{x}") & (F.col(f"ban_{x}") != _NAT) & (F.col(f"first_{y}") != _NAT)
        gap = F.when(ok, F.col(f"first_{y}") - F.col(f"ban_{x}"))  # NaT would overflow
        return F.coalesce(ok & (gap >= 0) & (gap.cast("double") <= window), F.lit(False))

    return (F.when(after("a", "b") | after("b", "a"), F.lit(2))
            .when(F.col("banned_a") | F.col("banned_b"), F.lit(1)).otherwise(F.lit(0)))
