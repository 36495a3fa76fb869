"""Offender clusters: planted partitions recovered by both methods, numbering,
min_size and isolated nodes, determinism under seeds (and no leaked global
RNG state), the cluster table's numbers on a hand-built graph, the risk
ranking, and argument validation."""

from __future__ import annotations

import random
import warnings

import igraph
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.clusters import (account_offence_score, cluster_table, detect_communities,
                            find_clusters)
from ringfence.graph.config import GraphConfig

METHODS = ["leiden", "louvain"]


def symmetric(n: int, a, b, w) -> sp.csr_matrix:
    a, b, w = np.asarray(a), np.asarray(b), np.asarray(w, float)
    return sp.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()


def planted(n_groups: int = 5, size: int = 20, p_in: float = 0.5, n_between: int = 10,
            n_isolated: int = 0, seed: int = 0, shuffle: bool = True):
    """Dense groups (each edge with probability ``p_in``, weight 0.5..1.5) joined by
    ``n_between`` weak (0.1) random links; returns (adjacency, group of each node,
    -1 for the isolated ones). Node numbers are shuffled so groups are not blocks."""
    rng = np.random.default_rng(seed)
    n_linked = n_groups * size
    group = np.repeat(np.arange(n_groups), size)
    iu, ju = np.triu_indices(size, 1)
    a, b, w = [], [], []
    for g in range(n_groups):
        keep = rng.random(len(iu)) < p_in
        a.append(g * size + iu[keep])
        b.append(g * size + ju[keep])
        w.append(rng.uniform(0.5, 1.5, keep.sum()))
    x, y = rng.integers(0, n_linked, n_between), rng.integers(0, n_linked, n_between)
    cross = group[x] != group[y]
    a.append(x[cross]), b.append(y[cross]), w.append(np.full(cross.sum(), 0.1))
    a, b, w = np.concatenate(a), np.concatenate(b), np.concatenate(w)
    n = n_linked + n_isolated
    truth = np.r_[group, np.full(n_isolated, -1)]
    perm = rng.permutation(n) if shuffle else np.arange(n)  # node i -> perm[i]
    adj = symmetric(n, perm[a], perm[b], w)
    out = np.empty(n, np.int64)
    out[perm] = truth
    return adj, out


def same_partition(found: np.ndarray, truth: np.ndarray) -> bool:
    """Exact equality up to renaming (both use -1 for no cluster)."""
    if not np.array_equal(found < 0, truth < 0):
        return False
    f, t = found[found >= 0], truth[truth >= 0]
    pairs = np.unique(np.column_stack((f, t)), axis=0)
    return len(pairs) == len(np.unique(f)) == len(np.unique(t))


# ----------------------------------------------------------------------------- detection

@pytest.mark.parametrize("method", METHODS)
def test_planted_partition_recovered_exactly(method):
    adj, truth = planted(n_groups=5, size=20, n_between=15, n_isolated=7)
    found = detect_communities(adj, method=method, seed=3)
    assert found.dtype == np.int64 and found.shape == truth.shape
    assert same_partition(found, truth)
    assert sorted(np.unique(found).tolist()) == [-1, 0, 1, 2, 3, 4]


@pytest.mark.parametrize("method", METHODS)
def test_unequal_groups_numbered_by_size(method):
    # groups of 30, 12, 25, 12 (two equal sizes: tie broken by the smallest node)
    sizes = [30, 12, 25, 12]
    parts, offset, a, b, w = [], 0, [], [], []
    rng = np.random.default_rng(5)
    for g, s in enumerate(sizes):
        iu, ju = np.triu_indices(s, 1)
        keep = rng.random(len(iu)) < 0.6
        a.append(offset + iu[keep]), b.append(offset + ju[keep]), w.append(np.ones(keep.sum()))
        parts.append(np.full(s, g))
        offset += s
    a.append([0, 30, 42]), b.append([30, 42, 67]), w.append([0.05, 0.05, 0.05])
    adj = symmetric(offset, np.concatenate(a), np.concatenate(b), np.concatenate(w))
    found = detect_communities(adj, method=method)
    truth = np.concatenate(parts)
    assert same_partition(found, truth)
    # largest first; of the two groups of 12, the one holding node 30 (< 67) comes first
    assert found[0] == 0 and found[42] == 1 and found[30] == 2 and found[67] == 3
    assert np.bincount(found).tolist() == [30, 25, 12, 12]


