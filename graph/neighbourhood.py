"""An account's neighbourhood as a small networkx graph, for an investigator to look at.

:func:`neighbourhood` cuts the accounts within a few hops of one account out of
an :class:`~graph.build.AccountGraph`, with the identifiers they share (masked,
never in clear) and the direct edges between them, for one account at a time
(not for batch work: use the flag job for that).
:func:`ringfence.graph.drawing.draw_neighbourhood` draws the result.

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
from ringfence.graph.masking import Masker

__all__ = ["neighbourhood", "IDENTIFIER"]

IDENTIFIER = "identifier:"  # prefix of an identifier node's key


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
        # strengths as the previous round left them: one raised earlier in this round came
        # by an h-link path, and passing it on would count a path of h + 1 links as h
        before = {u: strength[u] for u in frontier}
        for u in frontier:
            lo, hi = adj.indptr[u], adj.indptr[u + 1]
            su = before[u]
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
    >>> from ringfence.graph.build import build_graph
    >>> from ringfence.graph.tables import example_tables
    >>> G = neighbourhood(build_graph(example_tables()), "a", masker=Masker(b"k"))
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
