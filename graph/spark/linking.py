"""Identity linking on Spark: the in-process linker's model, its pairs and levels as joins.

The candidate pairs and their comparison levels are computed with DataFrame joins and
aggregations (no pair on the driver); the Fellegi-Sunter parameters are estimated on
the driver from the COUNTS of the comparison patterns (a few hundred rows); each pair
then gets its weight by a broadcast join on the pattern table. The steps, as
:func:`ringfence.graph.linking.comparisons.compare_pairs` and
:class:`ringfence.graph.linking.IdentityLinker` take them:

1. Canonical values and partial keys per identifier, by the in-process normalisers
   (:mod:`ringfence.graph.linking.normalise`) on the distinct identifiers, which
   :func:`~ringfence.graph.spark.build.pair_frames` has on the driver already.
2. Per comparison, the accounts per canonical value are counted FIRST; values above the
   kind's share limit join nothing (a hub is a count, never a list of members), the
   others give pairs by a self-join, at their hub band; partial keys (email local part,
   IP network) likewise at the partial level. A pair needs an exact shared value, a
   partial key of ``partial_candidates`` or a reviewer's decision; its level per
   comparison is the best one, ``different`` when both have a value, else ``null``;
   the timing level from the accounts' bans and first activity.
3. The pairs grouped by (level vector, reviewer label): counted, collected, combined
   into the joint comparisons by :func:`~ringfence.graph.linking.joint.combine_comparisons`
   and fitted by :func:`~ringfence.graph.linking.linker.fit_parameters` with the counts
   (the EM of in-process, on the same distinct vectors with the same multiplicities).
4. The pattern table (weight, probability, Bayes factors per pattern) broadcast back
   onto the pairs; the kind decided by the threshold and the reviewers' decisions.
5. With enough decided pairs of both classes, the pair classifier is fitted on the
   driver on the decided pairs (small) and applied with ``mapInPandas``; its match
   share is estimated by EM as Spark aggregations.

pyspark is imported inside the functions: :mod:`ringfence.graph` imports every module of
the package (its docstrings are tested) without the ``spark`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ringfence.graph.config import GraphConfig
from ringfence.graph.linking.comparisons import Comparisons, _canonical, band_names
from ringfence.graph.linking.fellegi_sunter import FSParameters, match_weights, probability
from ringfence.graph.linking.joint import combine_comparisons
from ringfence.graph.linking.linker import (DIFFERENT_ACTORS, SAME_ACTOR, SHARED_ENVIRONMENT,
                                            _settings, fit_parameters, pooled_weight)
from ringfence.graph.linking.supervised import (PairClassifier, adjust_prior, context_features,
                                                natural_candidates)
from ringfence.graph.spark.components import materialise

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SparkLinks", "candidate_levels", "linker_settings", "spark_link", "status_frame"]

_NS_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min


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
    """The comparisons in :func:`compare_pairs`'s order (configured, then other kinds)."""
    by_kind = {c["kind"]: c for c in s["comparisons"]}
    names = [c["name"] for c in s["comparisons"]]
    kinds = [c["kind"] for c in s["comparisons"]]
    if s.get("other_kinds", True):
        for k in kind_names:
            if k not in kinds:
                names.append(k)
                kinds.append(k)
    out = []
    for name, kind in zip(names, kinds):
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


