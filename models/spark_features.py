"""The model's features on Spark: the columns of :mod:`ringfence.models.features` as joins.

Every function takes and returns Spark DataFrames keyed by ``node`` (an account's node
number, ``0..n-1``), so that the same code runs whether its inputs were shipped from the
driver's :class:`~ringfence.graph.pipeline.GraphState` (:func:`graph_frames`) or, beyond the
driver, built on Spark. The input tables and their columns:

``links``
    One row per linked pair of accounts: ``a``, ``b`` (nodes, ``a != b``, each unordered
    pair once) and ``weight`` (double, the account graph's link weight: the symmetric
    ``AccountGraph.adjacency``).
``accounts``
    One row per account: ``node``, ``account_id`` and the account attributes as in the
    ``accounts`` table (``created_at`` a timestamp; numbers and booleans; strings are
    categories).
``uses``
    One row per (account, identifier) use: ``node``, ``kind`` (the identifier kind's name)
    and ``n_accounts`` (accounts using the identifier).
``edges``
    One row per pair joined by edges: ``a``, ``b``, ``kinds`` (bit mask over the edge kind
    names) and ``n_edges``, as ``AccountGraph.links_by_edge``.
``groups``
    One row per account: ``node``, ``identity`` and ``cluster`` (-1 for none).
``status``
    One row per account and label pass: ``pass`` (0: every label visible; ``f + 1``: fold
    ``f``'s labels hidden), ``node``, ``banned``, ``cleared``, ``violations``,
    ``seed_weight`` (doubles).
``propagation``
    One row per account and pass: ``pass``, ``node``, ``propagation`` and
    ``propagation_raw_log``: the propagation columns of the label features, computed on
    the driver (:func:`propagation_passes`; issue #16 runs propagation there while the
    links fit).

The results are double columns in the in-process order and names; :func:`to_pandas` makes
them the in-process frame (``FEATURE_DTYPE`` numbers, categories as categoricals).
Nothing here loops over rows: each hop is one join and one ``groupBy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ringfence.graph.build import AccountGraph
from ringfence.graph.config import GraphConfig
from ringfence.graph.pipeline import GraphState
from ringfence.graph.propagate import propagation_columns
from ringfence.models.features import (AGGREGATORS, FEATURE_DTYPE, LABEL_COLUMNS, MAX_CATEGORIES,
                                       RATE_PRIOR, RESIDUE, hide_labels)
from ringfence.models.training import CLUSTER_FEATURES

__all__ = ["graph_frames", "accounts_frame", "status_passes", "propagation_passes", "spark_account_features",
           "spark_neighbour_aggregates", "spark_label_features",
           "spark_out_of_fold_label_features", "spark_scoring_features", "categories",
           "to_pandas"]

_LABELS = (("banned", "banned"), ("cleared", "cleared"), ("violations", "violations"),
           ("ban_weight", "seed_weight"))


def graph_frames(spark: SparkSession, state: GraphState, accounts: pd.DataFrame
                 ) -> dict[str, DataFrame]:
    """The input tables of this module from a driver-side graph state.

    Returns ``links``, ``accounts``, ``uses``, ``edges`` (None without edge links),
    ``groups`` and ``status`` (pass 0 only) as Spark DataFrames (see the module's
    docstring). Cost: the adjacency's upper triangle and the per-account tables shipped
    once through Arrow.

    Examples
    --------
    >>> frames = graph_frames(spark, run_pipeline(tables), tables.accounts)  # doctest: +SKIP
    >>> X = spark_account_features(frames["links"], frames["accounts"], frames["uses"],
    ...     frames["edges"], frames["groups"], kind_names=graph.kind_names,
    ...     edge_kind_names=graph.edge_kind_names, as_of=graph.as_of)  # doctest: +SKIP
    """
    g = state.graph
    upper = sp.triu(g.adjacency, k=1).tocoo()
    links = pd.DataFrame({"a": upper.row.astype(np.int64), "b": upper.col.astype(np.int64),
                          "weight": upper.data.astype(np.float64)})
    acc_df = accounts_frame(spark, g.index, accounts)
    ident = g.identifiers
    uses = pd.DataFrame({
        "node": g.uses["account"].to_numpy(np.int64),
        "kind": np.asarray(g.kind_names, dtype=object)[
            ident["kind"].cat.codes.to_numpy()[g.uses["identifier"].to_numpy()]]
        if len(g.uses) else np.array([], dtype=object),
        "n_accounts": ident["n_accounts"].to_numpy(np.int64)[g.uses["identifier"].to_numpy()]})
    e = g.links_by_edge
    edges = None
    if len(e):
        edges = spark.createDataFrame(pd.DataFrame({
            "a": e["a"].to_numpy(np.int64), "b": e["b"].to_numpy(np.int64),
            "kinds": e["kinds"].to_numpy(np.int64), "n_edges": e["n_edges"].to_numpy(np.float64)}))
    groups = pd.DataFrame({"node": np.arange(g.n_accounts, dtype=np.int64),
                           "identity": np.asarray(state.identity, np.int64),
                           "cluster": np.asarray(state.membership, np.int64)})
    return {"links": spark.createDataFrame(links, "a long, b long, weight double"),
            "accounts": acc_df,
            "uses": spark.createDataFrame(uses, "node long, kind string, n_accounts long"),
            "edges": edges, "groups": spark.createDataFrame(groups),
            "status": spark.createDataFrame(status_passes(g))}


def accounts_frame(spark: SparkSession, index: pd.Index, accounts: pd.DataFrame) -> DataFrame:
    """The ``accounts`` input table: the driver's accounts with their ``node`` (position in
    ``index``), ``created_at`` a Spark timestamp, strings as strings.

    Examples
    --------
    >>> accounts_frame(spark, pd.Index(["a", "b"]),
    ...                pd.DataFrame({"account_id": ["b", "a"]})).columns  # doctest: +SKIP
    ['node', 'account_id']
    """
    acc = accounts.reset_index(drop=True).copy()
    nodes = index.get_indexer(acc["account_id"])
    created = None
    if "created_at" in acc.columns:  # shipped as microseconds: Arrow's tz handling varies
        created = pd.to_datetime(acc["created_at"], utc=True)
        # whatever the resolution (pandas 3 reads microseconds, older ones nanoseconds)
        acc["created_at"] = ((created - pd.Timestamp(0, tz="UTC"))
                             // pd.Timedelta(microseconds=1)).astype(float)
    for col in acc.columns:
        if isinstance(acc[col].dtype, pd.CategoricalDtype) or acc[col].dtype == object \
                or pd.api.types.is_string_dtype(acc[col]):
            acc[col] = acc[col].astype(object).where(acc[col].notna(), None)
    acc.insert(0, "node", nodes.astype(np.int64))
    acc_df = spark.createDataFrame(acc)
    if created is not None:
        acc_df = acc_df.withColumn("created_at", F.timestamp_micros(F.col("created_at").cast("long")))
    return acc_df


def status_passes(graph: AccountGraph, train_nodes: np.ndarray | None = None,
                  fold: np.ndarray | None = None) -> pd.DataFrame:
    """The ``status`` table: pass 0 with every label, then one pass per fold with the fold's
    labels erased (as :func:`~ringfence.models.features.hide_labels`)."""
    st = graph.status
    n = graph.n_accounts
    cols = {c: st[c].to_numpy(np.float64) for c in LABEL_COLUMNS}
    parts = [pd.DataFrame({"pass": np.zeros(n, np.int64), "node": np.arange(n, dtype=np.int64),
                           **cols})]
    if train_nodes is not None:
        for f in np.unique(fold):
            hidden = np.zeros(n, bool)
            hidden[np.asarray(train_nodes)[fold == f]] = True
            parts.append(pd.DataFrame({"pass": np.full(n, f + 1, np.int64),
                                       "node": np.arange(n, dtype=np.int64),
                                       **{c: np.where(hidden, 0.0, v) for c, v in cols.items()}}))
    return pd.concat(parts, ignore_index=True)


def _propagation_pair(graph: AccountGraph, config: GraphConfig,
                      propagation: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    # the in-process label_features' rule: no banned account, no propagation
    n = graph.n_accounts
    if not graph.status["banned"].to_numpy().any():
        return np.zeros(n), np.full(n, -12.0)
    if propagation is None:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prop, _ = propagation_columns(graph, config)
    else:
        prop = {k: propagation[k].to_numpy() for k in ("propagation_score", "propagation_raw")}
    return prop["propagation_score"], np.log10(prop["propagation_raw"] + 1e-12)


def propagation_passes(state: GraphState, train_nodes: np.ndarray | None = None,
                       fold: np.ndarray | None = None,
                       config: GraphConfig | None = None) -> pd.DataFrame:
    """The ``propagation`` table, on the driver: pass 0 from the state's propagation, one
    propagation per fold with the fold's labels hidden (as the in-process label passes).

    Cost: one personalised PageRank per fold over the driver's adjacency.
    """
    g = state.graph
    config = config or g.config
    n = g.n_accounts
    passes = [(0, g, state.propagation)]
    if train_nodes is not None:
        for f in np.unique(fold):
            hidden = np.zeros(n, bool)
            hidden[np.asarray(train_nodes)[fold == f]] = True
            passes.append((int(f) + 1, hide_labels(g, hidden, LABEL_COLUMNS), None))
    parts = []
    for k, graph, prop in passes:
        score, raw_log = _propagation_pair(graph, config, prop)
        parts.append(pd.DataFrame({"pass": np.full(n, k, np.int64),
                                   "node": np.arange(n, dtype=np.int64),
                                   "propagation": np.asarray(score, np.float64),
                                   "propagation_raw_log": np.asarray(raw_log, np.float64)}))
    return pd.concat(parts, ignore_index=True)


def _directed(links: DataFrame) -> DataFrame:
    """Both directions of every link: ``i`` (the account), ``j`` (its neighbour), ``w``."""
    fwd = links.select(F.col("a").alias("i"), F.col("b").alias("j"), F.col("weight").alias("w"))
    back = links.select(F.col("b").alias("i"), F.col("a").alias("j"), F.col("weight").alias("w"))
    return fwd.unionByName(back)


def _attribute_kinds(accounts: DataFrame) -> tuple[list[str], list[str], list[str]]:
    """The accounts' columns (but ``node``, ``account_id``): numbers, strings, in order."""
    numeric, strings, order = [], [], []
    for field in accounts.schema.fields:
        if field.name in ("node", "account_id"):
            continue
        order.append(field.name)
        t = field.dataType.typeName()
        if field.name == "created_at" or t in ("boolean", "byte", "short", "integer", "long",
                                                "float", "double", "decimal"):
            numeric.append(field.name)
        else:
            strings.append(field.name)
    return order, numeric, strings


