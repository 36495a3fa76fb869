"""Identity linking on Spark: the in-process linker's model, its pairs and levels as joins.

The candidate pairs and their comparison levels are computed with DataFrame joins and
aggregations (no pair on the driver); the Fellegi-Sunter parameters are estimated on
the driver from the COUNTS of the comparison patterns (a few hundred rows); each pair
then gets its weight by a broadcast join on the pattern table. The steps, as
:func:`ringfence.graph.linking.comparisons.compare_pairs` and
:class:`ringfence.graph.linking.IdentityLinker` take them:

1. Canonical values and partial keys per identifier, by the in-process normalisers
   (:mod:`ringfence.graph.linking.normalise`) on the distinct identifiers, which
   :func:`~ringfence.graph.spark.build.pair_frames` has on the driver already; beyond
   ``max_identifiers`` of them, in a ``mapInPandas`` over them.
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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ringfence.graph.config import GraphConfig
from ringfence.graph.linking.comparisons import Comparisons
from ringfence.graph.linking.fellegi_sunter import FSParameters, match_weights, probability
from ringfence.graph.linking.joint import combine_comparisons
from ringfence.graph.linking.mixing import SHARING, SHARING_LEVELS
from ringfence.graph.linking.pooling import choose_share
from ringfence.graph.linking.linker import (DIFFERENT_ACTORS, REASON_SEPARATOR, SAME_ACTOR,
                                            SHARED_ENVIRONMENT, fit_parameters, pooled_weight,
                                            pooled_words, reason_words, weights_table)
from ringfence.graph.linking.supervised import (_HASH, _P, SOFT_PAIRS, PairClassifier,
                                                adjust_prior, context_features,
                                                natural_candidates, training_rows)
from ringfence.graph.spark.components import materialise
from ringfence.graph.spark.levels import _Spec, candidate_levels, linker_settings
from ringfence.graph.spark.mixing import pair_mixing, sharing_levels_frame, spark_personal_groups

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SparkLinks", "reason_column", "soft_sample_column", "spark_link", "status_frame"]


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
        ``reason``: :func:`reason_column` gives it for the pairs shown); and what the
        reason words need: ``lv0..`` (the raw level of each comparison of
        :attr:`raw_names`), ``sb0..`` (accounts using the rarest agreeing value),
        ``fs_probability`` and, with :attr:`classifier`, ``clf_probability`` (the
        classifier's, at the candidates' match share).
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
    classifier_share : float or None
        The classifier's share of the pooled weight (as
        ``IdentityLinker.classifier_share_``); None without a classifier.
    share_table : pandas.DataFrame or None
        With ``supervised.choose_share``, the table behind that share
        (:func:`ringfence.graph.linking.pooling.choose_share`).
    raw_names, raw_level_names : list
        The comparisons before joint ones are combined, and their levels (as
        ``IdentityLinker.compared_``): the columns ``lv0..`` of :attr:`pairs`.
    """

    pairs: "DataFrame"
    patterns: pd.DataFrame
    params: FSParameters
    names: list[str]
    level_names: list[list[str]]
    classifier: PairClassifier | None
    settings: dict[str, Any]
    classifier_share: float | None = None
    share_table: pd.DataFrame | None = None
    raw_names: list[str] = field(default_factory=list)
    raw_level_names: list[list[str]] = field(default_factory=list)

    def weights_table(self) -> pd.DataFrame:
        """:meth:`ringfence.graph.linking.IdentityLinker.weights_table` from the pattern
        counts: one row per comparison level, the prior first."""
        levels = self.patterns[[f"j{j}" for j in range(len(self.names))]].to_numpy(np.int64)
        return weights_table(self.params, self.names, self.level_names, levels,
                             counts=self.patterns["pairs"].to_numpy(np.int64))


def _raw_comparisons(levels: np.ndarray, specs: list[_Spec]) -> Comparisons:
    """Rows of raw levels (pairs or patterns) as :class:`Comparisons` with the names; a
    column after the timing is the ``sharing`` comparison."""
    k = len(levels)
    sharing = levels.shape[1] > len(specs) + 1
    return Comparisons(a=np.zeros(k, np.int64), b=np.zeros(k, np.int64),
                       levels=levels.astype(np.int8),
                       names=[c.name for c in specs] + ["timing"] + [SHARING] * sharing,
                       level_names=[c.level_names for c in specs]
                       + [["null", "other", "after ban"]] + [list(SHARING_LEVELS)] * sharing,
                       shared_by=np.zeros(levels.shape, np.int32))