def _keys(frames: dict, specs: list[_Spec], region: str | None) -> pd.DataFrame:
    """Per (identifier, comparison): the code of its canonical value and of its partial
    key (-1: none), by the in-process normalisers on the distinct identifiers."""
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
            "canon": canon.astype(np.int64),
            "partial": (partial if partial is not None
                        else np.full(len(rows), -1)).astype(np.int64)}))
    if not parts:
        return pd.DataFrame({"identifier": np.empty(0, np.int64), "ci": np.empty(0, np.int32),
                             "canon": np.empty(0, np.int64), "partial": np.empty(0, np.int64)})
    return pd.concat(parts, ignore_index=True)


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
                     decided: "DataFrame | None" = None) -> tuple["DataFrame", list[_Spec]]:
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
    rows per value), two aggregations of the (pair, comparison) rows.
    """
    from pyspark.sql import functions as F

    spark = status.sparkSession
    specs = _specs(s, frames["kind_names"])
    n_comp = len(specs)
    keys = spark.createDataFrame(_keys(frames, specs, s.get("phone_region")))
    uses = frames["uses"].select("identifier", "node").join(F.broadcast(keys), "identifier") \
        if len(frames["ident"]) < 2_000_000 else \
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


@dataclass
class SparkLinks:
    """Result of :func:`spark_link`.

    Attributes
    ----------
    pairs : pyspark.sql.DataFrame
        Every candidate pair: ``a``, ``b`` (nodes, ``a < b``), ``match_weight`` (log2
        odds; with :attr:`classifier`, pooled with the classifier's),
        ``match_probability``, ``link_kind`` (``"same_actor"`` /
        ``"shared_environment"``), ``decided`` (the reviewer's decision or ``""``),
        ``bf_<comparison>`` (Fellegi-Sunter's log2 Bayes factor of each joint
        comparison), as :meth:`ringfence.graph.linking.IdentityLinker.predict` (without
        ``reason``).
    patterns : pandas.DataFrame
        One row per comparison pattern: ``lv0..`` (raw levels), ``pairs`` (how many
        candidates show it), ``fs_weight``, ``fs_probability`` and the ``bf_*`` columns:
        the table behind every Fellegi-Sunter decision.
    params : FSParameters
        m, u and the prior (of the joint comparisons).
    names, level_names : list
        The joint comparisons and their levels (as ``IdentityLinker.comparisons_``).
    classifier : PairClassifier or None
        Fitted on the decided candidate pairs when each class has enough of them.
    settings : dict
        The resolved linker settings.
    """

    pairs: "DataFrame"
    patterns: pd.DataFrame
    params: FSParameters
    names: list[str]
    level_names: list[list[str]]
    classifier: PairClassifier | None
    settings: dict[str, Any]

    def weights_table(self) -> pd.DataFrame:
        """:meth:`ringfence.graph.linking.IdentityLinker.weights_table` from the pattern
        counts: one row per comparison level, the prior first."""
        p = self.params
        lv = self._joint_levels()
        counts = self.patterns["pairs"].to_numpy(np.int64)
        rows = [{"comparison": "prior", "level": "", "m": p.prior, "u": 1 - p.prior,
                 "log2_bayes_factor": float(np.log2(p.prior / (1 - p.prior))),
                 "pairs": int(counts.sum())}]
        for j, (name, levels) in enumerate(zip(self.names, self.level_names)):
            n = np.bincount(lv[:, j], weights=counts, minlength=len(levels))
            for k, lname in enumerate(levels):
                rows.append({"comparison": name, "level": lname, "m": float(p.m[j][k]),
                             "u": float(p.u[j][k]),
                             "log2_bayes_factor": float(np.log2(p.m[j][k] / p.u[j][k])),
                             "pairs": int(n[k])})
        return pd.DataFrame(rows)

    def _joint_levels(self) -> np.ndarray:
        return self.patterns[[f"j{j}" for j in range(len(self.names))]].to_numpy(np.int64)


def _raw_comparisons(levels: np.ndarray, specs: list[_Spec]) -> Comparisons:
    """Rows of raw levels (pairs or patterns) as :class:`Comparisons` with the names."""
    k = len(levels)
    return Comparisons(a=np.zeros(k, np.int64), b=np.zeros(k, np.int64),
                       levels=levels.astype(np.int8),
                       names=[c.name for c in specs] + ["timing"],
                       level_names=[c.level_names for c in specs]
                       + [["null", "other", "after ban"]],
                       shared_by=np.zeros(levels.shape, np.int32))


def _combined(raw: Comparisons, s: dict[str, Any]) -> Comparisons:
    comp = raw
    for j in s["joint"]:
        comp = combine_comparisons(comp, j["name"], list(j["of"]))
    return comp


def spark_link(frames: dict, status: "DataFrame", config: GraphConfig, *,
               decisions: pd.DataFrame | None = None) -> SparkLinks:
    """The in-process identity linker's decisions for every candidate pair, on Spark.

    Parameters
    ----------
    frames : dict
        :func:`~ringfence.graph.spark.build.pair_frames`'s result.
    status : pyspark.sql.DataFrame
        Per account: ``node``, ``banned``, ``ban_ns``, ``first_ns`` (see
        :func:`candidate_levels`).
    config : GraphConfig
        ``linking`` (the :class:`~ringfence.graph.linking.IdentityLinker` settings), the
        share limits and ``max_identity_size``.
    decisions : pandas.DataFrame, optional
        Reviewer decisions as nodes: ``a``, ``b``, ``decision`` (``"same_actor"`` /
        ``"different_actors"``); a table of reviewers' work, small.

    Returns
    -------
    SparkLinks
        The pairs (a Spark DataFrame, persisted) and the model behind them.

    Notes
    -----
    Cost: :func:`candidate_levels`, one aggregation of the pairs by pattern (collected:
    one row per distinct level vector and label), EM over those patterns on the driver,
    one broadcast join of the pattern table. With the classifier: a few joins for its
    pair context, a ``mapInPandas`` pass, and one aggregation per EM step of its match
    share.

    Examples
    --------
    >>> links = spark_link(pair_frames(spark, tables, config, as_of), status, config)  # doctest: +SKIP
    >>> links.weights_table()  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    spark = status.sparkSession
    s = linker_settings(config, frames["kind_names"])
    dec = None
    if decisions is not None and len(decisions):
        d = pd.DataFrame({"a": np.minimum(decisions["a"], decisions["b"]).astype(np.int64),
                          "b": np.maximum(decisions["a"], decisions["b"]).astype(np.int64),
                          "decided": decisions["decision"].astype(str).to_numpy(object)})
        dec = spark.createDataFrame(d)
    cand, specs = candidate_levels(frames, status, s, dec)
    n_raw = len(specs) + 1
    lv = [f"lv{j}" for j in range(n_raw)]
    if dec is not None:
        cand = cand.join(F.broadcast(dec), ["a", "b"], "left")
    else:
        cand = cand.withColumn("decided", F.lit(None).cast("string"))
    cand = cand.withColumn("decided", F.coalesce("decided", F.lit("")))
    label = (F.when(F.col("decided") == SAME_ACTOR, 1)
             .when(F.col("decided") == DIFFERENT_ACTORS, 0).otherwise(-1))
    # computed once, lineage cut: every later step plans from here, not from the uses
    cand = materialise(cand.withColumn("label", label), reliable=False)
    counted = cand.groupBy(*lv, "label").count().toPandas()
    counted = counted.sort_values(lv + ["label"], ignore_index=True)
    raw = _raw_comparisons(counted[lv].to_numpy(np.int64), specs)
    comp = _combined(raw, s)
    params = fit_parameters(comp, counted["label"].to_numpy(np.int64), s, raw.names,
                            counts=counted["count"].to_numpy(np.int64))
    # the pattern table: per distinct raw vector, the weights in-process gives its pairs
    by_pattern = counted.groupby(lv, as_index=False, sort=True)["count"].sum()
    pattern_comp = _combined(_raw_comparisons(by_pattern[lv].to_numpy(np.int64), specs), s)
    bf = match_weights(pattern_comp.levels, params)
    fs_weight = np.log2(params.prior / (1 - params.prior)) + bf.sum(axis=1)
    patterns = by_pattern.rename(columns={"count": "pairs"})
    for j in range(len(pattern_comp.names)):
        patterns[f"j{j}"] = pattern_comp.levels[:, j].astype(np.int64)
    patterns["fs_weight"] = fs_weight
    patterns["fs_probability"] = probability(fs_weight)
    bf_cols = []
    for j, name in enumerate(pattern_comp.names):
        patterns[f"bf_{name}"] = bf[:, j]
        bf_cols.append(f"bf_{name}")
    scored = cand.join(F.broadcast(spark.createDataFrame(patterns.drop(columns="pairs"))), lv)
    classifier = _classifier(scored, specs, pattern_comp, params, s, frames)
    if classifier is not None:
        scored = _pooled(scored, classifier, specs, pattern_comp, s, frames, params.prior)
    else:
        scored = scored.withColumn("match_weight", F.col("fs_weight")) \
            .withColumn("match_probability", F.col("fs_probability"))
    same = (((F.col("match_probability") >= float(s["threshold"]))
             | (F.col("decided") == SAME_ACTOR)) & (F.col("decided") != DIFFERENT_ACTORS))
    pairs = scored.select("a", "b", "match_weight", "match_probability",
                          F.when(same, SAME_ACTOR).otherwise(SHARED_ENVIRONMENT)
                          .alias("link_kind"), "decided", *bf_cols)
    pairs = materialise(pairs, reliable=True)
    return SparkLinks(pairs=pairs, patterns=patterns, params=params,
                      names=list(pattern_comp.names), level_names=pattern_comp.level_names,
                      classifier=classifier, settings=s)


def _context(scored: "DataFrame", specs: list[_Spec], frames: dict) -> "DataFrame":
    """The raw counts behind the classifier's pair context, joined onto the pairs."""
    from pyspark.sql import functions as F

    degree = (scored.select(F.col("a").alias("node")).unionByName(
        scored.select(F.col("b").alias("node"))).groupBy("node").agg(F.count("*").alias("deg")))
    out = scored.join(degree.select(F.col("node").alias("a"), F.col("deg").alias("deg_a")), "a") \
        .join(degree.select(F.col("node").alias("b"), F.col("deg").alias("deg_b")), "b")
    if frames["pairs"] is not None:
        out = out.join(frames["pairs"].select("a", "b", F.col("n_shared").alias("ns")),
                       ["a", "b"], "left")
    else:
        out = out.withColumn("ns", F.lit(None).cast("long"))
    if frames["links_by_edge"] is not None:
        out = out.join(frames["links_by_edge"].select("a", "b", F.col("n_edges").alias("ne")),
                       ["a", "b"], "left")
    else:
        out = out.withColumn("ne", F.lit(None).cast("long"))
    return out.withColumn("ns", F.coalesce("ns", F.lit(0)).cast("double")) \
        .withColumn("ne", F.coalesce("ne", F.lit(0)).cast("double"))


def _features(rows: pd.DataFrame, specs: list[_Spec], comp: Comparisons) -> pd.DataFrame:
    """The classifier's input (:meth:`IdentityLinker._features`'s columns) of these rows."""
    X = pd.DataFrame({name: rows[f"j{j}"].to_numpy(np.int8)
                      for j, name in enumerate(comp.names)})
    X["fs_weight"] = rows["fs_weight"].to_numpy(float)
    context = context_features(
        {c.name: rows[f"sb{ci}"].to_numpy(np.int64) for ci, c in enumerate(specs)},
        rows["ns"].to_numpy(float), rows["deg_a"].to_numpy(np.int64),
        rows["deg_b"].to_numpy(np.int64), rows["ne"].to_numpy(float),
        rows["first_a"].to_numpy(np.int64), rows["first_b"].to_numpy(np.int64),
        rows["banned_a"].to_numpy(bool), rows["banned_b"].to_numpy(bool))
    return pd.concat([X, context], axis=1)


def _classifier(scored: "DataFrame", specs: list[_Spec], comp: Comparisons,
                params: FSParameters, s: dict[str, Any], frames: dict) -> PairClassifier | None:
    """The pair classifier fitted on the decided candidate pairs (collected: reviewers'
    work is small), when each class has ``supervised.min_decisions`` of them."""
    from pyspark.sql import functions as F

    decided = scored.where(F.col("label") >= 0)
    if decided.limit(1).count() == 0:
        return None
    rows = _context(scored, specs, frames).where(F.col("label") >= 0).toPandas()
    rows = rows.sort_values(["a", "b"], ignore_index=True)
    lv = [f"lv{j}" for j in range(len(specs) + 1)]
    natural = natural_candidates(_raw_comparisons(rows[lv].to_numpy(np.int64), specs),
                                 s["partial_candidates"])
    y = rows["label"].to_numpy()
    train = natural
    if min(int((y[train] == 1).sum()), int((y[train] == 0).sum())) \
            < s["supervised"]["min_decisions"]:
        return None
    X = _features(rows.iloc[np.flatnonzero(train)].reset_index(drop=True), specs, comp)
    return PairClassifier(s["supervised"]).fit(
        X, y[train] == 1, categorical=list(comp.names),
        n_levels=[len(x) for x in comp.level_names])


def _pooled(scored: "DataFrame", clf: PairClassifier, specs: list[_Spec], comp: Comparisons,
            s: dict[str, Any], frames: dict, start: float) -> "DataFrame":
    """Pairs with the classifier's probability (``mapInPandas``), its match share by EM as
    Spark aggregations (:meth:`PairClassifier.fit_share`), and the pooled weight."""
    from pyspark.sql import functions as F

    base = _context(scored, specs, frames)
    fields = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in base.schema.fields)

    def raw(batches):
        for rows in batches:
            yield rows.assign(clf_raw=clf._raw(_features(rows, specs, comp)))

    base = materialise(base.mapInPandas(raw, f"{fields}, clf_raw double"), reliable=False)
    settings = s["supervised"]
    ts = clf.train_share_
    if settings["match_share"] is None:  # PairClassifier.fit_share, summed on Spark
        p = F.least(F.greatest(F.col("clf_raw"), F.lit(1e-12)), F.lit(1 - 1e-12))
        # one narrow cached column: each EM step is one small aggregation
        raw_odds = materialise(base.select((p / (1 - p)).alias("o")), reliable=False)
        share = float(np.clip(start, 1e-6, 1 - 1e-6))
        for _ in range(100):
            odds = F.col("o") * F.lit(share / (1 - share)) / F.lit(ts / (1 - ts))
            mean = raw_odds.agg(F.avg(odds / (1 + odds))).first()[0]
            new = float(np.clip(mean, 1e-6, 1 - 1e-6))
            done = abs(new - share) < 1e-6
            share = new
            if done:
                break
        clf.match_share_ = share
    weight_share = float(settings["classifier_share"])
    out_fields = f"{fields}, clf_raw double, match_weight double, match_probability double"

    def pool(batches):
        for rows in batches:
            p = adjust_prior(rows["clf_raw"].to_numpy(float), ts, clf.match_share_)
            w = pooled_weight(p, rows["fs_weight"].to_numpy(float), weight_share)
            yield rows.assign(match_weight=w, match_probability=probability(w))

    return base.mapInPandas(pool, out_fields)


def status_frame(spark: "SparkSession", status: pd.DataFrame) -> "DataFrame":
    """The account status :func:`spark_link` needs (``node``, ``banned``, ``ban_ns``,
    ``first_ns``) from :attr:`ringfence.graph.build.AccountGraph.status` on the driver."""
    return spark.createDataFrame(pd.DataFrame({
        "node": np.arange(len(status), dtype=np.int64),
        "banned": status["banned"].to_numpy(bool),
        "ban_ns": pd.DatetimeIndex(status["ban_at"]).asi8,
        "first_ns": pd.DatetimeIndex(status["first_activity"]).asi8}))
