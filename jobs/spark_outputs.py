"""The flag job's output tables beyond the driver, as Spark DataFrames.

When the links do not fit on the driver (``driver_max_links``), the graph stages leave
their results on Spark (:class:`~ringfence.graph.spark.state.SparkGraphState`). Each
function here makes one of the run folder's tables from them with the in-process columns
(``scores``, ``identities``, ``links``, ``clusters``), by joins and aggregations: nothing of
the size of the accounts or the links is collected. :func:`local_graph` collects the one
part the driver needs, the links around the flagged accounts, for their evidence paths.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ringfence.graph.build import AccountGraph, _from_ns, _symmetric, decay
from ringfence.graph.config import GraphConfig
from ringfence.graph.linking import SAME_ACTOR
from ringfence.graph.masking import Masker
from ringfence.graph.rings import ACTIVE_DAYS
from ringfence.graph.spark.build import _ns as _us_to_ns
from ringfence.graph.spark.linking import reason_column
from ringfence.jobs.continuity import add_status, carried_labels

__all__ = ["local_graph", "scores_frame", "identities_frame", "links_frame", "clusters_frame",
           "latest_decisions", "vs_previous_frame", "carried_groups"]

_NAT = np.iinfo(np.int64).min


def _ts(ns_col: str):
    """A ns-since-epoch column (``-2**63``: none) as a Spark timestamp (null: none)."""
    return F.when(F.col(ns_col) != F.lit(_NAT),
                  F.timestamp_micros(F.floor(F.col(ns_col) / 1000).cast("long")))


def _touching(df: DataFrame, nodes: DataFrame) -> DataFrame:
    """Rows of a link table with ``a`` or ``b`` among ``nodes`` (``node``), each once."""
    cols = df.columns
    by_a = df.join(F.broadcast(nodes.withColumnRenamed("node", "a")), "a").select(*cols)
    by_b = df.join(F.broadcast(nodes.withColumnRenamed("node", "b")), "b").select(*cols)
    return by_a.unionByName(by_b).dropDuplicates(["a", "b"])


def _within(df: DataFrame, nodes: DataFrame) -> DataFrame:
    """Rows of a link table with both ends among ``nodes``."""
    cols = df.columns
    return (df.join(F.broadcast(nodes.withColumnRenamed("node", "a")), "a")
            .join(F.broadcast(nodes.withColumnRenamed("node", "b")), "b").select(*cols))


def local_graph(spark: SparkSession, state: Any, status: pd.DataFrame, account_ids: np.ndarray,
                flagged: np.ndarray, config: GraphConfig) -> AccountGraph:
    """The account graph as the driver needs it for the flagged accounts' evidence and the
    graph kept around them: every account and its status, but only the links touching
    the flagged accounts or their neighbours, the links among the accounts those reach,
    and those accounts' identifier uses.

    :func:`~ringfence.graph.evidence.evidence_paths` (paths of 1 or 2 hops) and
    :func:`~ringfence.graph.subgraph.keep_around` (2 hops) see exactly what they see on
    the whole graph. Cost: a few broadcast joins of the link tables with the flagged
    accounts' neighbourhood; the rows collected grow with the queue, not the platform.
    """
    fr = state.frames
    n = len(account_ids)
    centre = spark.createDataFrame(pd.DataFrame({"node": np.asarray(flagged, np.int64)}),
                                   "node long")
    gl = state.graph_links.select("a", "b")
    near = (gl.join(F.broadcast(centre.withColumnRenamed("node", "a")), "a")
            .select(F.col("b").alias("node"))
            .unionByName(gl.join(F.broadcast(centre.withColumnRenamed("node", "b")), "b")
                         .select(F.col("a").alias("node")))
            .unionByName(centre).distinct())
    near = spark.createDataFrame(near.toPandas(), "node long")
    tables = {}
    for name in ("pairs", "links_by_edge"):
        df = fr[name]
        tables[name] = None if df is None else _touching(df, near).toPandas()
    reached = np.unique(np.concatenate(
        [np.asarray(flagged, np.int64)]
        + [t[c].to_numpy(np.int64) for t in tables.values() if t is not None for c in "ab"]))
    reach = spark.createDataFrame(pd.DataFrame({"node": reached}), "node long")
    for name in ("pairs", "links_by_edge"):
        if fr[name] is not None:
            more = _within(fr[name], reach).toPandas()
            tables[name] = pd.concat([tables[name], more]).drop_duplicates(["a", "b"])
    pairs = _sorted(tables["pairs"], {"a": np.int64, "b": np.int64, "weight": float,
                                      "n_shared": np.int64, "kinds": np.int64,
                                      "top_identifier": np.int64})
    lbe = _sorted(tables["links_by_edge"], {"a": np.int64, "b": np.int64, "weight": float,
                                            "n_edges": np.int64, "kinds": np.int64,
                                            "top_kind": np.int64, "amount": float,
                                            "last_us": np.int64})
    lbe["last_at"] = _from_ns(_us_to_ns(lbe.pop("last_us").to_numpy()))
    u = (fr["uses"].join(F.broadcast(reach), "node").toPandas() if fr["uses"] is not None
         else pd.DataFrame({c: np.array([], np.int64) for c in
                            ("identifier", "node", "count", "first_us", "last_us")}))
    if fr["ident"] is None:  # the identifier table stayed on Spark: only what the graph cites
        top = pairs["top_identifier"].to_numpy(np.int64)
        cited = np.unique(np.concatenate([u["identifier"].to_numpy(np.int64), top[top >= 0]]))
        wanted = spark.createDataFrame(pd.DataFrame({"identifier": cited}), "identifier long")
        ident_pd = (fr["ident_frame"].join(F.broadcast(wanted), "identifier").toPandas()
                    .sort_values("identifier", ignore_index=True))
        # renumbered in their order: evidence's ties and keep_around's numbering unchanged
        u["identifier"] = np.searchsorted(cited, u["identifier"].to_numpy(np.int64))
        pairs["top_identifier"] = np.where(top >= 0, np.searchsorted(cited, top), -1)
    else:
        ident_pd = fr["ident"]
    ident = pd.DataFrame({
        "kind": pd.Categorical.from_codes(ident_pd["kind_code"].to_numpy().astype(np.int64),
                                          categories=fr["kind_names"]),
        "value": pd.array(ident_pd["value"].to_numpy(object), dtype="str"),
        "n_accounts": ident_pd["n_accounts"].to_numpy().astype(np.int32),
        "weight": ident_pd["weight"].to_numpy(float)})
    u = u.iloc[np.lexsort((u["node"].to_numpy(), u["identifier"].to_numpy()))]
    uses = pd.DataFrame({"account": u["node"].to_numpy().astype(np.int32),
                         "identifier": u["identifier"].to_numpy().astype(np.int32),
                         "count": u["count"].to_numpy().astype(np.int32),
                         "first_seen": _from_ns(_us_to_ns(u["first_us"].to_numpy())),
                         "last_seen": _from_ns(_us_to_ns(u["last_us"].to_numpy()))})
    uses["recency"] = decay(uses["last_seen"], state.as_of, config.identifier_half_life_days)
    status = status.copy()
    span = (state.status.join(F.broadcast(reach), "node")
            .select("node", "first_ns", "last_ns").toPandas())
    for col, src in (("first_activity", "first_ns"), ("last_activity", "last_ns")):
        ns = np.full(n, _NAT, np.int64)
        ns[span["node"].to_numpy(np.int64)] = span[src].to_numpy(np.int64)
        status[col] = _from_ns(ns)
    index = pd.Index(account_ids)
    return AccountGraph(account_ids=account_ids, index=index, identifiers=ident, uses=uses,
                        kind_names=list(fr["kind_names"]), pairs=pairs, links_by_edge=lbe,
                        edge_kind_names=list(fr["edge_kind_names"]),
                        adjacency=_symmetric(n, [pairs, lbe]), status=status,
                        as_of=state.as_of, config=config)


def _sorted(df: pd.DataFrame | None, columns: dict[str, Any]) -> pd.DataFrame:
    if df is None:
        return pd.DataFrame({c: np.array([], dt) for c, dt in columns.items()})
    out = pd.DataFrame({c: df[c].to_numpy().astype(dt) for c, dt in columns.items()})
    return out.iloc[np.lexsort((out["b"].to_numpy(), out["a"].to_numpy()))] \
        .reset_index(drop=True)


def latest_decisions(spark: SparkSession, log: pd.DataFrame | None, nodes: np.ndarray
                     ) -> DataFrame:
    """The reviewer log's latest word per account that has one (as
    :func:`ringfence.graph.decisions.latest_logged`): ``node``, ``decision``,
    ``decided_at``, ``decided_by``. The log is the driver's table already."""
    schema = "node long, decision string, decided_at timestamp, decided_by string"
    if log is None or not len(log):
        return spark.createDataFrame([], schema)
    at = pd.to_datetime(log["at"], utc=True)
    t = pd.DatetimeIndex(at).asi8
    order = np.lexsort((np.arange(len(t)), t, nodes))
    node = nodes[order]
    last = np.r_[node[1:] != node[:-1], True]
    pick = order[last]
    pdf = pd.DataFrame({"node": node[last].astype(np.int64),
                        "decision": log["decision"].astype(str).to_numpy(object)[pick],
                        "decided_at": at.iloc[pick].to_numpy(),
                        "decided_by": log["by"].astype(str).to_numpy(object)[pick]})
    return spark.createDataFrame(pdf, schema)


