"""The same pipeline written the plain way with networkx, as the speed reference.

Projection of shared identifiers onto accounts (with ringfence's weights, hub
limits and threshold, so the identities must come out the same), connected
components, Louvain communities, and ``pagerank`` personalised on the banned
accounts. Run on the 100,000-account platform by ``bench.py``.
"""

from __future__ import annotations

import time
from itertools import combinations

import networkx as nx
import numpy as np
import pandas as pd

from ringfence.graph.build import decay
from ringfence.graph.config import GraphConfig
from ringfence.graph.tables import Tables


def reference_pipeline(tables: Tables, config: GraphConfig | None = None,
                       seed: int = 0) -> dict:
    config = config or GraphConfig()
    as_of = tables.newest_timestamp()
    timings: dict[str, float] = {}

    t = time.perf_counter()
    ids = tables.identifiers
    # latest use per (account, identifier), as ringfence does
    last = ids.groupby(["kind", "value", "account_id"], observed=True)["seen_at"].max()
    last = last.reset_index()
    last["recency"] = decay(last["seen_at"], as_of, config.identifier_half_life_days)
    bip = nx.Graph()
    for row in last.itertuples(index=False):
        ident = ("id", row.kind, row.value)
        bip.add_edge(row.account_id, ident, recency=row.recency)
    accounts = tables.accounts["account_id"].tolist()
    bip.add_nodes_from(accounts)
    proj = nx.Graph()
    proj.add_nodes_from(accounts)
    for node in list(bip.nodes):
        if not isinstance(node, tuple):
            continue
        _, kind, _value = node
        members = list(bip[node])
        n = len(members)
        if n < 2 or n > config.share_limit(kind):
            continue
        w = config.kind_weight(kind) * min(1.0, (config.hub_free_size / n) ** config.hub_exponent)
        for a, b in combinations(members, 2):
            c = w * np.sqrt(bip[a][node]["recency"] * bip[b][node]["recency"])
            if proj.has_edge(a, b):
                proj[a][b]["weight"] += c
            else:
                proj.add_edge(a, b, weight=c)
    timings["projection"] = time.perf_counter() - t

    t = time.perf_counter()
    links = nx.Graph()
    links.add_nodes_from(accounts)
    links.add_edges_from((a, b) for a, b, w in proj.edges(data="weight")
                         if w >= config.link_threshold * (1 - 1e-9))
    components = list(nx.connected_components(links))
    timings["components"] = time.perf_counter() - t

    t = time.perf_counter()
    full = proj.copy()
    if tables.edges is not None:
        e = tables.edges
        w = e["weight"].to_numpy(float) * np.array([config.edge_weight(str(k)) for k in e["kind"]])
        if "at" in e.columns:
            w = w * decay(e["at"], as_of, config.edge_half_life_days)
        for a, b, x in zip(e["src"], e["dst"], w):
            if full.has_edge(a, b):
                full[a][b]["weight"] += x
            else:
                full.add_edge(a, b, weight=x)
    timings["build weighted graph"] = time.perf_counter() - t

    t = time.perf_counter()
    communities = nx.community.louvain_communities(full, weight="weight", seed=seed)
    timings["louvain"] = time.perf_counter() - t

    t = time.perf_counter()
    enf = tables.enforcement
    banned = set(enf.loc[enf["action"] == "ban", "account_id"])
    personalization = {a: (1.0 if a in banned else 0.0) for a in accounts}
    pr = nx.pagerank(full, alpha=1 - config.restart, personalization=personalization,
                     weight="weight", tol=1e-8)
    timings["pagerank"] = time.perf_counter() - t

    return {"components": components, "communities": communities,
            "pagerank": pd.Series(pr), "timings": timings,
            "seconds": float(sum(timings.values()))}
