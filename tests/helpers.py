"""Small builders shared by tests in several folders (``pythonpath = ["tests"]``)."""

from __future__ import annotations

import pandas as pd

from ringfence.graph import load_tables
from ringfence.graph.build import build_graph
from ringfence.graph.clusters import find_clusters
from ringfence.graph.identity import link_identities


def small_tables(accounts, identifiers=None, edges=None, enforcement=None):
    """Tables from lists of tuples: identifiers ``(account, kind, value[, seen_at])``,
    edges ``(src, dst, kind)``, enforcement ``(account, action[, at[, reason]])``."""
    acc = pd.DataFrame({"account_id": accounts})
    ids = None if identifiers is None else pd.DataFrame(
        identifiers, columns=["account_id", "kind", "value", "seen_at"][:len(identifiers[0])])
    e = None if edges is None else pd.DataFrame(edges, columns=["src", "dst", "kind"])
    enf = None if enforcement is None else pd.DataFrame(
        enforcement, columns=["account_id", "action", "at", "reason"][:len(enforcement[0])])
    return load_tables(acc, ids, e, enf)


def graph_parts(platform, enforcement=None):
    """``(tables, graph, identities, membership)`` of a synthetic platform, optionally with
    another enforcement table."""
    p = platform
    t = load_tables(p.accounts, p.identifiers, p.edges,
                    p.enforcement if enforcement is None else enforcement)
    g = build_graph(t)
    ident = link_identities(g)
    membership, _ = find_clusters(g)
    return t, g, ident, membership


def households_and_evaders(n_households: int, n_evaders: int) -> list[tuple[str, str, str]]:
    """Identifier rows (account, kind, value) of households and ban evaders.

    A household is three people on one tablet, router and address, with a card each; an
    evader's two accounts keep the card and nothing else: a linker that sums shared values
    merges the households and misses the evaders.
    """
    rows = []
    for h in range(n_households):
        for k in range(3):
            acc = f"h{h}_{k}"
            rows += [(acc, "device", f"hdev{h}"), (acc, "ip", f"10.{h // 250}.{h % 250}.1"),
                     (acc, "address", f"haddr{h}"), (acc, "card", f"hcard{h}_{k}")]
    for e in range(n_evaders):
        for k in range(2):
            acc = f"e{e}_{k}"
            rows += [(acc, "card", f"ecard{e}"), (acc, "device", f"edev{e}_{k}")]
    return rows