def _clipped_score():
    """The ``scores`` table's score: in [0, 1], 0 for an account without one."""
    return F.least(F.greatest(F.coalesce("score", F.lit(0.0)), F.lit(0.0)), F.lit(1.0))


def vs_previous_frame(spark: SparkSession, ranks: DataFrame, flagged: Any,
                      account_ids: np.ndarray, previous: Any, as_of: pd.Timestamp,
                      tolerance: float) -> tuple[DataFrame, pd.Series]:
    """``node``, ``status_vs_previous``, ``previous_score`` and ``first_flagged_at`` of every
    account against the previous run (:class:`~ringfence.jobs.continuity.Previous`), by the
    in-process :func:`~ringfence.jobs.continuity.add_status`, and the statuses in node
    order (for the run's summary).

    The accounts' scores and flags are collected (n rows of a number and a boolean: the
    accounts table is on the driver already, and the previous scores were read there);
    the result goes back to Spark for :func:`scores_frame` to join. Cost: O(n log n) on
    the driver for n accounts, nothing of the links' size.
    """
    n = len(account_ids)
    got = ranks.select("node", _clipped_score().alias("score"),
                       F.coalesce(flagged, F.lit(False)).alias("flagged")).toPandas()
    node = got["node"].to_numpy(np.int64)
    score, flag = np.zeros(n), np.zeros(n, bool)  # an account without a score: 0, not flagged
    score[node] = got["score"].to_numpy(float)
    flag[node] = got["flagged"].to_numpy(bool)
    out = add_status(pd.DataFrame({"account_id": account_ids, "score": score, "flagged": flag}),
                     previous, as_of, tolerance)
    first = pd.DatetimeIndex(out["first_flagged_at"]).as_unit("ns").asi8  # NaT: -2**63
    pdf = pd.DataFrame({"node": np.arange(n, dtype=np.int64),
                        "status_vs_previous": out["status_vs_previous"].astype(str),
                        "previous_score": out["previous_score"].to_numpy(float),
                        "first_ns": first})
    frame = spark.createDataFrame(pdf, "node long, status_vs_previous string, "
                                       "previous_score double, first_ns long")
    frame = frame.select("node", "status_vs_previous", "previous_score",
                         _ts("first_ns").alias("first_flagged_at"))
    return frame, out["status_vs_previous"]


