"""An account's neighbourhood as a small networkx graph, for an investigator to look at.

:func:`neighbourhood` cuts the accounts within a few hops of one account out of
an :class:`~graph.build.AccountGraph`, with the identifiers they share (masked,
never in clear) and the direct edges between them; :func:`draw_neighbourhood`
draws it with matplotlib. Both are for one account at a time, not for batch
work: use the flag job for that.

Node keys are strings, so the graph goes straight into GraphML, GEXF or a
notebook widget: accounts are keyed by their ``account_id``, identifiers by
``"identifier:<i>"`` where ``i`` (also the node's ``identifier_row``) is the
identifier's row in ``graph.identifiers`` -- a reference an authorised person
can look up, not the value itself. Tell them apart by the ``kind`` attribute
(``"account"`` or the identifier kind).
"""

from __future__ import annotations

from typing import Any, Mapping

import networkx as nx
import numpy as np
import pandas as pd

from ringfence.graph.build import AccountGraph
from ringfence.graph.evidence import Masker

__all__ = ["neighbourhood", "draw_neighbourhood", "IDENTIFIER", "KIND_COLOURS"]

IDENTIFIER = "identifier:"  # prefix of an identifier node's key

# node colours, shared with the case report
ACCOUNT_COLOUR = "#4c78a8"
BANNED_COLOUR = "#d62728"
CLEARED_COLOUR = "#2ca02c"
FLAGGED_COLOUR = "#ff7f0e"
KIND_COLOURS = {
    "device": "#9467bd", "card": "#8c564b", "phone": "#e377c2", "email": "#17becf",
    "ip": "#7f7f7f", "address": "#bcbd22",
}
_OTHER_KIND_COLOUR = "#c7c7c7"


def _widest_paths(graph: AccountGraph, center: int, hops: int
                  ) -> tuple[dict[int, float], dict[int, int], dict[int, int]]:
    """For every account within ``hops`` links of ``center``: its strength (the weakest
    link of its strongest path of at most ``hops`` links), the length of that path, and
    its fewest links from the centre."""
    adj = graph.adjacency
    strength: dict[int, float] = {center: np.inf}
    length: dict[int, int] = {center: 0}
    hop: dict[int, int] = {center: 0}
    frontier = [center]
    for h in range(1, hops + 1):
        improved: set[int] = set()
        for u in frontier:
            lo, hi = adj.indptr[u], adj.indptr[u + 1]
            su = strength[u]
            for v, w in zip(adj.indices[lo:hi].tolist(), adj.data[lo:hi].tolist()):
                if w <= 0 or v == center:
                    continue
                s = min(su, w)
                if s > strength.get(v, 0.0):
                    if v not in strength:
                        hop[v] = h
                    strength[v] = s
                    length[v] = h
                    improved.add(v)
        frontier = sorted(improved)
        if not frontier:
            break
    return strength, length, hop


def _kinds_text(mask: int, names: list[str]) -> str:
    return "+".join(n for i, n in enumerate(names) if int(mask) >> i & 1)


