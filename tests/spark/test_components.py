"""Connected components and identities on Spark: the partition graph/identity.py finds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.identity import _components, link_identities, separate_decided, \
    split_components
from ringfence.graph.linking import SAME_ACTOR
from ringfence.graph.synth import generate_platform

pytestmark = pytest.mark.spark


def _smallest_member(labels: np.ndarray) -> np.ndarray:
    """Each node's group named by its smallest node: equal arrays, equal partitions."""
    first = np.full(labels.max(initial=0) + 1, len(labels), np.int64)
    np.minimum.at(first, labels, np.arange(len(labels)))
    return first[labels]


def _adversarial_links(rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray]:
    """Four graphs on disjoint node ranges, each the worst case of something."""
    parts, offset = [], 0

    def add(a, b, n):
        nonlocal offset
        parts.append((np.asarray(a) + offset, np.asarray(b) + offset))
        offset += n

    # a chain of 400 nodes numbered at random: the smallest node is anywhere on it
    order = rng.permutation(400)
    add(order[:-1], order[1:], 400)
    # a star whose centre is its largest node, links in both orientations
    add(np.full(150, 150), np.arange(150), 151)
    add(np.arange(0, 150, 2), np.full(75, 150), 151)  # and a second star, half the leaves
    # many tiny components: 300 pairs and 100 triangles
    add(np.arange(0, 600, 2), np.arange(1, 600, 2), 600)
    tri = np.arange(0, 300, 3)
    add(np.concatenate([tri, tri, tri + 1]), np.concatenate([tri + 1, tri + 2, tri + 2]), 300)
    # a sparse random graph: many small components and one large one
    add(rng.integers(0, 2000, 2200), rng.integers(0, 2000, 2200), 2000)
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    return offset, a, b


def test_components_are_scipys_with_the_smallest_node_as_id(spark):
    from ringfence.graph.spark.components import connected_components

    n, a, b = _adversarial_links(np.random.default_rng(5))
    links = spark.createDataFrame(pd.DataFrame({"a": a, "b": b}))  # self-links and repeats too
    got = connected_components(links, checkpoint_every=2).toPandas()

    linked = np.zeros(n, bool)
    linked[a] = linked[b] = True
    expected = _smallest_member(_components(n, a, b))
    assert got["node"].is_unique
    assert sorted(got["node"]) == np.flatnonzero(linked).tolist()
    assert (got["component"].to_numpy() == expected[got["node"].to_numpy()]).all()
    # the chain is one component named by node 0, wherever 0 sits on it
    assert (got.loc[got["node"] < 400, "component"] == 0).all()


def _jobs_of(spark, group: str, action):
    """``action()``'s result and how many Spark jobs it ran (its own job group)."""
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    try:
        out = action()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    return out, len(sc.statusTracker().getJobIdsForGroup(group))


def test_a_lazy_local_checkpoint_is_computed_by_the_action_that_reads_it(spark):
    from pyspark.sql import functions as F

    from ringfence.graph.spark.components import materialise

    df = spark.range(1000).select((F.col("id") % 7).alias("k")).groupBy("k").count()
    lazy, jobs = _jobs_of(spark, "lazy-checkpoint",
                          lambda: materialise(df, reliable=False, eager=False))
    assert jobs == 0  # nothing computed yet
    total, jobs = _jobs_of(spark, "lazy-read", lambda: lazy.agg(F.sum("count")).first()[0])
    assert (total, jobs) == (1000, 1)  # one job computed the rows and read them
    eager, jobs = _jobs_of(spark, "eager-checkpoint", lambda: materialise(df, reliable=False))
    assert jobs == 1
    assert sorted(map(tuple, lazy.collect())) == sorted(map(tuple, eager.collect()))


def test_no_links_no_components(spark):
    from ringfence.graph.spark.components import connected_components, spark_identities

    empty = spark.createDataFrame([], "a long, b long, weight double")
    assert connected_components(empty).count() == 0
    found = spark_identities(empty, 20)
    assert (found.nodes.count(), found.links.count(), found.n_split) == (0, 0, 0)


