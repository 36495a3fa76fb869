"""The account graph built on Spark: identifier usage with hub limits first, pairs and their
weights, edge aggregation; the compact integer tables are then collected to the driver.

Each step is a DataFrame aggregation or join (no Python loop over rows): identifiers are
counted per ``(kind, value)`` before any pair exists, identifiers above their kind's
share limit are left out of the self-join, so a NAT IP shared by a million accounts is a
count, never a list of members in one task. Floating-point terms are computed by the
same formulas as in-process (:func:`ringfence.graph.build.decay` as a Spark expression),
so the pair weights differ from in-process by rounding only (about 1e-16 relative).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ringfence.graph.build import (_NAT, AccountGraph, _activity_span, _from_ns, _symmetric,
                                   account_status, decay)
from ringfence.graph.canonical import content_order
from ringfence.graph.config import GraphConfig
from ringfence.graph.tables import Tables

__all__ = ["observations", "build_on_spark", "driver_identifiers", "pair_frames",
           "spark_content_numbers"]

_MISSING_US = np.iinfo(np.int64).min // 1000  # a missing time, collected as an integer


def _recency(us, as_of: pd.Timestamp, half_life_days: float | None):
    """:func:`ringfence.graph.build.decay` as a Spark expression on microseconds since the
    epoch (null: missing, recency 1). Native, not a pandas UDF: no Python worker per task;
    Java's ``pow`` and numpy's differ by an ulp at most, far inside the 1e-12 bound."""
    if half_life_days is None:
        return F.lit(1.0)
    age = F.greatest(F.lit(as_of.value // 1000) - us, F.lit(0)).cast("double") / 86_400e6
    return F.when(us.isNull(), F.lit(1.0)).otherwise(
        F.pow(F.lit(0.5), age / F.lit(float(half_life_days))))


def _strings(df: pd.DataFrame) -> pd.DataFrame:
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(df[c]):
            df[c] = df[c].astype(str).astype(object)
    return df


def observations(spark: SparkSession, tables: Tables) -> tuple[DataFrame | None, DataFrame | None]:
    """The identifier observations ``(node, kind, value, seen_at)`` and edges ``(src, dst,
    kind, weight, at, amount)`` with node numbers, on Spark.

    Spark tables (:class:`~ringfence.graph.spark.load.SparkTables`) are joined with the
    accounts' node numbers; pandas tables (a notebook's ``load_tables``) are shipped to
    Spark with the node numbers the contract already computed.
    """
    frames = getattr(tables, "frames", {})
    out: list[DataFrame | None] = []
    nodes = None
    if frames:
        ids = tables.accounts["account_id"].astype(str).to_numpy(object)
        nodes = spark.createDataFrame(pd.DataFrame({"account_id": ids,
                                                    "node": np.arange(len(ids))}))
    for name, cols in (("identifiers", ("account_id",)), ("edges", ("src", "dst"))):
        if name in frames:
            f = frames[name]
            for c in cols:
                f = f.join(nodes.withColumnRenamed("account_id", c)
                           .withColumnRenamed("node", f"{c}_node"), c)
            out.append(f)
            continue
        df = tables[name]
        if df is None or not len(df):
            out.append(None)
            continue
        keep = [c for c in df.columns if c not in cols]
        ship = _strings(df[keep].copy())
        for c in cols:
            ship[f"{c}_node"] = tables.account_positions(name, c)
        out.append(spark.createDataFrame(ship))
    idf, edf = out
    if idf is not None:
        idf = idf.select(F.col("account_id_node").alias("node"), "kind", "value",
                         (F.col("seen_at") if "seen_at" in idf.columns
                          else F.lit(None).cast("timestamp")).alias("seen_at"))
    if edf is not None:
        edf = edf.select(F.col("src_node").alias("src"), F.col("dst_node").alias("dst"), "kind",
                         F.col("weight").cast("double").alias("weight"),
                         (F.col("at") if "at" in edf.columns
                          else F.lit(None).cast("timestamp")).alias("at"),
                         (F.col("amount").cast("double") if "amount" in edf.columns
                          else F.lit(None).cast("double")).alias("amount"))
    return idf, edf


def _us(col: str):
    return F.coalesce(F.unix_micros(col), F.lit(_MISSING_US))


def _ns(us: np.ndarray) -> np.ndarray:
    us = np.asarray(us, np.int64)
    return np.where(us == _MISSING_US, _NAT, us * 1000)


def _kind_code(names: list[str]):
    return (F.array_position(F.array(*[F.lit(k) for k in names]), F.col("kind")) - 1).cast("int")


def _identifier_weights(config: GraphConfig, kind_names: list[str], kind_code: np.ndarray,
                        n_accounts: np.ndarray) -> np.ndarray:
    """Each identifier's weight (its kind's weight, lowered for hubs, 0 above the share
    limit), with in-process's formula on the driver: on either path the same float."""
    kc, n_acc = np.asarray(kind_code, np.int64), np.asarray(n_accounts, np.int64)
    kw = np.array([config.kind_weight(k) for k in kind_names])
    limits = np.array([config.share_limit(k) for k in kind_names])
    hub = np.minimum(1.0, (config.hub_free_size / np.maximum(n_acc, 1)) ** config.hub_exponent)
    return np.where(n_acc > limits[kc], 0.0, kw[kc] * hub)