def _level_columns(specs: list[_Spec], s: dict[str, Any]) -> list[str]:
    """The raw level columns ``lv0..``: one per comparison, the timing, and the sharing
    comparison unless ``sharing_several_above`` is None."""
    return [f"lv{j}" for j in range(len(specs) + 1
                                    + (s["sharing_several_above"] is not None))]


def _combined(raw: Comparisons, s: dict[str, Any]) -> Comparisons:
    comp = raw
    for j in s["joint"]:
        comp = combine_comparisons(comp, j["name"], list(j["of"]))
    return comp


def spark_link(frames: dict, status: "DataFrame", config: GraphConfig, *,
               decisions: pd.DataFrame | None = None,
               max_identifiers: int | None = None) -> SparkLinks:
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
    max_identifiers : int, optional
        Distinct identifiers normalised on the driver at most; beyond, on Spark
        (:func:`~ringfence.graph.spark.levels.driver_max_identifiers`).

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
    cand, specs = candidate_levels(frames, status, s, dec, max_identifiers=max_identifiers)
    lv = _level_columns(specs, s)
    groups = None
    if s["sharing_several_above"] is not None:  # who else uses the values a pair shares
        # computed once: the personal groups and the levels below both read the candidates
        # (without the cut, every join of candidate_levels ran twice)
        cand = materialise(cand, reliable=False)
        groups = materialise(spark_personal_groups(cand, [c.name for c in specs] + ["timing"]),
                             reliable=False)
        cand = sharing_levels_frame(cand, groups, frames, config,
                                    float(s["sharing_several_above"]), lv[-1])
    if dec is not None:
        cand = cand.join(F.broadcast(dec), ["a", "b"], "left")
    else:
        cand = cand.withColumn("decided", F.lit(None).cast("string"))
    cand = cand.withColumn("decided", F.coalesce("decided", F.lit("")))
    label = (F.when(F.col("decided") == SAME_ACTOR, 1)
             .when(F.col("decided") == DIFFERENT_ACTORS, 0).otherwise(-1))
    # computed once, lineage cut: every later step plans from here, not from the uses
    cand = materialise(cand.withColumn("label", label), reliable=False, eager=False)
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
    classifier, mixing = _classifier(scored, specs, pattern_comp, s, frames, config, groups)
    share, share_table = None, None
    if classifier is not None:
        scored, share, share_table = _pooled(scored, classifier, specs, pattern_comp, s,
                                             frames, mixing, params.prior)
    else:
        scored = scored.withColumn("match_weight", F.col("fs_weight")) \
            .withColumn("match_probability", F.col("fs_probability"))
    same = (((F.col("match_probability") >= float(s["threshold"]))
             | (F.col("decided") == SAME_ACTOR)) & (F.col("decided") != DIFFERENT_ACTORS))
    # what the reason words need (reason_column), kept: a few integers per pair
    words = [*lv, *[f"sb{ci}" for ci in range(len(specs))], "fs_probability"] \
        + (["clf_probability"] if classifier is not None else [])
    pairs = scored.select("a", "b", "match_weight", "match_probability",
                          F.when(same, SAME_ACTOR).otherwise(SHARED_ENVIRONMENT)
                          .alias("link_kind"), "decided", *bf_cols, *words)
    pairs = materialise(pairs, reliable=True)
    return SparkLinks(pairs=pairs, patterns=patterns, params=params,
                      names=list(pattern_comp.names), level_names=pattern_comp.level_names,
                      classifier=classifier, settings=s, classifier_share=share,
                      share_table=share_table, raw_names=list(raw.names),
                      raw_level_names=list(raw.level_names))