@pytest.fixture(scope="module")
def linked_platform():
    """3,000 accounts with reviewers' link decisions, identities of at most 2 accounts so
    that many components are split, linked in-process."""
    p = generate_platform(3_000, seed=3, link_labels=0.1)
    tables = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement, p.link_decisions)
    config = GraphConfig(max_identity_size=2)
    graph = build_graph(tables, config)
    linking = link_identities(graph, config, tables.link_decisions)
    return graph, linking, tables.link_decisions


def test_identities_are_link_identities_with_splits_and_decisions(spark, linked_platform):
    from ringfence.graph.spark.components import spark_identities

    graph, linking, decisions = linked_platform
    same = linking.links[linking.links["link_kind"] == SAME_ACTOR]
    apart = decisions[decisions["decision"].astype(str) == "different_actors"]
    apart_nodes = pd.DataFrame({"a": graph.nodes(apart["account_a"].astype(str).to_numpy()),
                                "b": graph.nodes(apart["account_b"].astype(str).to_numpy())})
    found = spark_identities(
        spark.createDataFrame(same[["a", "b", "match_weight"]].rename(
            columns={"match_weight": "weight"})),
        2, apart=spark.createDataFrame(apart_nodes))

    identity = np.full(graph.n_accounts, -1)
    nodes = found.nodes.toPandas()
    identity[nodes["node"].to_numpy()] = nodes["identity"].to_numpy()
    # the same ids, not only the same partition: numbered by size, ties by smallest member
    assert (identity == linking.identity).all()
    cut = found.links.toPandas().merge(same[["a", "b", "cut"]], on=["a", "b"],
                                       suffixes=("", "_in_process"))
    assert len(cut) == len(same)
    assert (cut["cut"] == cut["cut_in_process"]).all()
    assert found.n_split == linking.n_split
    # the platform exercises both routines
    assert linking.n_split > 5 and same["cut"].sum() > 10
    assert len(apart_nodes) > 0


def test_decided_pairs_are_separated_as_in_process(spark):
    """separate_decided on a few chained components, against the in-process routines."""
    from ringfence.graph.spark.components import spark_identities

    rng = np.random.default_rng(11)
    n = 600
    a = np.arange(n - 1)
    b = a + 1
    keep = rng.random(n - 1) > 0.05  # chains of about 20 nodes
    a, b = a[keep], b[keep]
    extra = rng.integers(0, n, (80, 2))
    extra = extra[np.abs(extra[:, 0] - extra[:, 1]) < 8]
    a = np.concatenate([a, extra.min(axis=1)])
    b = np.concatenate([b, extra.max(axis=1)])
    pairs = pd.DataFrame({"a": a, "b": b}).query("a != b").drop_duplicates()
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    w = rng.choice([1.0, 2.0, 3.0, 4.0], len(a))
    apart_a = rng.integers(0, n - 5, 40)
    apart_b = apart_a + rng.integers(2, 5, 40)

    labels, kept = split_components(n, a, b, w, 12)
    kept = separate_decided(n, a, b, w, kept, apart_a, apart_b)
    expected = _smallest_member(_components(n, a[kept], b[kept]))

    found = spark_identities(spark.createDataFrame(pd.DataFrame({"a": a, "b": b, "weight": w})),
                             12, apart=spark.createDataFrame(
                                 pd.DataFrame({"a": apart_b, "b": apart_a})))  # either order
    nodes = found.nodes.toPandas()
    got = np.arange(n)
    got[nodes["node"].to_numpy()] = -1 - nodes["identity"].to_numpy()
    assert (_smallest_member(pd.factorize(got)[0]) == expected).all()
    links = found.links.toPandas().sort_values(["a", "b"])
    order = np.lexsort((b, a))
    assert (links["cut"].to_numpy() == ~kept[order]).all()
    assert (~kept).sum() > 0
