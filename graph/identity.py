"""Linked identities: accounts very likely run by the same actor.

:class:`ringfence.graph.linking.IdentityLinker` weighs the evidence of every
candidate pair (a Fellegi-Sunter model: m and u per comparison level, estimated
by EM; docs/how-it-works.md has a worked example). Pairs whose match
probability reaches the linker's threshold, or that a reviewer decided are the
same actor, are ``same_actor`` links; identities are their connected
components, computed by scipy's compiled routine. Components above
``max_identity_size`` are split by their weakest links so that a chain of weak
links never merges thousands of accounts into one "person", and a reviewer's
``different_actors`` decision is never overridden, not even through a chain.
Pairs that share something but are not the same actor (a household, an office,
a ring's proxy) are kept as ``shared_environment`` links: evidence, never part
of an identity. Identity links do not decay with age.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ringfence.graph.build import AccountGraph
from ringfence.graph.config import GraphConfig
from ringfence.graph.linking import SAME_ACTOR, IdentityLinker

__all__ = ["IdentityLinking", "link_identities", "separate_decided", "split_components"]


@dataclass
class IdentityLinking:
    """Result of :func:`link_identities`.

    Attributes
    ----------
    identity : numpy.ndarray
        Identity id per node; -1 for accounts linked to nobody. Ids are
        numbered by descending size (0 is the largest).
    links : pandas.DataFrame
        The links kept: ``a``, ``b`` (nodes, ``a < b``), ``weight``,
        ``n_shared``, ``kinds``, ``top_identifier`` (see ``AccountGraph.pairs``;
        0, 0, 0 and -1 for pairs that share no exact raw value), ``cut`` (True
        for links dropped when an oversized identity was split or a
        ``different_actors`` decision separated them; they join different
        identities), and from :meth:`IdentityLinker.predict`: ``link_kind``,
        ``match_probability``, ``match_weight``, ``bf_<comparison>``,
        ``reason``, ``decided``. Every ``same_actor`` link is kept; a
        ``shared_environment`` link when its summed identifier weight reaches
        ``link_threshold`` or a reviewer decided about it.
    table : pandas.DataFrame
        One row per identity: ``identity_id``, ``size``, ``n_links``,
        ``banned``, ``cleared``, ``violations``, ``min_link_weight``,
        ``min_match_probability`` (of its links), ``was_split`` (it lost links
        to a split or a reviewer's decision).
    largest : int
        Size of the largest identity (0 if none).
    n_split : int
        How many oversized components were split.
    linker : IdentityLinker or None
        The fitted linker (its ``weights_table()`` and ``explain(a, b)``).
    """

    identity: np.ndarray
    links: pd.DataFrame
    table: pd.DataFrame
    largest: int
    n_split: int
    linker: IdentityLinker | None = None


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m = sp.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    return connected_components(m, directed=False)[1]


def split_components(n: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray,
                     max_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the links, splitting those above ``max_size``.

    A component above ``max_size`` loses its weakest links: the smallest
    weight cutoff at which every remaining piece has at most ``max_size``
    nodes is found by bisection over the component's distinct link weights
    (each step one compiled connected-components call). Pieces that are still
    too large at the strongest cutoff (a clique of equal links) are split into
    singletons.

    Returns ``(labels, kept)``: a component label per node and a boolean per
    link, False for links removed by a split.

    Cost: O((n + L) log L) for L links in the worst case; linear when nothing
    needs splitting.
    """
    kept = np.ones(len(a), bool)
    labels = _components(n, a, b)
    sizes = np.bincount(labels, minlength=n)
    big = np.flatnonzero(sizes > max_size)
    if len(big):
        # the oversized components' nodes and links, grouped by component and numbered
        # locally, so that each bisection step costs the component's size, not n
        is_big = np.zeros(n, bool)
        is_big[big] = True
        nodes = np.flatnonzero(is_big[labels])
        nodes = nodes[np.argsort(labels[nodes], kind="stable")]
        n_lo = np.searchsorted(labels[nodes], big)
        n_hi = np.searchsorted(labels[nodes], big, side="right")
        link_comp = labels[a]
        links = np.flatnonzero(is_big[link_comp])
        links = links[np.argsort(link_comp[links], kind="stable")]
        l_lo = np.searchsorted(link_comp[links], big)
        l_hi = np.searchsorted(link_comp[links], big, side="right")
        local = np.zeros(n, np.int64)
        for i in range(len(big)):  # one step per oversized component
            members = nodes[n_lo[i]:n_hi[i]]
            local[members] = np.arange(len(members))
            idx = links[l_lo[i]:l_hi[i]]
            la, lb, w = local[a[idx]], local[b[idx]], weight[idx]
            cut_levels = np.unique(w)

            def largest_piece(cutoff: float) -> int:
                keep = w >= cutoff
                lab = _components(len(members), la[keep], lb[keep])
                return int(np.bincount(lab).max())

            lo, hi = 0, len(cut_levels)  # cut_levels[hi] == "drop everything"
            while lo < hi:
                mid = (lo + hi) // 2
                if largest_piece(cut_levels[mid]) <= max_size:
                    hi = mid
                else:
                    lo = mid + 1
            cutoff = cut_levels[lo] if lo < len(cut_levels) else np.inf
            kept[idx[w < cutoff]] = False
    if not kept.all():
        labels = _components(n, a[kept], b[kept])
    return labels, kept


def separate_decided(n: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray,
                     kept: np.ndarray, apart_a: np.ndarray, apart_b: np.ndarray) -> np.ndarray:
    """Cut the weakest links of every component that joins a pair decided apart.

    ``kept`` (a boolean per link) is updated: in each component holding both
    accounts of a ``different_actors`` pair, links below the smallest weight
    cutoff that separates all such pairs of the component are dropped (found
    by bisection over the component's link weights, as in
    :func:`split_components`).

    Cost: a few compiled connected-components calls per offending component.

    >>> kept = separate_decided(3, np.array([0, 1]), np.array([1, 2]), np.array([5.0, 1.0]),
    ...                         np.ones(2, bool), np.array([0]), np.array([2]))
    >>> kept.tolist()  # 0 and 2 were decided apart: the weaker link goes
    [True, False]
    """
    kept = kept.copy()
    if not len(apart_a) or not kept.any():
        return kept
    labels = _components(n, a[kept], b[kept])
    bad = np.unique(labels[apart_a][labels[apart_a] == labels[apart_b]])
    for comp in bad:  # one step per offending component (reviewer decisions are few)
        idx = np.flatnonzero(kept & (labels[a] == comp))
        w = weight[idx]
        pairs = labels[apart_a] == comp
        fa, fb = apart_a[pairs], apart_b[pairs]
        levels = np.unique(w)

        def joined(cutoff: float) -> bool:
            keep = w >= cutoff
            lab = _components(n, a[idx][keep], b[idx][keep])
            return bool((lab[fa] == lab[fb]).any())

        lo, hi = 0, len(levels)
        while lo < hi:
            mid = (lo + hi) // 2
            if joined(levels[mid]):
                lo = mid + 1
            else:
                hi = mid
        cutoff = levels[lo] if lo < len(levels) else np.inf
        kept[idx[w < cutoff]] = False
    return kept


def link_identities(graph: AccountGraph, config: GraphConfig | None = None,
                    decisions: pd.DataFrame | None = None) -> IdentityLinking:
    """Group accounts into identities: components of ``same_actor`` links.

    Parameters
    ----------
    graph
        From :func:`graph.build.build_graph`.
    config
        ``linking`` (the :class:`IdentityLinker` settings), ``max_identity_size``
        and ``link_threshold`` (which ``shared_environment`` links are kept);
        defaults to the graph's.
    decisions
        Reviewer link decisions (``tables.link_decisions``) or None.

    Returns
    -------
    IdentityLinking

    Notes
    -----
    Cost: O(P log P) for the P (pair, shared value) rows of the candidate
    pairs, EM over their distinct comparison vectors, plus the bisection of
    :func:`split_components` for oversized identities.

    Examples
    --------
    >>> import pandas as pd
    >>> from ringfence.graph import load_tables
    >>> from ringfence.graph.build import build_graph
    >>> t = load_tables(pd.DataFrame({"account_id": ["a", "b", "c"]}),
    ...     identifiers=pd.DataFrame({"account_id": ["a", "b", "b", "c"],
    ...                               "kind": ["device", "device", "ip", "ip"],
    ...                               "value": ["d1", "d1", "i1", "i1"]}))
    >>> link_identities(build_graph(t)).identity.tolist()  # the shared IP alone is too weak
    [0, 0, -1]
    """
    config = config or graph.config
    n = graph.n_accounts
    limits = {k: config.share_limit(k) for k in graph.kind_names}
    linker = IdentityLinker({"max_identity_size": config.max_identity_size, **config.linking,
                             "share_limits": {**limits, **config.linking.get("share_limits", {})}})
    linker.fit(graph, decisions)
    cand = linker.predict(reasons=False)
    max_size = linker.settings_["max_identity_size"]
    # the old columns of the pairs that share an exact raw value
    pairs = graph.pairs
    pkey = pairs["a"].to_numpy() * n + pairs["b"].to_numpy()
    ckey = cand["a"].to_numpy() * n + cand["b"].to_numpy()
    pos = np.minimum(np.searchsorted(pkey, ckey), max(len(pkey) - 1, 0))
    hit = (pkey[pos] == ckey) if len(pkey) else np.zeros(len(ckey), bool)
    for col, empty in (("weight", 0.0), ("n_shared", 0), ("kinds", 0), ("top_identifier", -1)):
        values = pairs[col].to_numpy()[pos] if len(pkey) else np.zeros(len(ckey))
        cand[col] = np.where(hit, values, empty).astype(pairs[col].dtype if len(pkey) else float)
    same = (cand["link_kind"] == SAME_ACTOR).to_numpy()
    strong = cand["weight"].to_numpy() >= config.link_threshold * (1 - 1e-9)
    shown = np.flatnonzero(same | strong | (cand["decided"] != "").to_numpy())
    links = cand.iloc[shown].reset_index(drop=True)
    links["reason"] = linker.reasons(shown)
    same = (links["link_kind"] == SAME_ACTOR).to_numpy()
    a, b = links["a"].to_numpy(), links["b"].to_numpy()
    w = links["match_weight"].to_numpy()
    sa, sb = a[same], b[same]
    labels, kept_same = split_components(n, sa, sb, w[same], max_size)
    n_split = int((np.bincount(_components(n, sa, sb) if len(sa) else np.arange(n),
                               minlength=n) > max_size).sum())
    if decisions is not None and len(decisions):
        apart = decisions[decisions["decision"].astype(str) == "different_actors"]
        kept_same = separate_decided(n, sa, sb, w[same], kept_same,
                                     graph.nodes(apart["account_a"].astype(str).to_numpy()),
                                     graph.nodes(apart["account_b"].astype(str).to_numpy()))
        labels = _components(n, sa[kept_same], sb[kept_same])
    cut = np.zeros(len(links), bool)
    cut[np.flatnonzero(same)[~kept_same]] = True
    links["cut"] = cut
    order = ["a", "b", "weight", "n_shared", "kinds", "top_identifier", "cut", "link_kind",
             "match_probability", "match_weight"]
    links = links[order + [c for c in links.columns if c not in order]]
    kept_links = links[same & ~cut]
    return _identities(graph, labels, links, kept_links, n_split, linker)


def _identities(graph: AccountGraph, labels: np.ndarray, links: pd.DataFrame,
                kept_links: pd.DataFrame, n_split: int,
                linker: IdentityLinker) -> IdentityLinking:
    """Identity ids by descending size and one row per identity."""
    n = graph.n_accounts
    sizes = np.bincount(labels, minlength=n)
    linked = sizes[labels] >= 2
    # number identities by descending size, ties by smallest member, for stable ids
    first_member = np.full(n, n, np.int64)
    np.minimum.at(first_member, labels, np.arange(n))
    comps = np.flatnonzero(sizes >= 2)
    order = np.lexsort((first_member[comps], -sizes[comps]))
    new_id = np.full(n, -1, np.int64)
    new_id[comps[order]] = np.arange(len(comps))
    identity = np.where(linked, new_id[labels], -1)

    status = graph.status
    member = identity >= 0
    ids = identity[member]
    k = len(comps)
    link_id = identity[kept_links["a"].to_numpy()]
    cut_links = links[links["cut"]]
    was_split_comp = np.zeros(k, bool)
    if len(cut_links):  # an identity that lost links to a split or a decision
        for side in ("a", "b"):
            touched = identity[cut_links[side].to_numpy()]
            was_split_comp[touched[touched >= 0]] = True
    min_w = np.full(k, np.inf)
    min_p = np.full(k, np.inf)
    if len(link_id):
        np.minimum.at(min_w, link_id, kept_links["weight"].to_numpy())
        np.minimum.at(min_p, link_id, kept_links["match_probability"].to_numpy())
    table = pd.DataFrame({
        "identity_id": np.arange(k),
        "size": np.bincount(ids, minlength=k),
        "n_links": np.bincount(link_id, minlength=k),
        "banned": np.bincount(ids, weights=status["banned"].to_numpy()[member],
                              minlength=k).astype(np.int64),
        "cleared": np.bincount(ids, weights=status["cleared"].to_numpy()[member],
                               minlength=k).astype(np.int64),
        "violations": np.bincount(ids, weights=status["violations"].to_numpy()[member],
                                  minlength=k).astype(np.int64),
        "min_link_weight": min_w,
        "min_match_probability": min_p,
        "was_split": was_split_comp,
    })
    return IdentityLinking(identity=identity, links=links, table=table,
                           largest=int(table["size"].max()) if k else 0, n_split=n_split,
                           linker=linker)