_SIGN = np.uint64(1 << 63)


def spark_content_numbers(counted: DataFrame) -> DataFrame:
    """``counted`` (``kind_code``, ``value``, ...: distinct pairs) with an ``identifier``
    column numbered as :func:`~ringfence.graph.canonical.content_order` numbers the
    same rows on the driver: by :func:`~ringfence.graph.canonical.content_hashes`, or by
    kind and value (code point order) should two rows share a hash.

    Cost: one ``mapInPandas`` pass of the hash, a check for equal hashes (an
    aggregation), one sort and ``zipWithIndex`` (a job counting each sorted partition);
    nothing of the table's size on the driver.

    Examples
    --------
    >>> numbered = spark_content_numbers(counted)  # doctest: +SKIP
    """
    from ringfence.graph.canonical import content_hashes

    fields = counted.schema.fields

    def hashed(batches):
        for pdf in batches:
            h = content_hashes(pdf["kind_code"].to_numpy(np.int64),
                               pdf["value"].to_numpy(object))
            # unsigned order as a signed long: the sign bit flipped
            pdf["_h"] = (h ^ _SIGN).view(np.int64)
            yield pdf

    schema = ", ".join([f"`{f.name}` {f.dataType.simpleString()}" for f in fields]
                       + ["_h long"])
    with_hash = counted.mapInPandas(hashed, schema)
    collided = with_hash.groupBy("_h").count().where(F.col("count") > 1).limit(1).count()
    order = ["kind_code", "value"] if collided else ["_h"]
    spark = counted.sparkSession
    names = [f.name for f in fields]
    indexed = with_hash.orderBy(*order).select(*names).rdd.zipWithIndex() \
        .map(lambda row_index: (*row_index[0], row_index[1]))
    return spark.createDataFrame(indexed, ", ".join(
        [f"`{f.name}` {f.dataType.simpleString()}" for f in fields] + ["identifier long"]))


