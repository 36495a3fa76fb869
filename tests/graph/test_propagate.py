"""Blacklist propagation: personalised PageRank against networkx and a direct
linear solve, absorbing cleared accounts, seed weights (ban age, violations),
degree normalisation, determinism, validation and non-convergence."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.propagate import PageRankResult, personalized_pagerank, propagate_blacklist

T0 = "2026-01-01T00:00:00Z"


def make_graph(accounts: list[str], edges: list[tuple], enforcement: list[tuple[str, str, str]],
               config: GraphConfig | None = None):
    """Graph of ``accounts`` joined by transfer edges ``(src, dst)`` (weight 1) or
    ``(src, dst, weight)``; enforcement rows are ``(account_id, action, at)``."""
    acc = pd.DataFrame({"account_id": accounts})
    e = pd.DataFrame([(*t, 1.0)[:3] for t in edges], columns=["src", "dst", "weight"])
    e["kind"] = "transfer"
    enf = pd.DataFrame(enforcement, columns=["account_id", "action", "at"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = load_tables(acc, edges=e, enforcement=enf)
    return build_graph(tables, config)


def by_id(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index("account_id")


def random_graph(n: int, m: int, n_isolated: int, rng: np.random.Generator,
                 directed: bool = False) -> nx.Graph:
    g = nx.DiGraph() if directed else nx.Graph()
    g.add_nodes_from(range(n))
    linked = n - n_isolated  # the last n_isolated nodes get no edge
    a, b = rng.integers(0, linked, m), rng.integers(0, linked, m)
    keep = a != b
    g.add_weighted_edges_from(zip(a[keep].tolist(), b[keep].tolist(),
                                  rng.uniform(0.1, 3.0, keep.sum()).tolist()))
    return g


def dense_solution(adj: np.ndarray, p: np.ndarray, alpha: float, blocked: np.ndarray) -> np.ndarray:
    """Fixed point of x = alpha*(x P' + x[dangling].sum() p) + (1-alpha) p by a linear solve."""
    p = np.where(blocked, 0.0, p)
    p = p / p.sum()
    out = adj.sum(axis=1)
    moves = (out > 0) & ~blocked
    P = np.zeros_like(adj)
    P[moves] = adj[moves] / out[moves, None]
    dang = (out == 0) & ~blocked
    M = P + np.outer(dang.astype(float), p)
    return np.linalg.solve((np.eye(len(p)) - alpha * M).T, (1 - alpha) * p)


# ---------------------------------------------------------------- personalized_pagerank

@pytest.mark.parametrize("n, m, n_isolated, alpha, seed", [
    (30, 40, 3, 0.85, 0), (80, 150, 8, 0.6, 1), (200, 300, 20, 0.9, 2), (120, 90, 0, 0.85, 3),
])
def test_agrees_with_networkx(n, m, n_isolated, alpha, seed):
    rng = np.random.default_rng(seed)
    g = random_graph(n, m, n_isolated, rng)
    pers = np.where(rng.random(n) < 0.2, rng.uniform(0.5, 2.0, n), 0.0)
    pers[n - 1] = 1.0  # an isolated (dangling) seed when n_isolated > 0
    nodes = list(g)
    adj = nx.to_scipy_sparse_array(g, nodelist=nodes, weight="weight", format="csr")
    res = personalized_pagerank(adj, pers, alpha=alpha, tol=1e-12)
    expected = nx.pagerank(g, alpha=alpha, personalization=dict(zip(nodes, pers)),
                           weight="weight", dangling=None, tol=1e-14, max_iter=1000)
    expected = np.array([expected[v] for v in nodes])
    assert res.converged and res.error < 1e-12
    assert np.abs(res.scores - expected).max() < 1e-6
    assert res.scores.sum() == pytest.approx(1.0, abs=1e-10)
    # and against the exact fixed point
    exact = dense_solution(adj.toarray(), pers, alpha, np.zeros(n, bool))
    assert np.abs(res.scores - exact).max() < 1e-10


def test_agrees_with_networkx_directed_and_uniform_dangling():
    rng = np.random.default_rng(5)
    g = random_graph(60, 120, 5, rng, directed=True)
    nodes = list(g)
    pers = rng.random(60)
    adj = nx.to_scipy_sparse_array(g, nodelist=nodes, weight="weight", format="csr")
    for dangling, nx_dangling in [("personalization", None),
                                  ("uniform", {v: 1.0 for v in nodes})]:
        res = personalized_pagerank(adj, pers, alpha=0.8, tol=1e-12, dangling=dangling)
        exp = nx.pagerank(g, alpha=0.8, personalization=dict(zip(nodes, pers)),
                          dangling=nx_dangling, tol=1e-14, max_iter=1000)
        assert np.abs(res.scores - np.array([exp[v] for v in nodes])).max() < 1e-6


def test_blocked_nodes_absorb_exact_fixed_point():
    rng = np.random.default_rng(11)
    g = random_graph(100, 180, 6, rng)
    adj = nx.to_scipy_sparse_array(g, nodelist=list(g), format="csr")
    pers = np.where(rng.random(100) < 0.3, 1.0, 0.0)
    pers[99] = 1.0  # isolated seed: dangling, its mass returns to the seeds
    blocked = rng.random(100) < 0.15
    blocked[99] = False
    res = personalized_pagerank(adj, pers, alpha=0.85, tol=1e-13, blocked=blocked)
    exact = dense_solution(adj.toarray(), pers, 0.85, blocked)
    assert res.converged
    assert np.abs(res.scores - exact).max() < 1e-10
    # absorbed walks are gone: total = 1 - alpha/(1-alpha) * mass on blocked nodes
    assert res.scores.sum() < 1
    assert res.scores.sum() == pytest.approx(
        1 - 0.85 / 0.15 * res.scores[blocked].sum(), abs=1e-9)


def test_blocked_path_small_exact():
    # 0 - 1 - 2 - 3, seed 0, node 2 blocked: 3 only reachable through 2
    adj = sp.csr_array(np.diag(np.ones(3), 1) + np.diag(np.ones(3), -1))
    p = np.array([1.0, 0, 0, 0])
    blocked = np.array([False, False, True, False])
    r = personalized_pagerank(adj, p, alpha=0.5, blocked=blocked, tol=1e-14)
    # x0 = .25 x1 + .5, x1 = .5 x0, x2 = .25 x1, x3 = 0
    x0 = 0.5 / (1 - 0.125)
    np.testing.assert_allclose(r.scores, [x0, x0 / 2, x0 / 8, 0.0], atol=1e-13)
    assert r.scores[3] == 0.0
    # a blocked seed gets no personalization mass
    r = personalized_pagerank(adj, np.array([1.0, 0, 1.0, 0]), alpha=0.5, blocked=blocked,
                              tol=1e-14)
    np.testing.assert_allclose(r.scores, [x0, x0 / 2, x0 / 8, 0.0], atol=1e-13)


def test_blocked_dangling_node_in_directed_graph():
    # 0 -> 1, 0 -> 2, 0 -> 3; 1 and 2 have no out-edges, 2 is blocked: 1's mass goes back
    # to p, 2's mass is lost
    adj = sp.csr_array(([1.0, 1.0, 2.0], ([0, 0, 0], [1, 2, 3])), shape=(4, 4))
    p = np.array([1.0, 0.0, 0.0, 0.0])
    blocked = np.array([False, False, True, False])
    r = personalized_pagerank(adj, p, alpha=0.85, blocked=blocked, tol=1e-14)
    np.testing.assert_allclose(r.scores, dense_solution(adj.toarray(), p, 0.85, blocked),
                               atol=1e-13)
    assert r.scores.sum() < 1


def test_non_convergence_returns_last_iterate():
    adj = sp.csr_array(np.ones((4, 4)) - np.eye(4))
    r = personalized_pagerank(adj, np.array([1.0, 0, 0, 0]), max_iter=1)
    assert isinstance(r, PageRankResult)
    assert (r.iterations, r.converged) == (1, False)
    assert r.error == pytest.approx(2 * 0.85)  # all of p's mass moved to the 3 neighbours
    assert r.scores.sum() == pytest.approx(1.0)


def test_deterministic():
    rng = np.random.default_rng(3)
    g = random_graph(150, 400, 10, rng)
    adj = nx.to_scipy_sparse_array(g, format="csr")
    p = rng.random(150)
    blocked = rng.random(150) < 0.1
    a = personalized_pagerank(adj, p, blocked=blocked)
    b = personalized_pagerank(adj.copy(), p.copy(), blocked=blocked.copy())
    assert np.array_equal(a.scores, b.scores) and a.iterations == b.iterations


def test_input_validation():
    adj = sp.csr_array(np.array([[0, 1.0], [1.0, 0]]))
    p = np.array([1.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        personalized_pagerank(adj, np.ones(3))
    with pytest.raises(ValueError, match="square"):
        personalized_pagerank(sp.csr_array(np.ones((2, 3))), p)
    with pytest.raises(ValueError, match="negative"):
        personalized_pagerank(sp.csr_array(np.array([[0, -1.0], [-1.0, 0]])), p)
    with pytest.raises(ValueError, match="non-finite"):
        personalized_pagerank(sp.csr_array(np.array([[0, np.nan], [np.nan, 0]])), p)
    with pytest.raises(ValueError, match="all zero"):
        personalized_pagerank(adj, np.zeros(2))
    with pytest.raises(ValueError, match="outside the blocked"):
        personalized_pagerank(adj, p, blocked=np.array([True, False]))
    with pytest.raises(ValueError, match="non-negative"):
        personalized_pagerank(adj, np.array([1.0, -0.5]))
    with pytest.raises(ValueError, match="alpha"):
        personalized_pagerank(adj, p, alpha=1.0)
    with pytest.raises(ValueError, match="tol"):
        personalized_pagerank(adj, p, tol=0)
    with pytest.raises(ValueError, match="max_iter"):
        personalized_pagerank(adj, p, max_iter=0)
    with pytest.raises(ValueError, match="dangling"):
        personalized_pagerank(adj, p, dangling="drop")
    with pytest.raises(ValueError, match="boolean"):
        personalized_pagerank(adj, p, blocked=np.array([0, 1]))
    with pytest.raises(ValueError, match="blocked has shape"):
        personalized_pagerank(adj, p, blocked=np.array([True]))


# ---------------------------------------------------------------- propagate_blacklist

def test_cleared_account_stops_propagation():
    accounts = ["s", "x", "c", "y", "z", "lone"]
    edges = [("s", "x"), ("x", "c"), ("c", "y")]
    enf = [("s", "ban", T0), ("c", "cleared", T0), ("lone", "ban", T0)]
    df = propagate_blacklist(make_graph(accounts, edges, enf))
    d = by_id(df)
    assert df["account_id"].tolist() == accounts  # node order
    assert d.loc["y", "propagation_raw"] == 0.0 and d.loc["y", "propagation_score"] == 0.0
    assert d.loc["x", "propagation_raw"] > 0
    # the cleared account's own score is reported and marked
    assert d.loc["c", "propagation_raw"] > 0 and d.loc["c", "cleared"]
    assert df["cleared"].tolist() == [False, False, True, False, False, False]
    assert df["seed"].tolist() == [True, False, False, False, False, True]
    # isolated accounts score 0, seeds included; the best candidate scores 1
    assert d.loc["lone", "propagation_raw"] > 0 and d.loc["lone", "propagation_score"] == 0
    assert d.loc["z", "propagation_score"] == 0
    assert d.loc["x", "propagation_score"] == 1.0
    assert df["propagation_score"].between(0, 1).all()
    assert df.attrs["propagation"]["converged"]

    # without the clearance y is reached
    enf_no_clear = [("s", "ban", T0), ("lone", "ban", T0)]
    d2 = by_id(propagate_blacklist(make_graph(accounts, edges, enf_no_clear)))
    assert d2.loc["y", "propagation_raw"] > 1e-3 and d2.loc["y", "propagation_score"] > 0
    assert not d2["cleared"].any()


def test_score_scale_ignores_cleared_accounts():
    # c (cleared) holds more normalised mass than x; the scale is set by x, c is clipped to 1
    g = make_graph(["s", "c", "x"], [("s", "c", 3.0), ("s", "x", 1.0)],
                   [("s", "ban", T0), ("c", "cleared", T0)])
    d = by_id(propagate_blacklist(g))
    assert d.loc["c", "propagation"] > d.loc["x", "propagation"]
    assert d.loc["x", "propagation_score"] == 1.0 and d.loc["c", "propagation_score"] == 1.0
    # the numbers: raw_c = 3 raw_x, degrees c=3, x=1, d0 = median(4, 3, 1) = 3
    assert d.loc["c", "propagation_raw"] == pytest.approx(3 * d.loc["x", "propagation_raw"])
    assert d.loc["x", "propagation"] == pytest.approx(d.loc["x", "propagation_raw"] * 3 / 4)


def test_recent_ban_weighs_more_than_old_ban():
    old = "2024-01-01T00:00:00Z"  # 731 days before T0
    g = make_graph(["s1", "a1", "s2", "a2"], [("s1", "a1"), ("s2", "a2")],
                   [("s1", "ban", T0), ("s2", "ban", old)])
    d = by_id(propagate_blacklist(g))
    assert d.loc["a1", "propagation_score"] == 1.0
    assert d.loc["a2", "propagation_score"] < d.loc["a1", "propagation_score"]
    # symmetric components: the ratio is exactly the ratio of the seed weights
    ratio = d.loc["a2", "propagation_raw"] / d.loc["a1", "propagation_raw"]
    assert ratio == pytest.approx(0.5 ** (731 / 365), rel=1e-6)
    assert d.loc["a2", "propagation_score"] == pytest.approx(0.5 ** (731 / 365), rel=1e-6)


def test_more_violations_weigh_more():
    enf = [("s1", "ban", T0), ("s2", "ban", T0)] + [
        ("s1", "violation", f"2025-0{k}-01T00:00:00Z") for k in (1, 2, 3)]
    g = make_graph(["s1", "a1", "s2", "a2"], [("s1", "a1"), ("s2", "a2")], enf)
    d = by_id(propagate_blacklist(g))
    assert d.loc["a1", "propagation_score"] > d.loc["a2", "propagation_score"]
    ratio = d.loc["a1", "propagation_raw"] / d.loc["a2", "propagation_raw"]
    assert ratio == pytest.approx(1 + np.log1p(3), rel=1e-6)


def hub_graph(config: GraphConfig):
    """B banned; L linked only to B; n0..n9 linked to B and to hub H; H also linked to
    200 clean leaves."""
    near = [f"n{i}" for i in range(10)]
    leaves = [f"m{i}" for i in range(200)]
    edges = [("B", "L")] + [("B", v) for v in near] + [("H", v) for v in near] + \
        [("H", v) for v in leaves]
    return make_graph(["B", "L", "H"] + near + leaves, edges, [("B", "ban", T0)], config)


def test_degree_normalisation_keeps_hubs_down():
    g = hub_graph(GraphConfig(degree_normalise=True))
    df = propagate_blacklist(g)
    d = by_id(df)
    # raw mass: the hub collects more than the direct neighbour
    assert d.loc["H", "propagation_raw"] > 2 * d.loc["L", "propagation_raw"]
    assert d.loc["L", "propagation_score"] > d.loc["H", "propagation_score"]
    # the documented smoothing: raw * d0 / (deg + d0), d0 = median positive degree
    deg = np.asarray(g.adjacency.sum(axis=1)).ravel()
    d0 = np.median(deg[deg > 0])
    np.testing.assert_allclose(df["propagation"], df["propagation_raw"] * d0 / (deg + d0),
                               rtol=1e-12)
    assert (df["propagation"] <= df["propagation_raw"]).all()

    plain = by_id(propagate_blacklist(hub_graph(GraphConfig(degree_normalise=False))))
    assert plain.loc["H", "propagation_score"] == 1.0
    assert plain.loc["H", "propagation_score"] > plain.loc["L", "propagation_score"]
    np.testing.assert_array_equal(plain["propagation"], plain["propagation_raw"])
    np.testing.assert_allclose(plain["propagation_raw"], d["propagation_raw"], rtol=1e-12)


def test_propagate_deterministic():
    g = hub_graph(GraphConfig())
    a, b = propagate_blacklist(g), propagate_blacklist(g)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs == b.attrs


def test_no_banned_accounts_warns_and_scores_zero():
    g = make_graph(["a", "b", "c"], [("a", "b")], [("c", "cleared", T0)])
    with pytest.warns(UserWarning, match="no banned accounts"):
        df = propagate_blacklist(g)
    assert (df[["propagation_raw", "propagation", "propagation_score"]].to_numpy() == 0).all()
    assert not df["seed"].any()
    assert list(df.columns) == ["account_id", "propagation_raw", "propagation",
                                "propagation_score", "seed", "cleared"]


def test_non_convergence_warns():
    g = hub_graph(GraphConfig(max_iter=1))
    with pytest.warns(UserWarning, match=r"did not converge in 1 iterations"):
        df = propagate_blacklist(g)
    meta = df.attrs["propagation"]
    assert meta["iterations"] == 1 and meta["converged"] is False and meta["error"] > 1e-8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = propagate_blacklist(hub_graph(GraphConfig()))
    assert ok.attrs["propagation"]["converged"] and ok.attrs["propagation"]["error"] < 1e-8
    assert 1 < ok.attrs["propagation"]["iterations"] <= 200


def test_propagation_columns_are_the_table_without_ids():
    from ringfence.graph.propagate import propagation_columns
    accounts = ["s", "x", "c", "y"]
    g = make_graph(accounts, [("s", "x"), ("x", "c"), ("c", "y"), ("s", "y")],
                   [("s", "ban", T0), ("c", "cleared", T0)])
    df = propagate_blacklist(g)
    cols, meta = propagation_columns(g)
    assert list(cols) == [c for c in df.columns if c != "account_id"]
    for name, values in cols.items():
        np.testing.assert_array_equal(values, df[name].to_numpy())
    assert meta == df.attrs["propagation"]


def _repeated_edge_scores(repeats: int, cap: float | None = None) -> pd.Series:
    """Propagation from banned ``s`` when its edge to ``x`` is sent ``repeats`` times
    (distinct rows: one a minute); ``s`` also sent one edge each to ``a`` and ``b``."""
    times = list(pd.date_range("2025-12-01", periods=repeats, freq="min", tz="UTC"))
    edges = pd.DataFrame({"src": ["s"] * repeats + ["s", "s", "a"],
                          "dst": ["x"] * repeats + ["a", "b", "c"],
                          "kind": "transfer", "at": times + times[:1] * 3})
    enf = pd.DataFrame({"account_id": ["s"], "action": ["ban"], "at": ["2025-11-01T00:00:00Z"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = load_tables(pd.DataFrame({"account_id": list("sxabc")}), edges=edges,
                             enforcement=enf)
    config = GraphConfig() if cap is None else GraphConfig(edge_repeat_cap=cap)
    graph = build_graph(tables, config, as_of="2026-01-01")
    return pd.Series(propagate_blacklist(graph)["propagation"].to_numpy(), index=graph.account_ids)


def test_repeating_an_edge_does_not_hide_the_other_accounts():
    once, repeated = _repeated_edge_scores(1), _repeated_edge_scores(1000)
    others = ["a", "b", "c"]
    # without a cap a's score fell 280 times (0.20 -> 0.0007): x took all of s's mass
    ratio = once[others] / repeated[others]
    assert (ratio < 2.0).all(), ratio
    assert repeated["x"] >= once["x"]          # repetition still counts, up to the cap
    # a cap of 1: the pair weighs as its strongest edge (the latest, a few hours more recent)
    np.testing.assert_allclose(_repeated_edge_scores(1000, cap=1.0)[others], once[others],
                               rtol=0.01)


# ---------------------------------------------------------------- personalized_pageranks
def _one_run_as_before(a, p, alpha, tol, max_iter, block, dangling):
    """The single-vector power iteration as it was before the batched solver: full-length
    restart and dangling vectors added every iteration, one matrix-vector product each."""
    n = a.shape[0]
    p = np.where(block, 0.0, p)
    p = p / p.sum()
    out = np.asarray(a.sum(axis=1)).ravel()
    inv = np.zeros(n)
    np.divide(1.0, out, out=inv, where=(out > 0) & ~block)
    spread = (out == 0) & ~block
    d = p if dangling == "personalization" else (~block) / (~block).sum() \
        if dangling == "uniform" else None
    d = None if d is None or not spread.any() else alpha * d
    at, restart, step, x = a.T, (1 - alpha) * p, alpha * inv, p.copy()
    for it in range(1, max_iter + 1):
        x_new = at @ (x * step)
        if d is not None:
            x_new += x[np.flatnonzero(spread)].sum() * d
        x_new += restart
        err = float(np.abs(x_new - x).sum())
        x = x_new
        if err < tol:
            return x, it, True, err
    return x, it, False, err


@pytest.mark.parametrize("dangling", ["personalization", "uniform", "absorb"])
def test_batched_runs_are_each_the_run_alone_to_the_last_bit(dangling):
    from ringfence.graph.propagate import personalized_pageranks
    rng = np.random.default_rng(8)
    n = 400
    g = random_graph(n, 900, 10, rng)
    g.add_nodes_from(range(n))  # isolated nodes: dangling mass
    adj = nx.to_scipy_sparse_array(g, nodelist=range(n), format="csr")
    # sparse seeds, dense seeds, a run with its own absorbing nodes: different iteration counts
    ps = [np.where(rng.random(n) < 0.03, rng.random(n), 0.0), rng.random(n),
          np.where(rng.random(n) < 0.1, 1.0, 0.0)]
    blocks = [rng.random(n) < 0.05, None, rng.random(n) < 0.2]
    runs = personalized_pageranks(adj, ps, alpha=0.85, tol=1e-10, max_iter=300, blocked=blocks,
                                  dangling=dangling)
    its = set()
    for p, b, r in zip(ps, blocks, runs):
        block = np.zeros(n, bool) if b is None else b
        x, it, conv, err = _one_run_as_before(sp.csr_array(adj, dtype=float), p, 0.85, 1e-10,
                                              300, block, dangling)
        assert np.array_equal(r.scores, x) and (r.iterations, r.converged, r.error) == \
            (it, conv, err)
        alone = personalized_pagerank(adj, p, alpha=0.85, tol=1e-10, max_iter=300, blocked=b,
                                      dangling=dangling)
        assert np.array_equal(alone.scores, x) and alone.iterations == it
        its.add(it)
    assert len(its) > 1  # the runs stopped at different iterations
    # a run that reaches max_iter reports it, the others are unaffected
    short = personalized_pageranks(adj, ps, alpha=0.85, tol=1e-10, max_iter=5, blocked=blocks,
                                   dangling=dangling)
    assert [r.iterations for r in short] == [5, 5, 5] and not any(r.converged for r in short)
    with pytest.raises(ValueError, match="run 1: personalization is all zero"):
        personalized_pageranks(adj, [ps[0], np.zeros(n)])
    with pytest.raises(ValueError, match="blocked has 1 entries for 2"):
        personalized_pageranks(adj, ps[:2], blocked=[None])
