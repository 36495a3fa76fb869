"""graph/identity.py: which accounts are linked into one identity, and how oversized ones are split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import small_tables as tables

from ringfence.graph.build import build_graph
from ringfence.graph.config import GraphConfig
from ringfence.graph.identity import link_identities, split_components


def test_one_strong_identifier_links_weak_ones_do_not():
    t = tables(["a", "b", "c", "d", "e", "f"], [
        ("a", "device", "d1"), ("b", "device", "d1"),      # strong: linked
        ("c", "ip", "i1"), ("d", "ip", "i1"),              # weak alone: not linked
        ("e", "ip", "i2"), ("f", "ip", "i2"), ("e", "email", "x@y"), ("f", "email", "x@y"),
    ])
    ident = link_identities(build_graph(t))
    got = ident.identity
    assert got[0] == got[1] >= 0
    assert got[2] == got[3] == -1
    # ip (0.25) + email (0.6) = 0.85 >= 0.5: two medium/weak traces together link
    assert got[4] == got[5] >= 0
    assert ident.largest == 2 and len(ident.table) == 2


def test_threshold_is_configurable():
    t = tables(["a", "b"], [("a", "email", "x"), ("b", "email", "x")])
    assert link_identities(build_graph(t)).identity.tolist() == [0, 0]
    # a shared email alone: match probability 0.8 (too few pairs for EM: the default factors)
    strict = GraphConfig(linking={"threshold": 0.9})
    assert link_identities(build_graph(t, strict)).identity.tolist() == [-1, -1]


def test_hub_identifiers_link_nobody():
    n = 200
    accounts = [f"u{i}" for i in range(n)]
    rows = [(a, "ip", "10.0.0.1") for a in accounts]            # carrier NAT: 200 accounts
    rows += [(a, "device", "emulator-default") for a in accounts[:40]]  # over the device limit 20
    rows += [("u0", "device", "own"), ("u1", "device", "own")]
    g = build_graph(tables(accounts, rows))
    ident_w = g.identifiers.set_index("value")["weight"]
    assert ident_w["10.0.0.1"] == 0 and ident_w["emulator-default"] == 0
    assert g.summary()["hub_identifiers_suppressed"] == 2
    # the hubs create no sharing pair at all: only u0-u1 share something that links
    assert len(g.pairs) == 1
    ident = link_identities(g)
    assert ident.identity[0] == ident.identity[1] >= 0
    assert (ident.identity[2:] == -1).all()


def test_hub_factor_falls_with_share_count():
    cfg = GraphConfig()
    rows = [(f"a{i}", "device", "small") for i in range(3)]
    rows += [(f"b{i}", "device", "medium") for i in range(16)]
    rows += [(f"c{i}", "device", "large") for i in range(19)]
    accounts = sorted({r[0] for r in rows})
    g = build_graph(tables(accounts, rows), cfg)
    w = g.identifiers.set_index("value")["weight"]
    assert w["small"] == 1.0                       # up to hub_free_size accounts: full weight
    assert w["medium"] == pytest.approx((4 / 16) ** 0.5)
    assert w["large"] == pytest.approx((4 / 19) ** 0.5)
    # identities weigh shared values by the linker's hub bands (tests/graph/test_linking_*.py)


def test_recency_weakens_old_shared_identifiers_but_not_identities():
    rows = [("a", "device", "d1", "2020-01-01"), ("b", "device", "d1", "2020-01-01"),
            ("c", "device", "d2", "2026-01-01"), ("d", "device", "d2", "2026-01-01")]
    t = tables(["a", "b", "c", "d"], rows)
    g = build_graph(t, GraphConfig(identifier_half_life_days=365))
    w = g.pairs.set_index(["a", "b"])["weight"]
    assert w[(2, 3)] == pytest.approx(1.0)
    assert w[(0, 1)] == pytest.approx(0.5 ** ((pd.Timestamp("2026-01-01")
                                               - pd.Timestamp("2020-01-01")).days / 365))
    # identity links do not decay: the evaded account is old by definition
    assert link_identities(g).identity.tolist() == [0, 0, 1, 1]
    g2 = build_graph(t, GraphConfig(identifier_half_life_days=None))
    assert link_identities(g2).identity.tolist() == [0, 0, 1, 1]


def test_split_components_cuts_weakest_links():
    # two cliques of 5 joined by one weak link; max size 6 forces the cut
    a, b, w = [], [], []
    for base in (0, 5):
        for i in range(5):
            for j in range(i + 1, 5):
                a.append(base + i), b.append(base + j), w.append(1.0)
    a.append(4), b.append(5), w.append(0.6)
    labels, kept = split_components(10, np.array(a), np.array(b), np.array(w), 6)
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1
    assert labels[0] != labels[5]
    assert kept.sum() == 20 and not kept[-1]
    labels, kept = split_components(10, np.array(a), np.array(b), np.array(w), 10)
    assert len(set(labels)) == 1 and kept.all()


def test_chained_identity_is_split_and_reported():
    # a chain of 30 accounts, each sharing a distinct phone with the next
    accounts = [f"x{i:02d}" for i in range(30)]
    rows = []
    for i in range(29):
        rows += [(accounts[i], "phone", f"p{i}"), (accounts[i + 1], "phone", f"p{i}")]
    rows += [(accounts[5], "device", "d"), (accounts[6], "device", "d")]  # one stronger link
    g = build_graph(tables(accounts, rows))
    whole = link_identities(g, GraphConfig(max_identity_size=50))
    assert whole.largest == 30 and whole.n_split == 0
    split = link_identities(g, GraphConfig(max_identity_size=10))
    assert split.n_split == 1
    assert split.largest <= 10
    assert split.table["was_split"].all()
    # the strongest link survives the split
    assert split.identity[5] == split.identity[6] >= 0


def test_identity_table_counts_bans_and_clearances():
    t = tables(["a", "b", "c"], [("a", "card", "c1"), ("b", "card", "c1"), ("c", "card", "c1")],
               enforcement=[("a", "ban", "2025-01-01", "fraud"),
                            ("a", "violation", "2024-12-01", "fraud"),
                            ("b", "violation", "2024-12-02", "spam"),
                            ("c", "cleared", "2025-01-02", "")])
    ident = link_identities(build_graph(t))
    row = ident.table.iloc[0]
    assert (row["size"], row["banned"], row["cleared"], row["violations"]) == (3, 1, 1, 2)
