"""The investigator's neighbourhood view: which nodes, masked labels, trimming.

The hand-built graph (fixture ``graph``) is in conftest.py; drawing is in test_drawing.py.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.masking import Masker
from ringfence.graph.neighbourhood import IDENTIFIER, neighbourhood

MASKER = Masker(b"test-key")


def accounts_of(G: nx.Graph) -> set[str]:
    return {v for v, d in G.nodes(data=True) if d["kind"] == "account"}


def identifier_labels(G: nx.Graph) -> dict[str, str]:
    return {d["label"]: d["kind"] for v, d in G.nodes(data=True) if d["kind"] != "account"}


def test_one_hop(graph, hub_users):
    G = neighbourhood(graph, "c", hops=1, masker=MASKER)
    assert accounts_of(G) == {"c", "a1", "a2", "e1", "w1"}
    labels = identifier_labels(G)
    assert labels == {MASKER.mask("device", "SECRET-DEV-1"): "device",
                      MASKER.mask("address", "1 Secret Street"): "address",
                      MASKER.mask("ip", "10.0.0.1"): "ip"}   # c's own email: shared by nobody
    hub = next(d for _, d in G.nodes(data=True) if d.get("kind") == "ip")
    assert hub["hub"] is True and hub["n_accounts"] == 62 and hub["weight"] == 0
    dev = next(d for _, d in G.nodes(data=True) if d.get("kind") == "device")
    assert dev["hub"] is False and dev["n_accounts"] == 3
    # the transfer is an account-account edge with its kind and weight
    e = G.edges["c", "e1"]
    assert e["kind"] == "transfer" and e["weight"] > 0 and e["n_edges"] == 1
    # account-identifier edges for every use of a shown identifier by a shown account
    dev_node = next(v for v, d in G.nodes(data=True) if d.get("kind") == "device")
    assert set(G.neighbors(dev_node)) == {"c", "a1", "a2"}
    assert all(G.edges[u, dev_node]["kind"] == "uses" for u in ("c", "a1", "a2"))
    # hub accounts are not reached through the hub
    assert not accounts_of(G) & set(hub_users)
    assert G.graph["center"] == "c" and G.graph["hops"] == 1


def test_two_hops_and_status(graph):
    G = neighbourhood(graph, "c", hops=2, masker=MASKER)
    assert accounts_of(G) == {"c", "a1", "a2", "e1", "w1", "b1"}
    assert G.nodes["b1"]["hops"] == 2 and G.nodes["a1"]["hops"] == 1
    assert G.nodes["b1"]["banned"] and not G.nodes["b1"]["cleared"]
    assert G.nodes["a2"]["cleared"] and not G.nodes["a2"]["banned"]
    assert G.nodes["a1"]["violations"] == 1
    assert G.nodes["c"]["center"] and not G.nodes["a1"]["center"]
    assert MASKER.mask("phone", "+15550000001") in identifier_labels(G)
    # three hops reach x (via the card) and lone (b1's message edge)
    G3 = neighbourhood(graph, "c", hops=3, masker=MASKER)
    assert {"x", "lone"} <= accounts_of(G3)
    assert G3.edges["b1", "lone"]["kind"] == "message"
    assert accounts_of(neighbourhood(graph, "c", hops=0, masker=MASKER)) == {"c"}


def test_scores_are_attached(graph):
    scores = pd.DataFrame({"account_id": ["c", "a1", "b1"], "score": [0.9, 0.4, 1.0],
                           "rank": pd.array([1, 2, pd.NA], dtype="Int64"),
                           "flagged": [True, False, False]})
    G = neighbourhood(graph, "c", scores=scores, masker=MASKER)
    assert G.nodes["c"]["score"] == 0.9 and G.nodes["c"]["flagged"] is True
    assert G.nodes["c"]["rank"] == 1 and "rank" not in G.nodes["b1"]
    assert G.nodes["a1"]["flagged"] is False
    assert np.isnan(G.nodes["w1"]["score"]) and G.nodes["w1"]["flagged"] is False


def test_only_masked_values_anywhere(graph):
    G = neighbourhood(graph, "c", hops=3, masker=MASKER)
    secrets = ["SECRET-DEV-1", "+15550000001", "4111111111111111", "1 Secret Street",
               "10.0.0.1", "only-c@example.com"]
    text = repr(list(G.nodes(data=True))) + repr(list(G.edges(data=True))) + repr(G.graph)
    for s in secrets:
        assert s not in text
    for v, d in G.nodes(data=True):
        if d["kind"] != "account":
            assert v == f"{IDENTIFIER}{d['identifier_row']}"
            value = graph.identifiers["value"].iat[d["identifier_row"]]
            assert d["label"] == MASKER.mask(d["kind"], value)
        else:
            assert d["label"] == v


def test_known_masks_take_precedence(graph):
    dev = int(np.flatnonzero(graph.identifiers["value"].to_numpy() == "SECRET-DEV-1")[0])
    G = neighbourhood(graph, "c", hops=1, masker=MASKER, known_masks={dev: "d:run1"})
    labels = identifier_labels(G)
    assert "d:run1" in labels and MASKER.mask("device", "SECRET-DEV-1") not in labels
    assert MASKER.mask("address", "1 Secret Street") in labels


def test_trimming_keeps_the_strongest(graph):
    # the device link (weight 1) beats the address (0.3) and the transfer: with room for
    # three nodes we get c, a shared-device account and the device itself
    full = neighbourhood(graph, "c", hops=1, masker=MASKER)
    strength = {v: d["strength"] for v, d in full.nodes(data=True)
                if d["kind"] == "account" and v != "c"}
    weakest = min(strength, key=strength.get)
    assert weakest == "w1"                                 # the address link
    G = neighbourhood(graph, "c", hops=1, max_nodes=4, masker=MASKER)
    assert G.number_of_nodes() <= 4
    kept = accounts_of(G)
    assert "c" in kept and "w1" not in kept
    assert kept - {"c"} <= {"a1", "a2", "e1"}
    kept_strength = [strength[v] for v in kept - {"c"}]
    dropped = [strength[v] for v in set(strength) - kept]
    assert min(kept_strength) >= max(dropped)
    assert G.graph["trimmed"] == len(strength) + 1 - len(kept)
    # every kept account but the centre is still connected to it
    assert nx.is_connected(G)
    # without identifiers, sharing becomes account-account edges
    G2 = neighbourhood(graph, "c", hops=1, include_identifiers=False, masker=MASKER)
    assert accounts_of(G2) == set(G2.nodes)
    assert G2.edges["c", "a1"]["kind"] == "shares"
    assert G2.edges["c", "e1"]["kind"] == "transfer"
    assert neighbourhood(graph, "c", max_nodes=1, masker=MASKER).number_of_nodes() == 1


def test_exports_to_graphml(graph, tmp_path):
    scores = pd.DataFrame({"account_id": ["c", "b1"], "score": [0.9, 1.0],
                           "rank": pd.array([1, pd.NA], dtype="Int64"),
                           "flagged": [True, False]})
    G = neighbourhood(graph, "c", hops=3, scores=scores, masker=MASKER)
    nx.write_graphml(G, tmp_path / "n.graphml")
    back = nx.read_graphml(tmp_path / "n.graphml")
    assert set(back.nodes) == set(G.nodes)
    assert "SECRET" not in (tmp_path / "n.graphml").read_text()


def test_bad_arguments(graph):
    with pytest.raises(KeyError, match="nobody"):
        neighbourhood(graph, "nobody")
    with pytest.raises(ValueError, match="hops"):
        neighbourhood(graph, "c", hops=-1)
    with pytest.raises(ValueError, match="max_nodes"):
        neighbourhood(graph, "c", max_nodes=0)


def test_trimmed_neighbourhoods_stay_connected_on_a_platform():
    from ringfence.graph.synth import generate_platform

    p = generate_platform(n_accounts=2000, seed=5)
    g = build_graph(load_tables(p.accounts, identifiers=p.identifiers, edges=p.edges,
                                enforcement=p.enforcement))
    degree = np.diff(g.adjacency.indptr)
    busy = g.account_ids[np.argsort(-degree, kind="stable")[:5]]
    for account in busy:
        full = neighbourhood(g, account, hops=2, masker=MASKER, max_nodes=10_000)
        for max_nodes in (5, 17, 40):
            G = neighbourhood(g, account, hops=2, max_nodes=max_nodes, masker=MASKER)
            assert G.number_of_nodes() <= max_nodes
            assert nx.is_connected(G), (account, max_nodes)
            kept = accounts_of(G) - {account}
            dropped = accounts_of(full) - accounts_of(G)
            if kept and dropped:
                weakest_kept = min(full.nodes[v]["strength"] for v in kept)
                assert weakest_kept >= max(full.nodes[v]["strength"] for v in dropped)


def test_strength_counts_only_paths_within_the_hops():
    # c-u1 and u1-u2 share strong devices, c-u2 only an IP; x hangs off u2. Within two links
    # x is reached only as c-u2-x, whose weakest link is the IP: the three-link path
    # c-u1-u2-x is stronger but too long (an update within one round once let it count)
    accounts = pd.DataFrame({"account_id": ["c", "u1", "u2", "x"]})
    ids = pd.DataFrame({"account_id": ["c", "u1", "u1", "u2", "c", "u2", "u2", "x"],
                        "kind": ["device", "device", "device", "device", "ip", "ip", "device",
                                 "device"],
                        "value": ["d1", "d1", "d2", "d2", "i1", "i1", "d3", "d3"]})
    g = build_graph(load_tables(accounts, identifiers=ids))
    pairs = g.pairs.set_index(["a", "b"])["weight"]
    ip_link = pairs[(0, 2)]
    assert ip_link < min(pairs[(0, 1)], pairs[(1, 2)], pairs[(2, 3)])
    G = neighbourhood(g, "c", hops=2, masker=MASKER)
    assert G.nodes["x"]["strength"] == pytest.approx(ip_link)
    assert G.nodes["u2"]["strength"] == pytest.approx(min(pairs[(0, 1)], pairs[(1, 2)]))