def _string_columns(accounts: DataFrame) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Category values of the string columns with at most ``MAX_CATEGORIES`` of them
    (by ``attr_<column>``), and the accounts with a value in the others (by column).
    Two aggregations for all columns; at most ``MAX_CATEGORIES`` values a column collected."""
    _, _, strings = _attribute_kinds(accounts)
    if not strings:
        return {}, {}
    row = accounts.agg(*[F.countDistinct(c).alias("d_" + c) for c in strings],
                       *[F.count(c).alias("n_" + c) for c in strings]).first()
    small = [c for c in strings if row["d_" + c] <= MAX_CATEGORIES]
    cats = {}
    if small:
        values = accounts.agg(*[F.collect_set(c).alias(c) for c in small]).first()
        cats = {f"attr_{c}": sorted(values[c]) for c in small}
    return cats, {c: int(row["n_" + c]) for c in strings if c not in small}


def categories(accounts: DataFrame) -> dict[str, list[str]]:
    """Each category column's values, sorted (as pandas' categoricals), by feature name;
    frequency-encoded columns (more than ``MAX_CATEGORIES`` values) are left out."""
    return _string_columns(accounts)[0]


def _attributes(accounts: DataFrame, as_of: pd.Timestamp) -> tuple[DataFrame, list[str], list[str]]:
    """Own attributes (``node`` + columns in order) and the names of the numeric ones."""
    order, numeric, _ = _attribute_kinds(accounts)
    cats, known_counts = _string_columns(accounts)
    as_of_us = int(pd.Timestamp(as_of).value // 1000)
    base = accounts
    cols, names, nums = [], [], []
    for col in order:
        if col == "created_at":
            age = (F.lit(as_of_us) - F.unix_micros(F.col(col))) / F.lit(1e6) / F.lit(86400.0)
            cols.append(age.cast("double").alias("account_age_days"))
            names.append("account_age_days")
            nums.append("account_age_days")
        elif col in numeric:
            cols.append(F.col(col).cast("double").alias(f"attr_{col}"))
            names.append(f"attr_{col}")
            nums.append(f"attr_{col}")
        elif f"attr_{col}" in cats:
            cols.append(F.col(col).cast("string").alias(f"attr_{col}"))
            names.append(f"attr_{col}")
        else:  # frequency among the accounts that have a value (pandas' value_counts)
            name = f"attr_{col}_freq"
            known = accounts.where(F.col(col).isNotNull())
            total = float(max(known_counts[col], 1))
            base = base.join(known.groupBy(col).agg((F.count(F.lit(1)) / F.lit(total))
                                                    .alias(name)), on=col, how="left")
            cols.append(F.col(name))
            names.append(name)
            nums.append(name)
    out = base.select("node", *cols)
    # NaN, as pandas, where an attribute is missing
    out = out.select("node", *[F.coalesce(F.col(c), F.lit(float("nan"))).alias(c) if c in nums
                               else F.col(c) for c in names])
    return out, names, nums


def spark_neighbour_aggregates(links: DataFrame, values: DataFrame, names: list[str],
                               aggregators: tuple[str, ...] = AGGREGATORS) -> DataFrame:
    """:func:`~ringfence.models.features.neighbour_aggregates` as two joins: ``node`` and
    ``nb_<agg><hops>_<name>`` for every node of ``values`` (NaN without neighbours).

    ``values``: ``node`` and the double columns ``names`` (NaN or null where missing: they
    count as the column mean). Two-hop aggregates are over the neighbours' one-hop ones.
    Cost: two shuffles of the directed links joined with the values.
    """
    for agg in aggregators:
        if agg not in ("mean", "max", "min"):
            raise ValueError(f"unknown aggregator {agg!r} on Spark; use mean, max or min")
    clean = {c: F.when(F.col(c).isNull() | F.isnan(c), None).otherwise(F.col(c)) for c in names}
    means = values.select(*[F.avg(clean[c]).alias(c) for c in names]).first() if names else None
    filled = values.select("node", *[F.coalesce(clean[c], F.lit(float(means[c]) if means[c]
                                                                is not None else 0.0)).alias(c)
                                     for c in names])
    d = _directed(links)

    def hop(table: DataFrame, suffix: dict[str, str]) -> DataFrame:
        joined = d.join(table.withColumnRenamed("node", "j"), "j")
        aggs = [F.sum("w").alias("_deg")]
        for c in names:
            if "mean" in aggregators:
                aggs.append(F.sum(F.col("w") * F.col(suffix["mean"] + c)).alias("s_" + c))
            if "max" in aggregators:
                aggs.append(F.max(suffix["max"] + c).alias("max_" + c))
            if "min" in aggregators:
                aggs.append(F.min(suffix["min"] + c).alias("min_" + c))
        out = joined.groupBy(F.col("i").alias("node")).agg(*aggs)
        return out.select("node", *[(F.col("s_" + c) / F.col("_deg")).alias("mean_" + c)
                                    for c in names if "mean" in aggregators],
                          *[F.col(f"{a}_{c}") for a in ("max", "min") if a in aggregators
                            for c in names])

    one = hop(filled, {"mean": "", "max": "", "min": ""})
    two = hop(one, {"mean": "mean_", "max": "max_", "min": "min_"})
    out = filled.select("node")
    for hops, table in ((1, one), (2, two)):
        out = out.join(table.select("node", *[F.col(f"{a}_{c}").alias(f"nb_{a}{hops}_{c}")
                                              for a in aggregators for c in names]),
                       "node", "left")
    order = [f"nb_{a}{h}_{c}" for a in aggregators for h in (1, 2) for c in names]
    nan = F.lit(float("nan"))
    return out.select("node", *[F.coalesce(F.col(c), nan).alias(c) for c in order])


def spark_account_features(links: DataFrame, accounts: DataFrame, uses: DataFrame,
                           edges: DataFrame | None, groups: DataFrame, *,
                           kind_names: list[str], edge_kind_names: list[str],
                           as_of: pd.Timestamp, aggregate: bool = True) -> DataFrame:
    """:func:`~ringfence.models.features.account_features` on Spark: ``node`` and the same
    columns in the same order (doubles; category attributes as strings).

    ``kind_names`` and ``edge_kind_names`` give the order of the per-kind columns (every
    kind gets its columns, as in-process). Cost: a few aggregations of ``uses`` and the
    links, plus :func:`spark_neighbour_aggregates`.
    """
    attrs, names, numeric = _attributes(accounts, as_of)
    out = attrs
    per_kind = []
    aggs = []
    for k in kind_names:
        mine = F.col("kind") == F.lit(k)
        aggs += [F.sum(F.when(mine, 1.0).otherwise(0.0)).alias(f"n_ident_{k}"),
                 F.sum(F.when(mine, F.col("n_accounts") - 1.0).otherwise(0.0))
                 .alias(f"shared_{k}")]
        per_kind += [f"n_ident_{k}", f"shared_{k}"]
    aggs.append(F.log1p(F.max(F.col("n_accounts").cast("double"))).alias("hub_exposure"))
    out = out.join(uses.groupBy("node").agg(*aggs), "node", "left")
    per_kind.append("hub_exposure")
    edge_cols = []
    if edges is not None and edge_kind_names:
        ends = edges.select(F.col("a").alias("node"), "kinds", "n_edges").unionByName(
            edges.select(F.col("b").alias("node"), "kinds", "n_edges"))
        eaggs = [F.sum(F.when(F.shiftright("kinds", k).bitwiseAND(1) == 1, F.col("n_edges"))
                       .otherwise(0.0)).alias(f"n_edges_{name}")
                 for k, name in enumerate(edge_kind_names)]
        out = out.join(ends.groupBy("node").agg(*eaggs), "node", "left")
        edge_cols = [f"n_edges_{name}" for name in edge_kind_names]
    deg = _directed(links).groupBy(F.col("i").alias("node")).agg(
        F.sum("w").alias("degree"), F.count(F.lit(1)).cast("double").alias("neighbours"))
    out = out.join(deg, "node", "left")
    sizes = []
    for col, name in (("identity", "identity_size"), ("cluster", "cluster_size")):
        counts = groups.where(F.col(col) >= 0).groupBy(col).agg(F.count(F.lit(1)).alias("_n"))
        sized = groups.join(counts, col, "left").select(
            "node", F.when(F.col(col) >= 0, F.col("_n")).otherwise(1).cast("double").alias(name))
        out = out.join(sized, "node", "left")
        sizes.append(name)
    zero = [*per_kind, *edge_cols, "degree", "neighbours"]
    out = out.select("node", *names, *[F.coalesce(F.col(c), F.lit(0.0)).cast("double").alias(c)
                                       for c in zero], *sizes)
    if aggregate and numeric:
        agg = spark_neighbour_aggregates(links, out.select("node", *numeric), numeric)
        out = out.join(agg, "node", "left")
    return out


def _zero_residue(x):
    """As in-process (``features.RESIDUE``): the cancelling two-hop sums' residues are 0."""
    return F.when(F.abs(x) < F.lit(RESIDUE), F.lit(0.0)).otherwise(x)