def scores_frame(state: Any, ranks: DataFrame, flagged: Any, reasons: DataFrame,
                 decisions: DataFrame, as_of: pd.Timestamp,
                 vs_previous: DataFrame | None = None) -> DataFrame:
    """The ``scores`` table (one row per account, in account order) with the in-process
    columns: ranks and flags from ``ranks`` and the ``flagged`` expression, reasons of the
    flagged accounts (``reasons``: ``node``, ``reasons``), the latest decision, and
    ``status_vs_previous``, ``previous_score``, ``first_flagged_at`` from ``vs_previous``
    (:func:`vs_previous_frame`), or as a run without a previous one has them."""
    st = state.status.select("node", "account_id", "banned", "cleared", "violations")
    t = (st.join(ranks.select("node", "score", "rank", "percentile"), "node", "left")
         .withColumn("flagged", F.coalesce(flagged, F.lit(False)))
         .join(state.identities, "node", "left").join(state.clusters, "node", "left")
         .join(state.propagation.select("node", "propagation_score"), "node", "left")
         .join(F.broadcast(reasons), "node", "left").join(decisions, "node", "left"))
    flag = F.col("flagged")
    if vs_previous is not None:
        t = t.join(vs_previous, "node", "left")
        status = [F.coalesce("status_vs_previous", F.lit("not_flagged"))
                  .alias("status_vs_previous"), "previous_score", "first_flagged_at"]
    else:
        status = [F.when(flag, F.lit("new")).otherwise(F.lit("not_flagged"))
                  .alias("status_vs_previous"),
                  F.lit(float("nan")).alias("previous_score"),
                  F.when(flag, F.lit(as_of.to_pydatetime())).cast("timestamp")
                  .alias("first_flagged_at")]
    return t.orderBy("node").select(
        "account_id", _clipped_score().alias("score"),
        "rank", "percentile", "flagged",
        F.coalesce("identity", F.lit(-1)).cast("long").alias("identity_id"),
        F.coalesce("cluster", F.lit(-1)).cast("long").alias("cluster_id"),
        "banned", "cleared", "violations", "propagation_score",
        F.coalesce("reasons", F.lit("")).alias("reasons"),
        F.coalesce("decision", F.lit("")).alias("decision"), "decided_at",
        F.coalesce("decided_by", F.lit("")).alias("decided_by"), *status)