def pair_frames(spark: SparkSession, tables: Tables, config: GraphConfig, as_of: pd.Timestamp,
                max_identifiers: int | None = None) -> dict:
    """Everything the build computes on Spark, as Spark DataFrames and small driver tables.

    ``max_identifiers`` (default
    :func:`~ringfence.graph.spark.levels.driver_max_identifiers`): up to this many distinct
    identifiers, their table is collected to the driver; beyond, it stays on Spark and is
    numbered there (:func:`spark_content_numbers`), the same numbers either way.

    Returns a dict: ``kind_names``, ``ident`` (pandas: ``kind_code``, ``value``,
    ``n_accounts``, ``weight``; row = identifier number; None beyond ``max_identifiers``),
    ``ident_frame`` (the same table on Spark with an ``identifier`` column, beyond
    ``max_identifiers``; else None), ``n_identifiers``, ``uses`` (Spark:
    ``identifier``, ``node``, ``count``, ``first_us``, ``last_us``), ``pairs`` (Spark:
    ``a``, ``b``, ``weight``, ``n_shared``, ``kinds``, ``top_identifier``),
    ``edge_kind_names``, ``links_by_edge`` (Spark) and ``edge_span`` (Spark: per node the
    first and last edge time).
    """
    from ringfence.graph.spark.levels import driver_max_identifiers

    obs, edges = observations(spark, tables)
    out: dict = {"kind_names": [], "edge_kind_names": [], "uses": None, "pairs": None,
                 "links_by_edge": None, "edge_span": None, "ident_frame": None,
                 "n_identifiers": 0,
                 "ident": pd.DataFrame({"kind_code": np.array([], np.int64),
                                        "value": np.array([], object),
                                        "n_accounts": np.array([], np.int64),
                                        "weight": np.array([])})}
    if obs is not None:
        kind_names = sorted(r[0] for r in obs.select("kind").distinct().collect())
        obs = obs.withColumn("kind_code", _kind_code(kind_names))
        # hub limits first: accounts per (kind, value) are counted before any pair exists
        counted_frame = (obs.select("kind_code", "value", "node").distinct()
                         .groupBy("kind_code", "value").agg(F.count("*").alias("n_accounts")))
        limit = driver_max_identifiers(max_identifiers)
        # one job when the table fits: at most limit + 1 rows reach the driver
        counted = counted_frame.limit(limit + 1).toPandas()
        if len(counted) <= limit:
            # numbered by content, as in-process (a hash order: independent of row order)
            order = content_order(counted["kind_code"].to_numpy(),
                                  counted["value"].to_numpy(object))
            ident = counted.iloc[order].reset_index(drop=True)
            ident["identifier"] = np.arange(len(ident), dtype=np.int64)
            ident["weight"] = _identifier_weights(config, kind_names,
                                                  ident["kind_code"].to_numpy(),
                                                  ident["n_accounts"].to_numpy())
            numbered = spark.createDataFrame(ident[["kind_code", "value", "identifier"]])
            linking = ident[(ident["weight"] > 0) & (ident["n_accounts"] >= 2)]
            lk = spark.createDataFrame(linking[["identifier", "kind_code", "n_accounts",
                                                "weight"]].rename(columns={"weight": "w"}))
            if len(linking) < 2_000_000:
                lk = F.broadcast(lk)
            n_identifiers, ident_frame = len(ident), None
            ident = ident.drop(columns="identifier")
        else:
            del counted
            ident_frame = _weighted(spark_content_numbers(counted_frame), config, kind_names)
            ident_frame = ident_frame.persist()
            n_identifiers = ident_frame.count()
            numbered = ident_frame.select("kind_code", "value", "identifier")
            lk = (ident_frame.where((F.col("weight") > 0) & (F.col("n_accounts") >= 2))
                  .select("identifier", "kind_code", "n_accounts", F.col("weight").alias("w")))
            ident = None
        uses = (obs.join(numbered, ["kind_code", "value"])
                .groupBy("identifier", "node")
                .agg(F.count("*").alias("count"), F.min("seen_at").alias("first_seen"),
                     F.max("seen_at").alias("last_seen"))
                .select("identifier", "node", "count", _us("first_seen").alias("first_us"),
                        _us("last_seen").alias("last_us"))
                .persist())
        members = (uses.join(lk, "identifier")
                   .withColumn("r", _recency(F.when(F.col("last_us") != _MISSING_US,
                                                    F.col("last_us")),
                                             as_of, config.identifier_half_life_days)))
        left = members.select("identifier", F.col("node").alias("a"), F.col("r").alias("ra"),
                              "w", "n_accounts", "kind_code")
        right = members.select("identifier", F.col("node").alias("b"), F.col("r").alias("rb"))
        contrib = (left.join(right, "identifier").filter(F.col("a") < F.col("b"))
                   .withColumn("c", F.col("w") * F.sqrt(F.col("ra") * F.col("rb"))))
        # the strongest shared identifier; ties as in-process: the less shared, then the
        # lower identifier number
        pairs = (contrib.groupBy("a", "b")
                 .agg(F.sum("c").alias("weight"), F.count("*").alias("n_shared"),
                      F.bit_or(F.expr("shiftleft(CAST(1 AS BIGINT), kind_code)"))
                      .alias("kinds"),
                      F.max(F.struct(F.col("c"), (-F.col("n_accounts")).alias("m"),
                                     (-F.col("identifier")).alias("i"))).alias("top"))
                 .select("a", "b", "weight", "n_shared", "kinds",
                         (-F.col("top.i")).alias("top_identifier")))
        out.update(kind_names=kind_names, ident=ident, ident_frame=ident_frame,
                   n_identifiers=n_identifiers, uses=uses, pairs=pairs)
    if edges is not None:
        edge_kind_names = sorted(r[0] for r in edges.select("kind").distinct().collect())
        ew = [float(config.edge_weight(k)) for k in edge_kind_names]
        e = (edges.withColumn("kind_code", _kind_code(edge_kind_names))
             .withColumn("ew", F.element_at(F.array(*[F.lit(x) for x in ew]),
                                            F.col("kind_code") + 1))
             .withColumn("w", F.col("weight") * F.col("ew")
                        * _recency(F.unix_micros("at"), as_of, config.edge_half_life_days))
             .withColumn("a", F.least("src", "dst")).withColumn("b", F.greatest("src", "dst"))
             .withColumn("amount", F.coalesce(F.nanvl("amount", F.lit(0.0)), F.lit(0.0))))
        agg = (e.groupBy("a", "b")
               .agg(F.sum("w").alias("total"), F.count("*").alias("n_edges"),
                    F.bit_or(F.expr("shiftleft(CAST(1 AS BIGINT), kind_code)"))
                    .alias("kinds"),
                    F.max(F.struct(F.col("w"), (-F.col("kind_code")).alias("k"))).alias("top"),
                    F.sum("amount").alias("amount"), _us_max("at").alias("last_us")))
        cap = config.edge_repeat_cap
        weight = F.least(F.col("total"), F.lit(cap) * F.col("top.w")) if cap is not None \
            else F.col("total")
        links = (agg.select("a", "b", weight.alias("weight"), "n_edges", "kinds",
                            (-F.col("top.k")).alias("top_kind"), "amount", "last_us")
                 .filter(F.col("weight") > 0))
        span = (e.select(F.col("src").alias("node"), "at")
                .unionByName(e.select(F.col("dst").alias("node"), "at"))
                .filter(F.col("at").isNotNull()).groupBy("node")
                .agg(F.min("at").alias("lo"), F.max("at").alias("hi"))
                .select("node", _us("lo").alias("lo"), _us("hi").alias("hi")))
        out.update(edge_kind_names=edge_kind_names, links_by_edge=links, edge_span=span)
    return out