def spark_label_features(links: DataFrame, status: DataFrame, groups: DataFrame,
                         propagation: DataFrame, *, link_threshold: float) -> DataFrame:
    """:func:`~ringfence.models.features.label_features` on Spark, per label pass:
    ``pass``, ``node`` and the same columns in the same order (doubles).

    Each pass is computed as in-process with that pass's status: neighbour sums are one
    join, two-hop sums a second one minus the walks that return to the account, identity
    and cluster counts exclude the account. Cost: two shuffles of the directed links
    times the passes, and a few small aggregations.
    """
    d = _directed(links)
    # label-free per node: weighted degree and the two-step return terms
    nodes = d.groupBy(F.col("i").alias("node")).agg(F.sum("w").alias("deg"),
                                                    F.sum(F.col("w") * F.col("w")).alias("_w2"))
    back = (d.join(nodes.select(F.col("node").alias("j"), F.col("deg").alias("deg_j")), "j")
            .groupBy(F.col("i").alias("node"))
            .agg(F.sum(F.col("w") * F.col("w") / F.col("deg_j")).alias("_back")))
    nodes = (nodes.join(back, "node")
             .select("node", "deg", (F.col("_back") / F.col("deg")).alias("back"),
                     (F.col("_w2") / F.col("deg")).alias("back_weight")))
    st = status.select("pass", "node", *[F.col(c).cast("double").alias(c) for _, c in _LABELS])
    srcs = [c for _, c in _LABELS]
    one = (d.join(st.withColumnRenamed("node", "j"), "j")
           .groupBy("pass", F.col("i").alias("node"))
           .agg(*[F.sum(F.col("w") * F.col(c)).alias("nb1_" + c) for c in srcs],
                F.max(F.when(F.col("w") >= F.lit(float(link_threshold)),
                             F.col("w") * F.col("banned"))).alias("_maxlink")))
    t = (st.join(one, ["pass", "node"], "left").join(nodes, "node", "left")
         .fillna(0.0, subset=[*["nb1_" + c for c in srcs], "deg", "back", "back_weight"]))
    has = F.col("deg") > 0
    for c in srcs:
        t = t.withColumn("px_" + c, F.when(has, F.col("nb1_" + c) / F.col("deg")).otherwise(0.0))
    two = (d.join(t.select("pass", F.col("node").alias("j"),
                           *[F.col("px_" + c) for c in srcs],
                           F.col("nb1_banned").alias("b1_j"), F.col("nb1_cleared").alias("c1_j")),
                  "j")
           .groupBy("pass", F.col("i").alias("node"))
           .agg(*[F.sum(F.col("w") * F.col("px_" + c)).alias("ppx_" + c) for c in srcs],
                F.sum(F.col("w") * F.col("b1_j")).alias("_pb1"),
                F.sum(F.col("w") * F.col("c1_j")).alias("_pc1")))
    t = t.join(two, ["pass", "node"], "left")
    for c in [*["ppx_" + c for c in srcs], "_pb1", "_pc1"]:  # divided by the degree: p @ ...
        t = t.withColumn(c, F.when(has, F.col(c) / F.col("deg")).otherwise(0.0))
    totals = st.groupBy("pass").agg(F.sum("banned").alias("_sb"), F.sum("cleared").alias("_sc"))
    t = t.join(totals.select("pass", (F.col("_sb") / F.greatest(F.col("_sb") + F.col("_sc"),
                                                                 F.lit(1.0))).alias("_base")),
               "pass")

    def rate(bn, cn):
        return ((bn + F.lit(RATE_PRIOR) * F.col("_base"))
                / (F.greatest(bn + cn, F.lit(0.0)) + F.lit(RATE_PRIOR)))

    g = groups.select("node", "identity", "cluster")
    t = t.join(g, "node", "left")
    ident = (st.join(g, "node").where(F.col("identity") >= 0).groupBy("pass", "identity")
             .agg(F.sum("banned").alias("_ib"), F.sum("cleared").alias("_ic")))
    clus = (st.join(g, "node").where(F.col("cluster") >= 0).groupBy("pass", "cluster")
            .agg(F.sum("banned").alias("_cb"), F.sum("violations").alias("_cv"),
                 F.count(F.lit(1)).cast("double").alias("_csz")))
    t = t.join(ident, ["pass", "identity"], "left").join(clus, ["pass", "cluster"], "left")
    t = t.join(propagation.select("pass", "node", "propagation", "propagation_raw_log"),
               ["pass", "node"], "left")
    in_ident = F.col("identity") >= 0
    in_clus = F.col("cluster") >= 0
    cb = F.when(in_clus, F.col("_cb") - F.col("banned")).otherwise(0.0)
    cols = []
    for name, c in _LABELS:
        cols += [F.col("nb1_" + c).alias(f"{name}_nb1"),
                 F.col("px_" + c).alias(f"{name}_share1"),
                 _zero_residue(F.col("ppx_" + c) - F.col("back") * F.col(c))
                 .alias(f"{name}_share2")]
    cols += [
        rate(F.col("nb1_banned"), F.col("nb1_cleared")).alias("banned_rate1"),
        rate(_zero_residue(F.col("_pb1") - F.col("back_weight") * F.col("banned")),
             _zero_residue(F.col("_pc1") - F.col("back_weight") * F.col("cleared")))
        .alias("banned_rate2"),
        F.when(has, (F.col("nb1_banned") + F.col("nb1_cleared")) / F.col("deg"))
        .otherwise(0.0).alias("reviewed_share1"),
        F.greatest(F.coalesce(F.col("_maxlink"), F.lit(0.0)), F.lit(0.0))
        .alias("max_link_to_banned"),
        F.when(in_ident, F.col("_ib") - F.col("banned")).otherwise(0.0).alias("banned_in_identity"),
        F.when(in_ident, F.col("_ic") - F.col("cleared")).otherwise(0.0)
        .alias("cleared_in_identity"),
        cb.alias("banned_in_cluster"),
        F.when(in_clus & (F.col("_csz") > 1), cb / (F.col("_csz") - 1.0)).otherwise(0.0)
        .alias("cluster_banned_share"),
        F.when(in_clus, F.col("_cv") - F.col("violations")).otherwise(0.0)
        .alias("violations_in_cluster"),
        F.col("propagation"), F.col("propagation_raw_log"),
    ]
    return t.select("pass", "node", *cols)