@pytest.mark.parametrize("method", METHODS)
def test_isolated_nodes_and_small_components_get_minus_one(method):
    # triangle 0-1-2, pair 3-4, isolated 5, node 6 with only a self-loop,
    # 7-8 joined by an explicit zero, square 9-10-11-12
    a = [0, 1, 0, 3, 9, 10, 11, 12, 7]
    b = [1, 2, 2, 4, 10, 11, 12, 9, 8]
    w = [1, 1, 1, 1, 1, 1, 1, 1, 0]
    adj = symmetric(13, a, b, w).tolil()
    adj[6, 6] = 5.0
    adj = adj.tocsr()
    found = detect_communities(adj, method=method)
    assert found.tolist() == [1, 1, 1, 2, 2, -1, -1, -1, -1, 0, 0, 0, 0]
    found = detect_communities(adj, method=method, min_size=3)
    assert found.tolist() == [1, 1, 1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0]
    found = detect_communities(adj, method=method, min_size=5)
    assert (found == -1).all()
    # min_size=1 still leaves nodes without links out
    found = detect_communities(adj, method=method, min_size=1)
    assert found[[5, 6, 7, 8]].tolist() == [-1, -1, -1, -1]


def test_no_links_and_empty_graph():
    assert detect_communities(sp.csr_matrix((4, 4))).tolist() == [-1, -1, -1, -1]
    assert detect_communities(sp.csr_matrix((0, 0))).tolist() == []


def test_weights_decide():
    # a 6-cycle whose heavy edges pair it up: {0,1}, {2,3}, {4,5}
    a, b = [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]
    w = [10, 0.1, 10, 0.1, 10, 0.1]
    for method in METHODS:
        found = detect_communities(symmetric(6, a, b, w), method=method)
        assert same_partition(found, np.array([0, 0, 1, 1, 2, 2]))
        # the same cycle shifted by one: weights, not node order, decide
        found = detect_communities(symmetric(6, a, b, np.roll(w, 1)), method=method)
        assert same_partition(found, np.array([0, 1, 1, 2, 2, 0]))


def test_resolution_splits_and_merges():
    # 4 cliques of 6 in a ring of single strong links
    a, b = [], []
    for g in range(4):
        iu, ju = np.triu_indices(6, 1)
        a += (g * 6 + iu).tolist()
        b += (g * 6 + ju).tolist()
        a.append(g * 6)
        b.append(((g + 1) % 4) * 6 + 1)
    adj = symmetric(24, a, b, np.ones(len(a)))
    fine = detect_communities(adj, resolution=1.0)
    coarse = detect_communities(adj, resolution=0.05)
    assert len(np.unique(fine)) == 4
    assert len(np.unique(coarse)) < 4


def test_dense_and_sparse_array_inputs_agree():
    adj, _ = planted(n_groups=3, size=10, seed=2)
    ref = detect_communities(adj)
    assert np.array_equal(detect_communities(adj.toarray()), ref)
    assert np.array_equal(detect_communities(sp.csr_array(adj)), ref)
    # unsorted indices and duplicate entries give the same canonical graph
    coo = adj.tocoo()
    half = coo.data / 2
    dup = sp.coo_matrix((np.r_[half, half][::-1],
                         (np.r_[coo.row, coo.row][::-1], np.r_[coo.col, coo.col][::-1])),
                        shape=adj.shape)
    assert np.array_equal(detect_communities(dup), ref)


# ----------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("method", METHODS)
def test_deterministic_for_a_seed(method):
    # ambiguous structure (many near-equivalent partitions) so the seed matters
    rng = np.random.default_rng(11)
    n = 300
    a, b = rng.integers(0, n, 900), rng.integers(0, n, 900)
    keep = a != b
    adj = symmetric(n, a[keep], b[keep], rng.uniform(0.5, 1.5, keep.sum()))
    first = detect_communities(adj, method=method, seed=1)
    other = [detect_communities(adj, method=method, seed=s) for s in (2, 3, 4, 5)]
    again = detect_communities(adj, method=method, seed=1)
    assert np.array_equal(first, again)
    # each other seed is reproducible too, and the seed is actually used
    assert all(np.array_equal(o, detect_communities(adj, method=method, seed=s))
               for o, s in zip(other, (2, 3, 4, 5)))
    assert any(not np.array_equal(first, o) for o in other)


def test_global_random_state_untouched_and_restored():
    adj, _ = planted(n_groups=3, size=10)
    random.seed(123)
    expected = [random.random() for _ in range(3)]
    random.seed(123)
    detect_communities(adj, seed=9)
    detect_communities(adj, method="louvain", seed=9)
    # igraph drew from its own seeded generator, not from the random module
    assert [random.random() for _ in range(3)] == expected

    # afterwards igraph draws from the random module again
    assert igraph_uses_random_module()