def neighbourhood(graph: AccountGraph, account_id: str, hops: int = 2, max_nodes: int = 200,
                  include_identifiers: bool = True, *, scores: pd.DataFrame | None = None,
                  masker: Masker | None = None,
                  known_masks: Mapping[int, str] | None = None) -> nx.Graph:
    """The accounts within ``hops`` links of ``account_id``, as a networkx graph.

    Accounts are reached through the graph's links (shared identifiers that
    are not hubs, and direct edges). Each reached account gets a *strength*:
    the weakest link on its strongest path from the centre. When there are
    more than ``max_nodes`` nodes, the weakest accounts are dropped first,
    so the strongest links stay and every kept account stays connected to
    the centre.

    Parameters
    ----------
    graph
        From :func:`graph.build.build_graph` (or ``FlagResult.graph``).
    account_id
        The centre account; ``KeyError`` if unknown.
    hops
        How many links away to look (0 gives the account alone).
    max_nodes
        At most this many nodes in the result, accounts and identifiers
        together (at least 1: the centre is always kept).
    include_identifiers
        Add a node for each identifier used by two or more of the kept
        accounts, and an account-identifier edge per use. When False, shared
        identifiers become account-account edges instead (``kind`` "shares").
    scores
        Optional: the flag job's ``scores`` table; adds ``score``, ``rank``
        and ``flagged`` to the account nodes.
    masker
        Masks identifier values (default: a new :class:`~graph.evidence.Masker`,
        i.e. ``RINGFENCE_MASK_KEY`` or a random key). Pass the masker the
        flag run used so that labels match the masks in its reasons.
    known_masks
        Optional masks already shown elsewhere, by identifier row (e.g. the
        masks a past run's reasons used); they take the place of
        ``masker``'s for those identifiers.

    Returns
    -------
    networkx.Graph
        ``G.graph`` holds ``center``, ``hops``, ``trimmed`` (nodes left out)
        and ``as_of``. Account nodes (key: account id): ``kind="account"``,
        ``banned``, ``cleared``, ``violations``, ``hops`` (fewest links from
        the centre), ``strength`` (weakest link of its strongest path),
        ``center``, with ``scores`` also ``score``, ``flagged`` and ``rank``
        (absent when the account is not ranked), and
        ``label`` (the account id). Identifier nodes (key:
        ``"identifier:<row>"``): ``kind`` (the identifier kind), ``label``
        (masked value), ``identifier_row``, ``n_accounts`` (on the
        whole platform), ``weight``, ``hub`` (True when its weight is 0:
        too widely shared to link anyone). Edges: account-identifier
        (``kind="uses"``, ``weight`` = identifier weight x recency of the use,
        ``count``, ``last_seen`` when known) and account-account from direct edges
        (``kind`` such as "transfer" or "message+transfer", ``weight``,
        ``n_edges``, ``amount``).

    Notes
    -----
    Cost: a hop-limited widest-path search over ``graph.adjacency``,
    O(sum of the degrees of the accounts reached in fewer than ``hops``
    hops) -- with the default share limits at most a few thousand accounts
    for two hops -- plus O(uses of the kept accounts) for the identifiers.
    The clear identifier values are read only to be masked.

    Examples
    --------
    >>> import pandas as pd
    >>> from ringfence.graph import load_tables
    >>> from ringfence.graph.build import build_graph
    >>> t = load_tables(pd.DataFrame({"account_id": ["a", "b", "c"]}),
    ...                 identifiers=pd.DataFrame({"account_id": ["a", "b", "c"],
    ...                                           "kind": "device", "value": ["d1", "d1", "d2"]}))
    >>> G = neighbourhood(build_graph(t), "a", masker=Masker(b"k"))
    >>> sorted(G), [G.nodes[v]["kind"] for v in sorted(G)]
    (['a', 'b', 'identifier:0'], ['account', 'account', 'device'])
    """
    if int(hops) != hops or hops < 0:
        raise ValueError(f"hops must be a whole number >= 0, got {hops!r}")
    if int(max_nodes) != max_nodes or max_nodes < 1:
        raise ValueError(f"max_nodes must be a whole number >= 1, got {max_nodes!r}")
    hops, max_nodes = int(hops), int(max_nodes)
    masker = masker or Masker()
    center = int(graph.nodes([account_id])[0])
    strength, length, hop = _widest_paths(graph, center, hops)
    reached = np.fromiter(strength.keys(), np.int64, len(strength))
    st = np.array([strength[int(v)] for v in reached])
    ln = np.array([length[int(v)] for v in reached])
    # strongest first; on a tie the shorter strongest path first, so an account always
    # comes after the one before it on its strongest path (kept accounts stay connected)
    order = reached[np.lexsort((reached, ln, -st))]  # centre first (infinite strength)

    # ---- keep the strongest accounts while they fit with the identifiers they come to
    # share; the first that does not fit ends the list (everything after it is weaker)
    usage = graph.usage.tocsr() if include_identifiers else None
    ident_w = graph.identifiers["weight"].to_numpy(float)
    users: dict[int, int] = {}
    kept: list[int] = []
    n_ident = 0
    for v in order.tolist():
        mine = usage.indices[usage.indptr[v]:usage.indptr[v + 1]].tolist() \
            if usage is not None else []
        new_shared = sum(1 for i in mine if users.get(i, 0) == 1)
        if kept and len(kept) + 1 + n_ident + new_shared > max_nodes:
            break
        kept.append(v)
        for i in mine:
            users[i] = users.get(i, 0) + 1
        n_ident += new_shared
    shared = sorted(i for i, c in users.items() if c >= 2)
    kept_arr = np.array(sorted(kept), np.int64)

    G = nx.Graph(center=str(graph.account_ids[center]), hops=hops,
                 trimmed=int(len(reached) - len(kept)), as_of=graph.as_of.isoformat(),
                 reached_accounts=int(len(reached)))
    status = graph.status
    banned = status["banned"].to_numpy(bool)
    cleared = status["cleared"].to_numpy(bool)
    violations = status["violations"].to_numpy(np.int64)
    score_rows = None
    if scores is not None:
        s = scores.set_index(scores["account_id"].astype(str))
        score_rows = s.reindex([str(graph.account_ids[v]) for v in kept_arr])
    for j, v in enumerate(kept_arr.tolist()):
        attrs: dict[str, Any] = {
            "kind": "account", "label": str(graph.account_ids[v]),
            "banned": bool(banned[v]), "cleared": bool(cleared[v]),
            "violations": int(violations[v]), "hops": int(hop[v]),
            "strength": float(strength[v]) if v != center else float("inf"),
            "center": v == center,
        }
        if score_rows is not None:
            row = score_rows.iloc[j]
            attrs["score"] = float(row["score"]) if pd.notna(row.get("score")) else float("nan")
            attrs["flagged"] = bool(row["flagged"]) if pd.notna(row.get("flagged")) else False
            if "rank" in row.index and pd.notna(row["rank"]):
                attrs["rank"] = int(row["rank"])  # absent when not ranked (banned, cleared)
        G.add_node(str(graph.account_ids[v]), **attrs)

    ids = graph.account_ids
    in_kept = np.zeros(graph.n_accounts, bool)
    in_kept[kept_arr] = True

    # ---- identifiers and their uses
    if include_identifiers and shared:
        idf = graph.identifiers
        sh = np.array(shared, np.int64)
        # only the shown identifiers' strings (there are millions in a large graph)
        kinds = idf["kind"].iloc[sh].astype(str).to_numpy()
        masks = masker.mask_many(kinds, idf["value"].iloc[sh].to_numpy())
        if known_masks:
            masks = np.array([known_masks.get(i, m) for i, m in zip(sh.tolist(), masks)],
                             dtype=object)
        n_acc = idf["n_accounts"].to_numpy()[sh]
        prefix = IDENTIFIER
        while any(f"{prefix}{i}" in G for i in shared):  # an account id that looks like one
            prefix = "_" + prefix
        key = {i: f"{prefix}{i}" for i in shared}
        for i, k, m, n in zip(sh.tolist(), kinds, masks, n_acc):
            G.add_node(key[i], kind=str(k), label=str(m), identifier_row=i, n_accounts=int(n),
                       weight=float(ident_w[i]), hub=bool(ident_w[i] == 0))
        uses = graph.uses
        ua = uses["account"].to_numpy()
        ui = uses["identifier"].to_numpy()
        is_shared = np.zeros(len(idf), bool)
        is_shared[sh] = True
        sel = np.flatnonzero(in_kept[ua] & is_shared[ui])
        rec = uses["recency"].to_numpy(float)
        cnt = uses["count"].to_numpy()
        last = uses["last_seen"]
        for r in sel.tolist():
            ls = last.iat[r]
            G.add_edge(str(ids[ua[r]]), key[int(ui[r])], kind="uses",
                       weight=float(ident_w[ui[r]] * rec[r]), count=int(cnt[r]),
                       **({} if pd.isna(ls) else {"last_seen": ls.isoformat()}))

    # ---- direct edges (and, without identifier nodes, sharing links)
    lbe = graph.links_by_edge
    if len(lbe):
        a, b = lbe["a"].to_numpy(), lbe["b"].to_numpy()
        for r in np.flatnonzero(in_kept[a] & in_kept[b]).tolist():
            row = lbe.iloc[r]
            G.add_edge(str(ids[a[r]]), str(ids[b[r]]),
                       kind=_kinds_text(row["kinds"], graph.edge_kind_names),
                       weight=float(row["weight"]), n_edges=int(row["n_edges"]),
                       amount=float(row["amount"]))
    if not include_identifiers and len(graph.pairs):
        pairs = graph.pairs
        a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
        for r in np.flatnonzero(in_kept[a] & in_kept[b]).tolist():
            row = pairs.iloc[r]
            u, v = str(ids[a[r]]), str(ids[b[r]])
            shares = {"shares_weight": float(row["weight"]), "n_shared": int(row["n_shared"]),
                      "shared_kinds": _kinds_text(row["kinds"], graph.kind_names)}
            if G.has_edge(u, v):
                e = G.edges[u, v]
                e.update(shares)
                e["edge_weight"] = e["weight"]
                e["weight"] = e["weight"] + shares["shares_weight"]
                e["kind"] = "shares+" + e["kind"]
            else:
                G.add_edge(u, v, kind="shares", weight=shares["shares_weight"], **shares)
    return G