def links_frame(state: Any, masker: Masker, config: GraphConfig) -> DataFrame:
    """The ``links`` table: the linker's links that are shown (same actor, strong shared
    environment or decided, as :func:`ringfence.graph.identity.link_identities`), with
    the identifier pairs' columns, account ids and the top identifier masked in the
    tasks (``mapInPandas``), sorted by the node pair ``a``, ``b`` (kept for
    :func:`identities_frame`; the written table drops them). ``reason``: the in-process
    words, as Spark expressions (:func:`~ringfence.graph.spark.linking.reason_column`)."""
    fr = state.frames
    spark = state.status.sparkSession
    lk = state.links
    pairs = fr["pairs"]
    if pairs is not None:
        lk = lk.join(pairs.select("a", "b", "weight", "n_shared", "kinds", "top_identifier"),
                     ["a", "b"], "left")
    else:
        lk = lk.withColumn("weight", F.lit(None).cast("double")) \
            .withColumn("n_shared", F.lit(None).cast("long")) \
            .withColumn("kinds", F.lit(None).cast("long")) \
            .withColumn("top_identifier", F.lit(None).cast("long"))
    lk = lk.select("*", F.coalesce("weight", F.lit(0.0)).alias("_w")).drop("weight") \
        .withColumnRenamed("_w", "weight").fillna(0, ["n_shared", "kinds"]) \
        .fillna(-1, ["top_identifier"])
    same = F.col("link_kind") == F.lit(SAME_ACTOR)
    lk = lk.where(same | (F.col("weight") >= F.lit(config.link_threshold * (1 - 1e-9)))
                  | (F.col("decided") != F.lit("")))
    ids = state.status.select("node", "account_id")
    lk = (lk.join(ids.withColumnRenamed("node", "a").withColumnRenamed("account_id", "account_a"),
                  "a")
          .join(ids.withColumnRenamed("node", "b").withColumnRenamed("account_id", "account_b"),
                "b")
          .join(state.identities.withColumnRenamed("node", "a"), "a", "left"))
    names = list(fr["kind_names"])
    kinds_text = F.concat_ws("+", *[F.when(F.shiftright("kinds", i).bitwiseAND(1) == 1,
                                           F.lit(k)) for i, k in enumerate(names)]) \
        if names else F.lit("")
    ident = fr["ident"]
    if ident is None:  # the identifier table stayed on Spark (pair_frames)
        kind_of = F.element_at(F.array(*[F.lit(k) for k in names]), F.col("kind_code") + 1) \
            if names else F.lit(None).cast("string")
        cited = fr["ident_frame"].select(
            F.col("identifier").alias("top_identifier"), kind_of.alias("top_kind"),
            F.col("value").alias("_value"), F.col("n_accounts").alias("top_shared_by"))
    else:
        cited = spark.createDataFrame(pd.DataFrame({
            "top_identifier": np.arange(len(ident), dtype=np.int64),
            "top_kind": np.asarray(names, dtype=object)[ident["kind_code"].to_numpy(np.int64)]
            if len(ident) else np.array([], object),
            "_value": ident["value"].astype(str).to_numpy(object),
            "top_shared_by": ident["n_accounts"].to_numpy(np.int64)}),
            "top_identifier long, top_kind string, _value string, top_shared_by long")
    bf = [c for c in state.links.columns if c.startswith("bf_")]
    lk = (lk.join(cited, "top_identifier", "left")
          .select("account_a", "account_b",
                  F.when(F.col("cut") | ~same, F.lit(-1))
                  .otherwise(F.coalesce("identity", F.lit(-1))).cast("long").alias("identity_id"),
                  "weight", "n_shared", kinds_text.alias("kinds"),
                  F.coalesce("top_kind", F.lit("")).alias("top_kind"),
                  F.coalesce("_value", F.lit("")).alias("top_identifier"),
                  F.coalesce("top_shared_by", F.lit(0)).cast("long").alias("top_shared_by"),
                  "cut", "link_kind", "match_probability", "match_weight", *bf,
                  reason_column(state.linker).alias("reason"), "decided", "a", "b"))

    def mask(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        # the values are masked in the tasks: no clear value reaches the driver or a file
        for pdf in batches:
            kinds = pdf["top_kind"].to_numpy(object)
            has = kinds != ""
            out = np.full(len(pdf), "", dtype=object)
            if has.any():
                out[has] = masker.mask_many(kinds[has],
                                            pdf["top_identifier"].to_numpy(object)[has])
            pdf["top_identifier"] = out.astype(str)
            yield pdf

    return lk.mapInPandas(mask, lk.schema).orderBy("a", "b")


def carried_groups(state: Any, account_ids: np.ndarray, previous: Any
                   ) -> tuple[Any, dict[str, DataFrame], dict[str, int]]:
    """The state with its identities and clusters carrying the previous run's ids (the
    in-process rule: :func:`~ringfence.jobs.continuity.carried_labels`), each group's map
    from this run's number to its carried id (``identity`` or ``cluster``, ``carried``),
    and the new ``id_counters``.

    Each account's identity and cluster are collected (two arrays of n integers: the
    accounts table is on the driver already) and the maps, one row per group, joined
    back on Spark. Cost: O(n log n) on the driver for n accounts; nothing of the links'
    size is collected.
    """
    spark = state.status.sparkSession
    n = len(account_ids)
    frames = {"identity": state.identities, "cluster": state.clusters}
    labels = {}
    for kind, df in frames.items():
        got = df.select("node", kind).toPandas()
        labels[kind] = np.full(n, -1, np.int64)
        labels[kind][got["node"].to_numpy(np.int64)] = got[kind].to_numpy(np.int64)
    carried, counters = carried_labels(account_ids, labels, previous)
    maps, relabelled = {}, {}
    for kind, df in frames.items():
        grouped = labels[kind] >= 0
        # every member of a group carries the same id: one row per group
        ids, first = np.unique(labels[kind][grouped], return_index=True)
        maps[kind] = spark.createDataFrame(
            pd.DataFrame({kind: ids, "carried": carried[kind][grouped][first]}),
            f"{kind} long, carried long")
        relabelled[kind] = df.join(F.broadcast(maps[kind]), kind).select(
            "node", F.col("carried").alias(kind))
    return (replace(state, identities=relabelled["identity"], clusters=relabelled["cluster"]),
            maps, counters)


def identities_frame(state: Any, links: DataFrame, carried: DataFrame | None = None
                     ) -> DataFrame:
    """The ``identities`` table (one row per identity, by id) with the in-process columns,
    from the identities, the status and the ``links`` of :func:`links_frame` (before
    their ids are joined: ``a``, ``b``, ``weight``, ``match_probability``, ``link_kind``,
    ``cut``).

    ``carried`` (``identity``, ``carried``: :func:`carried_groups`' map, with ``state``
    the state before it): the ids carried from the previous run, the rows left in this
    run's order, as in-process."""
    st = state.status.select("node", "banned", "cleared", "violations")
    members = state.identities.join(st, "node")
    size = members.groupBy("identity").agg(
        F.count(F.lit(1)).alias("size"), F.sum(F.col("banned").cast("long")).alias("banned"),
        F.sum(F.col("cleared").cast("long")).alias("cleared"),
        F.sum(F.col("violations").cast("long")).alias("violations"))
    ident_a = state.identities.withColumnRenamed("node", "a")
    same = links.where(F.col("link_kind") == F.lit(SAME_ACTOR))
    kept = (same.where(~F.col("cut")).join(ident_a, "a").groupBy("identity")
            .agg(F.count(F.lit(1)).alias("n_links"), F.min("weight").alias("min_link_weight"),
                 F.min("match_probability").alias("min_match_probability")))
    cut = same.where(F.col("cut"))
    ends = cut.select(F.col("a").alias("node")).unionByName(cut.select(F.col("b").alias("node")))
    touched = (ends
               .join(state.identities, "node").select("identity").distinct()
               .withColumn("was_split", F.lit(True)))
    inf = F.lit(float("inf"))
    out = size.join(kept, "identity", "left").join(touched, "identity", "left")
    ident_id = F.col("identity")
    if carried is not None:
        out = out.join(F.broadcast(carried), "identity", "left")
        ident_id = F.col("carried")
    return (out.orderBy("identity")
            .select(ident_id.cast("long").alias("identity_id"),
                    F.col("size").cast("long").alias("size"),
                    F.coalesce("n_links", F.lit(0)).cast("long").alias("n_links"),
                    "banned", "cleared", "violations",
                    F.coalesce("min_link_weight", inf).alias("min_link_weight"),
                    F.coalesce("min_match_probability", inf).alias("min_match_probability"),
                    F.coalesce("was_split", F.lit(False)).alias("was_split")))


def clusters_frame(state: Any, scores: DataFrame, as_of: pd.Timestamp,
                   prior_strength: float = 5.0, active_days: float = ACTIVE_DAYS) -> DataFrame:
    """The ``clusters`` table with the in-process columns and order
    (:func:`ringfence.graph.clusters.cluster_table` then
    :func:`ringfence.graph.rings.ring_priorities`), by aggregations over the members.

    ``scores``: ``node``, ``flagged``, ``decision``. Cost: a few aggregations of the
    accounts and one join of the links with the clusters (the internal weight).
    """
    st = state.status.select(
        "node", "banned", "cleared", F.col("violations").cast("long").alias("violations"),
        "first_ns", "last_ns")
    offence = F.when(F.col("banned"), F.lit(1.0)).otherwise(
        F.lit(1.0) - F.pow(F.lit(0.5), F.col("violations").cast("double")))
    base = st.agg(F.avg(offence)).first()[0] or 0.0
    m = (state.clusters.join(st, "node").join(scores.select("node", "flagged", "decision"),
                                               "node"))
    undecided = ~F.col("banned") & ~F.col("cleared") & (F.trim(F.coalesce(
        "decision", F.lit(""))) == F.lit(""))
    agg = m.groupBy("cluster").agg(
        F.count(F.lit(1)).alias("size"), F.sum(F.col("banned").cast("long")).alias("banned"),
        F.sum(F.col("cleared").cast("long")).alias("cleared"),
        F.sum("violations").alias("violations"),
        F.sum((F.col("violations") > 0).cast("long")).alias("violating_accounts"),
        F.sum((F.col("banned") | (F.col("violations") > 0)).cast("double")).alias("_off"),
        F.min(F.when(F.col("first_ns") != F.lit(_NAT), F.col("first_ns"))).alias("_first"),
        F.max(F.when(F.col("last_ns") != F.lit(_NAT), F.col("last_ns"))).alias("_last"),
        F.sum(offence).alias("_score"),
        F.sum(F.col("flagged").cast("long")).alias("flagged"),
        F.sum(undecided.cast("long")).alias("undecided"))
    c = state.clusters
    inner = (state.graph_links.join(c.withColumnRenamed("node", "a"), "a")
             .join(c.withColumnRenamed("node", "b").withColumnRenamed("cluster", "_cb"), "b")
             .where(F.col("cluster") == F.col("_cb"))
             .groupBy("cluster").agg(F.sum("weight").alias("internal_weight")))
    risk = ((F.col("_score") + F.lit(prior_strength * base))
            / (F.col("size") + F.lit(prior_strength)))
    as_of_ns = int(pd.Timestamp(as_of).value)
    age = (F.lit(as_of_ns) - F.col("_last")).cast("double") / F.lit(86400e9)
    active = F.coalesce(age <= F.lit(float(active_days)), F.lit(False))
    t = (agg.join(inner, "cluster", "left")
         .select(F.col("cluster").cast("long").alias("cluster_id"),
                 F.col("size").cast("long").alias("size"), "banned", "cleared", "violations",
                 "violating_accounts", (F.col("_off") / F.col("size")).alias("offence_rate"),
                 F.when(F.col("_first").isNotNull(),
                        F.timestamp_micros(F.floor(F.col("_first") / 1000).cast("long")))
                 .alias("first_activity"),
                 F.when(F.col("_last").isNotNull(),
                        F.timestamp_micros(F.floor(F.col("_last") / 1000).cast("long")))
                 .alias("last_activity"),
                 F.coalesce("internal_weight", F.lit(0.0)).alias("internal_weight"),
                 F.least(F.greatest(risk, F.lit(0.0)), F.lit(1.0)).alias("risk"),
                 "flagged", "undecided", active.alias("active")))
    tier = F.when(F.col("undecided") > 0, F.when(F.col("active"), 0).otherwise(1)).otherwise(2)
    return t.orderBy(tier, F.desc("risk"), F.desc("size"), "cluster_id")