def igraph_uses_random_module() -> bool:
    """Whether an igraph call consumes numbers from the ``random`` module."""
    g = igraph.Graph.Ring(30)
    random.seed(7)
    g.community_multilevel()
    after = random.random()
    random.seed(7)
    return random.random() != after


def test_generator_restored_on_error(monkeypatch):
    adj, _ = planted(n_groups=2, size=5)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(igraph.Graph, "community_leiden", boom)
    with pytest.raises(RuntimeError):
        detect_communities(adj, seed=4)
    assert igraph_uses_random_module()


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, word", [
    ({"method": "girvan_newman"}, "method"),
    ({"resolution": 0}, "resolution"),
    ({"resolution": -1.0}, "resolution"),
    ({"resolution": float("nan")}, "resolution"),
    ({"seed": 1.5}, "seed"),
    ({"seed": None}, "seed"),
    ({"min_size": 0}, "min_size"),
    ({"min_size": 2.5}, "min_size"),
    ({"n_iterations": 0}, "n_iterations"),
    ({"n_iterations": -2}, "n_iterations"),
])
def test_bad_arguments(kwargs, word):
    adj = symmetric(3, [0], [1], [1.0])
    with pytest.raises(ValueError, match=word):
        detect_communities(adj, **kwargs)


@pytest.mark.parametrize("matrix, word", [
    (sp.csr_matrix(np.ones((2, 3))), "square"),
    (sp.csr_matrix(np.array([[0, 1.0], [0, 0]])), "symmetric"),
    (sp.csr_matrix(np.array([[0, -1.0], [-1.0, 0]])), "negative"),
    (sp.csr_matrix(np.array([[0, np.nan], [np.nan, 0]])), "non-finite"),
])
def test_bad_matrices(matrix, word):
    with pytest.raises(ValueError, match=f"adjacency.*{word}|{word}"):
        detect_communities(matrix)


def test_not_a_matrix():
    with pytest.raises(TypeError, match="adjacency"):
        detect_communities([[0, 1], [1, 0]])


# ----------------------------------------------------------------------------- the table

T = "2026-01-10T00:00:00Z"