def _weighted(numbered: DataFrame, config: GraphConfig, kind_names: list[str]) -> DataFrame:
    """``numbered`` with each identifier's ``weight``: computed on the driver for each
    distinct (kind, accounts) pair (a few thousand at most) and joined back, so that it is
    the float :func:`_identifier_weights` gives in-process."""
    spark = numbered.sparkSession
    distinct = numbered.select("kind_code", "n_accounts").distinct().toPandas()
    distinct["weight"] = _identifier_weights(config, kind_names,
                                             distinct["kind_code"].to_numpy(),
                                             distinct["n_accounts"].to_numpy())
    table = spark.createDataFrame(distinct, "kind_code int, n_accounts long, weight double")
    return numbered.join(F.broadcast(table), ["kind_code", "n_accounts"]) \
        .select("identifier", "kind_code", "value", "n_accounts", "weight")


def driver_identifiers(frames: dict) -> pd.DataFrame:
    """:func:`pair_frames`'s identifier table on the driver (``kind_code``, ``value``,
    ``n_accounts``, ``weight``; row = identifier number), collected from Spark when it was
    kept there. For the paths that need the whole table on the driver anyway (the graph
    collected when its links fit)."""
    if frames["ident"] is not None:
        return frames["ident"]
    ident = frames["ident_frame"].toPandas().sort_values("identifier", ignore_index=True)
    return ident[["kind_code", "value", "n_accounts", "weight"]]


def _us_max(col: str):
    return F.coalesce(F.max(F.unix_micros(col)), F.lit(_MISSING_US))


def _collect(frame: DataFrame | None, columns: dict[str, str]) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame({c: np.array([], dt) for c, dt in columns.items()})
    df = frame.toPandas()
    return pd.DataFrame({c: df[c].to_numpy().astype(dt) for c, dt in columns.items()})