def _account_colour(d: dict) -> str:
    if d.get("banned"):
        return BANNED_COLOUR
    if d.get("cleared"):
        return CLEARED_COLOUR
    if d.get("flagged"):
        return FLAGGED_COLOUR
    return ACCOUNT_COLOUR


def draw_neighbourhood(G: nx.Graph, center: str | None = None, ax=None, *, seed: int = 0,
                       labels: bool | None = None, title: str | None = None):
    """Draw a :func:`neighbourhood` graph with matplotlib; returns the Axes.

    Accounts are circles (banned red, cleared green, flagged orange, others
    blue; the centre larger with a black ring), identifiers are squares
    coloured by kind (hubs hollow), direct edges are dark and solid,
    identifier uses light; edge width follows ``weight``. The layout is a
    seeded spring layout, so the same graph is drawn the same way.

    Parameters
    ----------
    G
        From :func:`neighbourhood`.
    center
        The centre account (default ``G.graph["center"]``).
    ax
        A matplotlib Axes (default: a new figure).
    seed
        Seed of the layout.
    labels
        Label the nodes (default: all when there are at most 40 nodes, else
        all but plain accounts and hubs).
    title
        Axes title (default: the centre and the node counts).

    Notes
    -----
    Cost: the spring layout is O(iterations x nodes^2); fine for a few
    hundred nodes.
    """
    from matplotlib.lines import Line2D

    center = center if center is not None else G.graph.get("center")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 7))
    n = G.number_of_nodes()
    if n == 0:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "empty neighbourhood", ha="center", va="center",
                transform=ax.transAxes)
        return ax
    # order nodes so that the layout does not depend on insertion order
    H = nx.Graph()
    H.add_nodes_from(sorted(G.nodes, key=repr))
    H.add_edges_from(sorted((tuple(sorted((u, v), key=repr)) for u, v in G.edges), key=repr))
    ws = np.array([G.edges[e].get("weight", 1.0) for e in G.edges] or [1.0])
    wmax = float(ws.max()) if ws.max() > 0 else 1.0
    for u, v in H.edges:
        H.edges[u, v]["w"] = 0.2 + float(G.edges[u, v].get("weight", 1.0)) / wmax
    # Kamada-Kawai (deterministic) for a readable start, then a few seeded spring steps to
    # pull strongly linked nodes together; plain spring layout for large graphs
    start = nx.kamada_kawai_layout(H) if n <= 250 else None
    pos = nx.spring_layout(H, pos=start, seed=seed, weight="w", k=2.2 / np.sqrt(n),
                           iterations=30 if start is not None else 100)

    accounts = [v for v, d in G.nodes(data=True) if d.get("kind") == "account"]
    idents = [v for v, d in G.nodes(data=True) if d.get("kind") != "account"]
    direct = [(u, v) for u, v, d in G.edges(data=True) if d.get("kind") != "uses"]
    uses = [(u, v) for u, v, d in G.edges(data=True) if d.get("kind") == "uses"]

    def widths(edges):
        return [0.6 + 4.0 * G.edges[e].get("weight", 1.0) / wmax for e in edges]

    nx.draw_networkx_edges(G, pos, edgelist=uses, width=widths(uses), edge_color="#b0b0b0",
                           alpha=0.8, ax=ax)
    nx.draw_networkx_edges(G, pos, edgelist=direct, width=widths(direct), edge_color="#333333",
                           alpha=0.9, ax=ax)
    big = 600 if n <= 40 else 250
    small = 260 if n <= 40 else 110
    if idents:
        colours = [KIND_COLOURS.get(G.nodes[v]["kind"], _OTHER_KIND_COLOUR) for v in idents]
        faces = ["white" if G.nodes[v].get("hub") else c for v, c in zip(idents, colours)]
        nx.draw_networkx_nodes(G, pos, nodelist=idents, node_shape="s", node_size=small,
                               node_color=faces, edgecolors=colours, linewidths=1.5, ax=ax)
    others = [v for v in accounts if v != center]
    if others:
        nx.draw_networkx_nodes(G, pos, nodelist=others, node_shape="o", node_size=big * 0.6,
                               node_color=[_account_colour(G.nodes[v]) for v in others],
                               edgecolors="white", linewidths=1.0, ax=ax)
    if center in G:
        nx.draw_networkx_nodes(G, pos, nodelist=[center], node_shape="o", node_size=big * 1.6,
                               node_color=[_account_colour(G.nodes[center])],
                               edgecolors="black", linewidths=2.5, ax=ax)
    if labels is None:
        labels = n <= 40
    if labels:
        shown = list(G.nodes)
    else:
        shown = [v for v in accounts if v == center or G.nodes[v].get("banned")
                 or G.nodes[v].get("flagged") or G.nodes[v].get("cleared")]
        shown += [v for v in idents if not G.nodes[v].get("hub")]
    text = {v: (f"{G.nodes[v].get('label', '?')} ({G.nodes[v].get('n_accounts', '?')})"
                if G.nodes[v].get("kind") != "account" else str(v)) for v in shown}
    xy = np.array(list(pos.values()))
    dy = 0.035 * max(float(np.ptp(xy[:, 1])) if len(xy) > 1 else 1.0, 1e-9)
    box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}
    for v, t in text.items():
        x, y = pos[v]
        is_center = v == center
        ax.text(x, y - dy * (1.6 if is_center else 1.0), t, ha="center", va="top",
                fontsize=(8.5 if is_center else 7 if n > 40 else 7.5),
                fontweight="bold" if is_center else "normal", bbox=box, zorder=5,
                clip_on=False)

    handles = [
        Line2D([], [], marker="o", ls="", ms=12, mfc=_account_colour(G.nodes[center])
               if center in G else ACCOUNT_COLOUR, mec="black", mew=2, label="this account"),
        Line2D([], [], marker="o", ls="", ms=9, mfc=ACCOUNT_COLOUR, mec="white",
               label="account"),
        Line2D([], [], marker="o", ls="", ms=9, mfc=BANNED_COLOUR, mec="white", label="banned"),
        Line2D([], [], marker="o", ls="", ms=9, mfc=FLAGGED_COLOUR, mec="white",
               label="flagged"),
        Line2D([], [], marker="o", ls="", ms=9, mfc=CLEARED_COLOUR, mec="white",
               label="cleared"),
    ]
    kinds_present = sorted({G.nodes[v]["kind"] for v in idents})
    for k in kinds_present:
        c = KIND_COLOURS.get(k, _OTHER_KIND_COLOUR)
        handles.append(Line2D([], [], marker="s", ls="", ms=8, mfc=c, mec=c, label=k))
    if any(G.nodes[v].get("hub") for v in idents):
        handles.append(Line2D([], [], marker="s", ls="", ms=8, mfc="white", mec="#555555",
                              label="hub (links nobody)"))
    if direct:
        handles.append(Line2D([], [], color="#333333", lw=2, label="direct edges"))
    if uses:
        handles.append(Line2D([], [], color="#b0b0b0", lw=2, label="uses identifier"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
              fontsize=8, borderaxespad=0.2)
    if title is None:
        n_acc = len(accounts)
        title = (f"{center}: {n_acc} account{'s' if n_acc != 1 else ''}, "
                 f"{len(idents)} shared identifier{'s' if len(idents) != 1 else ''} "
                 f"within {G.graph.get('hops', '?')} hops")
        if G.graph.get("trimmed"):
            title += f" ({G.graph['trimmed']} weaker accounts left out)"
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    ax.margins(0.08)
    return ax