def spark_out_of_fold_label_features(links: DataFrame, status: DataFrame, groups: DataFrame,
                                     propagation: DataFrame, folds: DataFrame, *,
                                     link_threshold: float) -> DataFrame:
    """:func:`~ringfence.models.features.out_of_fold_label_features` on Spark: ``node`` and
    the label features, a training account's row from the pass with its fold hidden.

    ``folds``: ``node`` and ``fold`` (0..k-1) of each training account; ``status`` and
    ``propagation`` hold pass 0 and the passes ``fold + 1`` (:func:`status_passes`,
    :func:`propagation_passes`). Cost: :func:`spark_label_features` over k + 1 passes.
    """
    every = spark_label_features(links, status, groups, propagation,
                                 link_threshold=link_threshold)
    wanted = (groups.select("node").join(folds, "node", "left")
              .select("node", F.coalesce(F.col("fold") + 1, F.lit(0)).alias("pass")))
    return every.join(wanted, ["node", "pass"]).drop("pass")


def spark_scoring_features(frames: dict[str, DataFrame], propagation: DataFrame,
                           folds: DataFrame, *, kind_names: list[str],
                           edge_kind_names: list[str], as_of: pd.Timestamp,
                           link_threshold: float) -> DataFrame:
    """The model's input on Spark, as :func:`ringfence.models.training.scoring_features`:
    ``node``, the account features, then the out-of-fold label features, without the
    cluster features (``CLUSTER_FEATURES``).

    ``frames``: ``links``, ``accounts``, ``uses``, ``edges``, ``groups`` and ``status``
    (with the fold passes), as :func:`graph_frames` and :func:`status_passes` make them.
    """
    base = spark_account_features(frames["links"], frames["accounts"], frames["uses"],
                                  frames["edges"], frames["groups"], kind_names=kind_names,
                                  edge_kind_names=edge_kind_names, as_of=as_of)
    lab = spark_out_of_fold_label_features(frames["links"], frames["status"], frames["groups"],
                                           propagation, folds, link_threshold=link_threshold)
    out = base.join(lab, "node")
    return out.select(*[c for c in out.columns if c not in CLUSTER_FEATURES])