def reason_column(links: SparkLinks) -> "Column":
    """The ``reason`` of :attr:`SparkLinks.pairs` (or of a table with their ``lv*``,
    ``sb*``, ``fs_probability``, ``clf_probability`` columns) as
    :meth:`ringfence.graph.linking.IdentityLinker.reasons` words it: the same phrases
    (:func:`~ringfence.graph.linking.linker.reason_words`), one ``when`` per comparison
    and section, joined by ``concat_ws`` (which skips the comparisons without words);
    with the classifier, its first phrase by
    :func:`~ringfence.graph.linking.linker.pooled_words` in a pandas UDF, so the rounded
    probabilities are Arrow's digits, as in-process (Spark's own ``round`` and double
    formatting give others: ``0.0`` for Arrow's ``0``).

    Cost: a column expression, evaluated only on the rows selected with it (the links
    shown), plus one Arrow batch pass for the classifier's phrase.

    Examples
    --------
    >>> links.pairs.select(reason_column(links).alias("reason"))  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    agree, differ, timing = [], [], []
    for j, (name, levels) in enumerate(zip(links.raw_names, links.raw_level_names)):
        words = reason_words(name, levels, links.settings["after_ban_days"])
        level = F.col(f"lv{j}")

        def at(phrases: dict[int, str], phrase: "Column | None" = None) -> "Column | None":
            for lvl, text in phrases.items():
                phrase = F.when(level == lvl, F.lit(text)) if phrase is None \
                    else F.when(level == lvl, F.lit(text)).otherwise(phrase)
            return phrase

        exact = None
        if words.exact_from is not None:
            exact = F.when(level >= words.exact_from,
                           F.concat(F.lit(words.exact[0]), F.col(f"sb{j}").cast("string"),
                                    F.lit(words.exact[1])))
        for section, phrase in ((agree, at(words.agree, exact)), (differ, at(words.differ)),
                                (timing, at(words.timing))):
            if phrase is not None:
                section.append(phrase)
    if links.classifier is not None:
        @F.pandas_udf("string")
        def pooled(p_clf: pd.Series, p_fs: pd.Series) -> pd.Series:
            text = pooled_words(p_clf.to_numpy(float), p_fs.to_numpy(float))
            return pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)

        agree.insert(0, pooled(F.col("clf_probability"), F.col("fs_probability")))
    parts = agree + differ + timing
    return F.concat_ws(REASON_SEPARATOR, *parts) if parts else F.lit("")


def _context(scored: "DataFrame", specs: list[_Spec], frames: dict,
             mixing: "DataFrame") -> "DataFrame":
    """The raw counts behind the classifier's pair context, joined onto the pairs
    (``mixing``: :func:`~ringfence.graph.spark.mixing.pair_mixing`'s)."""
    from pyspark.sql import functions as F

    degree = (scored.select(F.col("a").alias("node")).unionByName(
        scored.select(F.col("b").alias("node"))).groupBy("node").agg(F.count("*").alias("deg")))
    out = scored.join(degree.select(F.col("node").alias("a"), F.col("deg").alias("deg_a")), "a") \
        .join(degree.select(F.col("node").alias("b"), F.col("deg").alias("deg_b")), "b") \
        .join(mixing, ["a", "b"])
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
        rows["banned_a"].to_numpy(bool), rows["banned_b"].to_numpy(bool),
        rows["same_person"].to_numpy(float), rows["mixing"].to_numpy(float))
    return pd.concat([X, context], axis=1)


def soft_sample_column(undecided: int, limit: int = SOFT_PAIRS) -> "Column":
    """:func:`~ringfence.graph.linking.supervised.soft_sample` as a Spark column of the
    pairs' ``a`` and ``b``: the same hash in the same exact integer arithmetic (every
    product stays below 2**63, so ANSI mode never overflows)."""
    from pyspark.sql import functions as F

    if undecided <= limit:
        return F.lit(True)
    p, (ka, kb, k2, c) = _P, _HASH
    h = (F.col("a") % p * ka + F.col("b") % p * kb) % p
    return (h * k2 + c) % p < int(p * limit / undecided)


def _classifier(scored: "DataFrame", specs: list[_Spec], comp: Comparisons,
                s: dict[str, Any], frames: dict, config: GraphConfig,
                groups: "DataFrame | None" = None
                ) -> tuple[PairClassifier | None, "DataFrame | None"]:
    """The pair classifier fitted on the decided candidate pairs (collected: reviewers'
    work is small), when each class has ``supervised.min_decisions`` of them; and the
    candidates' :func:`~ringfence.graph.spark.mixing.pair_mixing` it was fitted with
    (computed only then; ``groups``: the personal groups when the sharing comparison
    computed them already, else a connected-components pass finds them)."""
    from pyspark.sql import functions as F

    lv = _level_columns(specs, s)
    decided = scored.where(F.col("label") >= 0)
    levels = decided.select("a", "b", *lv, "label").toPandas()
    natural = natural_candidates(_raw_comparisons(levels[lv].to_numpy(np.int64), specs),
                                 s["partial_candidates"])
    y = levels["label"].to_numpy()
    if min(int((y[natural] == 1).sum()), int((y[natural] == 0).sum())) \
            < s["supervised"]["min_decisions"]:
        return None, None
    mixing = pair_mixing(scored, [c.name for c in specs] + ["timing"], frames, config, groups)
    wanted = F.col("label") >= 0
    fs_prior = float(s["supervised"]["fs_prior"])
    if fs_prior > 0:  # and the undecided pairs soft_sample keeps, by the same hash
        wanted = wanted | soft_sample_column(scored.count() - len(levels))
    rows = _context(scored, specs, frames, mixing).where(wanted).toPandas()
    rows = rows.sort_values(["a", "b"], ignore_index=True)
    natural = natural_candidates(_raw_comparisons(rows[lv].to_numpy(np.int64), specs),
                                 s["partial_candidates"])
    label = rows["label"].to_numpy()
    train, soft = np.flatnonzero(natural & (label >= 0)), np.flatnonzero(natural & (label < 0))
    X = _features(rows, specs, comp)
    # IdentityLinker.fit's rows, in its order
    take, y, w = training_rows(train, label[train] == 1, soft, X["fs_weight"].to_numpy(),
                               fs_prior)
    clf = PairClassifier(s["supervised"]).fit(
        X.iloc[take], y, categorical=list(comp.names),
        n_levels=[len(x) for x in comp.level_names], sample_weight=w)
    return clf, mixing