def build_on_spark(spark: SparkSession, tables: Tables, config: GraphConfig,
                   as_of: pd.Timestamp, frames: dict | None = None) -> AccountGraph:
    """The :class:`~ringfence.graph.build.AccountGraph` of ``tables``, its pairs, weights and
    edge links computed on Spark (:func:`pair_frames`), collected to the driver.

    Returns the same graph as :func:`ringfence.graph.build.build_graph` (weights to
    within the order of summation). ``frames`` is :func:`pair_frames`'s result when the
    caller already has it.

    Notes
    -----
    Cost on Spark: one shuffle of the observations per step (count per identifier,
    uses, pairs), one self-join of the uses of linking identifiers (bounded by the share
    limits), one aggregation of the edges. On the driver: the uses, identifiers, pairs
    and edge links (compact integer tables) and the account status.
    """
    frames = frames or pair_frames(spark, tables, config, as_of)
    n = len(tables.accounts)
    account_ids = tables.accounts["account_id"].to_numpy(dtype=object)
    index = pd.Index(account_ids)
    kind_names = frames["kind_names"]
    ident_pd = driver_identifiers(frames)
    ident = pd.DataFrame({
        "kind": pd.Categorical.from_codes(ident_pd["kind_code"].to_numpy().astype(np.int64),
                                          categories=kind_names),
        "value": pd.array(ident_pd["value"].to_numpy(object), dtype="str"),
        "n_accounts": ident_pd["n_accounts"].to_numpy().astype(np.int32),
    })
    u = _collect(frames["uses"], {"identifier": np.int64, "node": np.int64, "count": np.int64,
                                  "first_us": np.int64, "last_us": np.int64})
    order = np.lexsort((u["node"].to_numpy(), u["identifier"].to_numpy()))
    u = u.iloc[order]
    uses = pd.DataFrame({"account": u["node"].to_numpy().astype(np.int32),
                         "identifier": u["identifier"].to_numpy().astype(np.int32),
                         "count": u["count"].to_numpy().astype(np.int32),
                         "first_seen": _from_ns(_ns(u["first_us"].to_numpy())),
                         "last_seen": _from_ns(_ns(u["last_us"].to_numpy()))})
    ident["weight"] = ident_pd["weight"].to_numpy(float)
    uses["recency"] = decay(uses["last_seen"], as_of, config.identifier_half_life_days)

    pairs = _collect(frames["pairs"], {"a": np.int64, "b": np.int64, "weight": float,
                                       "n_shared": np.int64, "kinds": np.int64,
                                       "top_identifier": np.int64})
    pairs = pairs.iloc[np.lexsort((pairs["b"].to_numpy(), pairs["a"].to_numpy()))] \
        .reset_index(drop=True)
    lbe = _collect(frames["links_by_edge"], {"a": np.int64, "b": np.int64, "weight": float,
                                             "n_edges": np.int64, "kinds": np.int64,
                                             "top_kind": np.int64, "amount": float,
                                             "last_us": np.int64})
    lbe = lbe.iloc[np.lexsort((lbe["b"].to_numpy(), lbe["a"].to_numpy()))].reset_index(drop=True)
    lbe["last_at"] = _from_ns(_ns(lbe.pop("last_us").to_numpy()))

    adjacency = _symmetric(n, [pairs, lbe])
    status = account_status(tables, index, as_of, config)
    edge_times = None
    if frames["edge_span"] is not None:
        span = _collect(frames["edge_span"], {"node": np.int64, "lo": np.int64, "hi": np.int64})
        node = span["node"].to_numpy()
        edge_times = (np.r_[node, node], np.r_[node, node],
                      np.r_[_ns(span["lo"].to_numpy()), _ns(span["hi"].to_numpy())])
    first, last = _activity_span(tables, index, uses, edge_times)
    status["first_activity"], status["last_activity"] = first, last
    if frames["uses"] is not None:
        frames["uses"].unpersist()
    return AccountGraph(account_ids=account_ids, index=index, identifiers=ident, uses=uses,
                        kind_names=kind_names, pairs=pairs, links_by_edge=lbe,
                        edge_kind_names=frames["edge_kind_names"], adjacency=adjacency,
                        status=status, as_of=as_of, config=config)