def to_pandas(features: DataFrame, cats: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Spark features as the in-process frame: in node order, without ``node``, numbers as
    ``FEATURE_DTYPE``, the ``cats`` columns (:func:`categories`) as categoricals."""
    pdf = features.orderBy("node").toPandas()
    return pandas_features(pdf.drop(columns=["node"]), cats or {})


def pandas_features(pdf: pd.DataFrame, cats: dict[str, list[Any]]) -> pd.DataFrame:
    """One batch of Spark feature rows (no ``node``) with the in-process dtypes.

    Examples
    --------
    >>> batch = pd.DataFrame({"degree": [1.5, None], "attr_country": ["fr", None]})
    >>> X = pandas_features(batch, {"attr_country": ["de", "fr"]})
    >>> X.dtypes.astype(str).tolist(), X["attr_country"].cat.codes.tolist()
    (['float32', 'category'], [1, -1])
    """
    out = {}
    for c in pdf.columns:
        if c in cats:
            out[c] = pd.Categorical(pdf[c].astype(object).where(pdf[c].notna(), None),
                                    categories=cats[c])
        else:
            out[c] = pd.to_numeric(pdf[c], errors="coerce").to_numpy(np.float64, na_value=np.nan)\
                .astype(FEATURE_DTYPE)
    return pd.DataFrame(out, index=pd.RangeIndex(len(pdf)))