def ring_graph(config: GraphConfig | None = None):
    """Four groups linked through shared devices:

    - ring ``r0..r9`` (10 accounts): 6 banned, r0..r5 with 3 violations each and
      r6, r7 with 1 each (20 in total, 8 violating accounts), r9 cleared;
    - clean ``c0..c9`` (10 accounts): nothing;
    - pair ``p0, p1``: p0 banned;
    - trio ``t0..t2``: t1 with 2 violations, not banned;
    - loner ``z`` links to nobody but is banned.
    Groups are cliques on one device each (the per-kind share limit is raised so
    10 accounts can share a device), with no link between groups.
    """
    ring = [f"r{i}" for i in range(10)]
    clean = [f"c{i}" for i in range(10)]
    pair, trio = ["p0", "p1"], ["t0", "t1", "t2"]
    accounts = pd.DataFrame({"account_id": ring + clean + pair + trio + ["z"]})
    accounts["created_at"] = "2025-06-01"
    accounts.loc[accounts["account_id"] == "r3", "created_at"] = "2025-01-15"
    accounts.loc[accounts["account_id"] == "c4", "created_at"] = "2025-03-02"
    ids = pd.DataFrame(
        [(a, "device", "dr", "2026-01-01") for a in ring]
        + [(a, "device", "dc", "2026-01-02") for a in clean]
        + [(a, "device", "dp", "2026-01-03") for a in pair]
        + [(a, "device", "dt", "2026-01-04") for a in trio]
        + [("z", "device", "dz", "2026-01-05")],
        columns=["account_id", "kind", "value", "seen_at"])
    enf = ([(a, "ban", "2026-01-06") for a in ring[:6]]
           + [(a, "violation", f"2026-01-0{k + 1}") for a in ring[:6] for k in range(3)]
           + [("r6", "violation", "2026-01-07"), ("r7", "violation", "2026-01-07"),
              ("r9", "cleared", "2026-01-08"),
              ("p0", "ban", "2026-01-06"),
              ("t1", "violation", "2026-01-03"), ("t1", "violation", "2026-01-04"),
              ("z", "ban", T)])
    enf = pd.DataFrame(enf, columns=["account_id", "action", "at"])
    config = config or GraphConfig(share_limits={"device": 20}, identifier_half_life_days=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = load_tables(accounts, identifiers=ids, enforcement=enf)
    return build_graph(tables, config)


def test_cluster_table_numbers():
    g = ring_graph()
    membership, table = find_clusters(g)
    ids = g.account_ids
    # every group is one cluster, the loner is in none
    assert membership[ids.tolist().index("z")] == -1
    for prefix in "rcpt":
        m = membership[[i for i, a in enumerate(ids) if a.startswith(prefix)]]
        assert len(set(m.tolist())) == 1 and m[0] >= 0
    assert list(table.columns) == ["cluster_id", "size", "banned", "cleared", "violations",
                                   "violating_accounts", "offence_rate", "first_activity",
                                   "last_activity", "internal_weight", "risk"]
    assert len(table) == 4
    by = table.set_index("cluster_id")
    r, c, p, t = (by.loc[membership[ids.tolist().index(x)]] for x in ("r0", "c0", "p0", "t0"))
    assert (r["size"], r["banned"], r["cleared"], r["violations"], r["violating_accounts"]) \
        == (10, 6, 1, 20, 8)
    assert r["offence_rate"] == 0.8  # 6 banned + r6, r7
    assert (c["size"], c["banned"], c["violations"], c["offence_rate"]) == (10, 0, 0, 0.0)
    assert (p["size"], p["banned"], p["violations"], p["offence_rate"]) == (2, 1, 0, 0.5)
    assert (t["size"], t["banned"], t["violations"], t["violating_accounts"]) == (3, 0, 2, 1)
    assert t["offence_rate"] == pytest.approx(1 / 3)
    # internal weight: one device (weight 1 * hub factor (4/n)^0.5, capped at 1) per pair
    assert r["internal_weight"] == pytest.approx(45 * (4 / 10) ** 0.5)
    assert c["internal_weight"] == pytest.approx(45 * (4 / 10) ** 0.5)
    assert p["internal_weight"] == pytest.approx(1.0)
    assert t["internal_weight"] == pytest.approx(3.0)
    # activity span: min over created_at, seen_at and enforcement times of the members
    assert r["first_activity"] == pd.Timestamp("2025-01-15", tz="UTC")
    assert r["last_activity"] == pd.Timestamp("2026-01-08", tz="UTC")
    assert c["first_activity"] == pd.Timestamp("2025-03-02", tz="UTC")
    assert c["last_activity"] == pd.Timestamp("2026-01-02", tz="UTC")


def test_risk_formula_and_ranking():
    g = ring_graph()
    membership, table = find_clusters(g)
    ids = g.account_ids.tolist()
    # platform: 8 banned (r0..r5, p0, z) of 26 accounts, r6, r7 with 1 violation (0.5 each),
    # t1 with 2 (0.75)
    base = (8 + 0.5 + 0.5 + 0.75) / 26
    k = 5.0
    expect = {"r0": (6 + 0.5 + 0.5 + k * base) / (10 + k),
              "c0": (k * base) / (10 + k),
              "p0": (1 + k * base) / (2 + k),
              "t0": (0.75 + k * base) / (3 + k)}
    risk = table.set_index("cluster_id")["risk"]
    for acc, value in expect.items():
        assert risk[membership[ids.index(acc)]] == pytest.approx(value)
    order = [membership[ids.index(a)] for a in ("r0", "p0", "t0", "c0")]
    assert table["cluster_id"].tolist() == order  # ring > pair with one ban > trio > clean
    assert table["risk"].is_monotonic_decreasing
    assert ((table["risk"] >= 0) & (table["risk"] <= 1)).all()
    # a big clean cluster sits below the platform rate, the ring far above
    assert risk[membership[ids.index("c0")]] < base < risk[membership[ids.index("r0")]]

    # prior_strength=0 is the raw mean score
    raw = cluster_table(g, membership, prior_strength=0).set_index("cluster_id")["risk"]
    assert raw[membership[ids.index("p0")]] == 0.5
    assert raw[membership[ids.index("r0")]] == pytest.approx(0.7)


def test_offence_score():
    s = account_offence_score(np.array([True, True, False, False, False]),
                              np.array([0, 4, 0, 1, 2]))
    assert s.tolist() == [1.0, 1.0, 0.0, 0.5, 0.75]


def test_cluster_table_empty_and_custom_membership():
    g = ring_graph()
    n = g.n_accounts
    empty = cluster_table(g, np.full(n, -1))
    assert len(empty) == 0 and "risk" in empty.columns
    # every account in one cluster: totals of the whole platform
    one = cluster_table(g, np.zeros(n, np.int64))
    assert one[["size", "banned", "violations"]].iloc[0].tolist() == [26, 8, 22]
    # a membership with a gap in the ids: only present clusters get a row
    m = np.full(n, -1)
    m[:3] = 4
    assert cluster_table(g, m)["cluster_id"].tolist() == [4]


@pytest.mark.parametrize("membership, kwargs, word", [
    (np.zeros(3, np.int64), {}, "membership"),
    (np.zeros(26), {}, "membership"),
    (np.full(26, -2), {}, "membership"),
    (np.zeros(26, np.int64), {"prior_strength": -1.0}, "prior_strength"),
    (np.zeros(26, np.int64), {"prior_strength": float("inf")}, "prior_strength"),
])
def test_cluster_table_bad_arguments(membership, kwargs, word):
    g = ring_graph()
    with pytest.raises(ValueError, match=word):
        cluster_table(g, membership, **kwargs)


def test_find_clusters_uses_config():
    g = ring_graph()
    for method, objective, res in (("leiden", "modularity", 1.0), ("louvain", "modularity", 1.0),
                                   ("leiden", "cpm", 0.05)):
        cfg = g.config.replace(cluster_method=method, cluster_objective=objective,
                               cluster_resolution=res, seed=3)
        m1, t1 = find_clusters(g, cfg)
        m2, t2 = find_clusters(g, cfg)
        assert np.array_equal(m1, m2)
        pd.testing.assert_frame_equal(t1, t2)
        assert np.array_equal(m1, detect_communities(g.adjacency, method=method, seed=3,
                                                     objective=objective, resolution=res))


def test_cpm_finds_small_dense_groups_whatever_the_graph_size():
    """Modularity's resolution limit merges small groups in a big sparse graph;
    CPM does not: 300 triangles in a ring of weak links stay 300 triangles."""
    k = 300
    rows, cols, w = [], [], []
    for t in range(k):
        a, b, c = 3 * t, 3 * t + 1, 3 * t + 2
        rows += [a, a, b]
        cols += [b, c, c]
        w += [1.0, 1.0, 1.0]
        rows.append(c)
        cols.append((3 * t + 3) % (3 * k))
        w.append(0.3)
    m = sp.coo_array((w, (rows, cols)), shape=(3 * k, 3 * k))
    adj = (m + m.T).tocsr()
    cpm = detect_communities(adj, objective="cpm", resolution=0.05)
    assert len(np.unique(cpm)) == k
    assert all(len(set(cpm[3 * t:3 * t + 3])) == 1 for t in range(k))
    modularity = detect_communities(adj, objective="modularity", resolution=1.0)
    assert len(np.unique(modularity)) < k   # merged: the limit the default avoids
    with pytest.raises(ValueError, match="objective 'cpm' needs method 'leiden'"):
        detect_communities(adj, method="louvain", objective="cpm")


def test_starting_partition_is_where_leiden_starts():
    adj, truth = planted(n_groups=5, size=20, n_between=15, n_isolated=7)
    n = adj.shape[0]
    # a wrong start (two planted groups fused, everyone else alone) survives one iteration,
    # which is why the flag job starts only from identities (one actor's accounts);
    # a second iteration splits it
    fused = np.where(np.isin(truth, [0, 1]), 0, -1)
    once = detect_communities(adj, objective="cpm", resolution=0.05, n_iterations=1,
                              initial_membership=fused)
    assert np.bincount(once[once >= 0]).max() == 40
    twice = detect_communities(adj, objective="cpm", resolution=0.05, n_iterations=2,
                               initial_membership=fused)
    assert same_partition(twice, truth)
    # a right start is kept
    start = np.where(truth >= 0, truth, -1)
    assert same_partition(detect_communities(adj, objective="cpm", resolution=0.05,
                                             n_iterations=1, initial_membership=start), truth)
    with pytest.raises(ValueError, match="one per node"):
        detect_communities(adj, initial_membership=np.zeros(n - 1, int))
    with pytest.raises(ValueError, match="integers >= -1"):
        detect_communities(adj, initial_membership=np.full(n, -2))
    with pytest.raises(ValueError, match="needs method 'leiden'"):
        detect_communities(adj, method="louvain", initial_membership=start)


def test_find_clusters_starts_from_identities():
    g = ring_graph()
    from ringfence.graph.identity import link_identities
    ident = link_identities(g).identity
    m_given, t_given = find_clusters(g, identity=ident)
    m_own, t_own = find_clusters(g)
    assert np.array_equal(m_given, m_own)
    pd.testing.assert_frame_equal(t_given, t_own)
    # accounts of one identity end up in one cluster here (the identity is a dense clique)
    for i in np.unique(ident[ident >= 0]):
        assert len(set(m_given[ident == i])) == 1