def _pooled(scored: "DataFrame", clf: PairClassifier, specs: list[_Spec], comp: Comparisons,
            s: dict[str, Any], frames: dict, mixing: "DataFrame", start: float
            ) -> tuple["DataFrame", float, pd.DataFrame | None]:
    """Pairs with the classifier's probability (``mapInPandas``), its match share by EM as
    Spark aggregations (:meth:`PairClassifier.fit_share`), the classifier's share of the
    pool (:func:`_chosen_share`) and the pooled weight; returns ``(pairs, share, table)``."""
    from pyspark.sql import functions as F

    base = _context(scored, specs, frames, mixing)
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
    weight_share, table = float(settings["classifier_share"]), None
    if settings["choose_share"]:
        weight_share, table = _chosen_share(base, clf, specs, s)
    out_fields = (f"{fields}, clf_raw double, match_weight double, match_probability double, "
                  "clf_probability double")

    def pool(batches):
        for rows in batches:
            p = adjust_prior(rows["clf_raw"].to_numpy(float), ts, clf.match_share_)
            w = pooled_weight(p, rows["fs_weight"].to_numpy(float), weight_share)
            yield rows.assign(match_weight=w, match_probability=probability(w),
                              clf_probability=p)

    return base.mapInPandas(pool, out_fields), weight_share, table


def _chosen_share(base: "DataFrame", clf: PairClassifier, specs: list[_Spec],
                  s: dict[str, Any]) -> tuple[float, pd.DataFrame]:
    """:func:`~ringfence.graph.linking.pooling.choose_share` on the pairs it needs: the
    decided ones and those either model links (collected to the driver: at most the links
    and the decisions); the other candidates count only in number."""
    from pyspark.sql import functions as F

    ts, share = clf.train_share_, clf.match_share_
    cut = float(np.log2(s["threshold"] / (1 - s["threshold"])))
    partial = s["partial_candidates"]
    lv = _level_columns(specs, s)

    def needed(batches):
        for rows in batches:
            p = adjust_prior(rows["clf_raw"].to_numpy(float), ts, share)
            cw = np.log2(p) - np.log2(1 - p)
            fw = rows["fs_weight"].to_numpy(float)
            label = rows["label"].to_numpy(np.int64)
            keep = (label >= 0) | (cw >= cut) | (fw >= cut)
            natural = natural_candidates(
                _raw_comparisons(rows[lv].to_numpy(np.int64)[keep], specs), partial)
            yield pd.DataFrame({"a": rows["a"].to_numpy(np.int64)[keep],
                                "b": rows["b"].to_numpy(np.int64)[keep], "cw": cw[keep],
                                "fw": fw[keep], "label": label[keep], "natural": natural})

    got = base.select("a", "b", "clf_raw", "fs_weight", "label", *lv).mapInPandas(
        needed, "a long, b long, cw double, fw double, label long, natural boolean").toPandas()
    # the order of the pairs changes neither the components nor the counts
    got = got.sort_values(["a", "b"], ignore_index=True)
    label = got["label"].to_numpy(np.int64)
    n = int(max(got["a"].max(), got["b"].max()) + 1) if len(got) else 1
    return choose_share(n, got["a"].to_numpy(np.int64), got["b"].to_numpy(np.int64),
                        got["cw"].to_numpy(float), got["fw"].to_numpy(float), label >= 0,
                        label == 1, got["natural"].to_numpy(bool) & (label >= 0), share,
                        float(s["threshold"]), candidates=base.count())


def status_frame(spark: "SparkSession", status: pd.DataFrame) -> "DataFrame":
    """The account status :func:`spark_link` needs (``node``, ``banned``, ``ban_ns``,
    ``first_ns``) from :attr:`ringfence.graph.build.AccountGraph.status` on the driver."""
    return spark.createDataFrame(pd.DataFrame({
        "node": np.arange(len(status), dtype=np.int64),
        "banned": status["banned"].to_numpy(bool),
        "ban_ns": pd.DatetimeIndex(status["ban_at"]).asi8,
        "first_ns": pd.DatetimeIndex(status["first_activity"]).asi8}))
