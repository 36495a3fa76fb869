"""Linked identities: accounts very likely run by the same actor.

Two accounts are linked when the summed, hub-aware weight of the identifiers
they share reaches ``link_threshold`` (see :func:`graph.build.build_graph` for
the weights). Linked accounts form identities: connected components of the
links, computed by scipy's compiled routine. Components above
``max_identity_size`` are split by their weakest links so that a chain of
weak links never merges thousands of accounts into one "person".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ringfence.graph.build import AccountGraph
from ringfence.graph.config import GraphConfig

__all__ = ["IdentityLinking", "link_identities", "split_components"]


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
        ``n_shared``, ``kinds``, ``top_identifier`` (see
        ``AccountGraph.pairs``), and ``cut`` (True for links dropped when an
        oversized identity was split; they join different identities).
    table : pandas.DataFrame
        One row per identity: ``identity_id``, ``size``, ``n_links``,
        ``banned``, ``cleared``, ``violations``, ``min_link_weight``,
        ``was_split``.
    largest : int
        Size of the largest identity (0 if none).
    n_split : int
        How many oversized components were split.
    """

    identity: np.ndarray
    links: pd.DataFrame
    table: pd.DataFrame
    largest: int
    n_split: int


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
    for comp in np.flatnonzero(sizes > max_size):
        in_comp = labels[a] == comp
        idx = np.flatnonzero(in_comp)
        w = weight[idx]
        cut_levels = np.unique(w)

        def largest_piece(cutoff: float) -> int:
            keep = w >= cutoff
            lab = _components(n, a[idx][keep], b[idx][keep])
            members = np.bincount(lab[labels == comp], minlength=1)
            return int(members.max()) if len(members) else 0

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


def link_identities(graph: AccountGraph, config: GraphConfig | None = None) -> IdentityLinking:
    """Group accounts into identities by the identifiers they share.

    Parameters
    ----------
    graph
        From :func:`graph.build.build_graph`.
    config
        ``link_threshold`` and ``max_identity_size``; defaults to the graph's.

    Returns
    -------
    IdentityLinking

    Notes
    -----
    Cost: linear in the number of sharing pairs, plus the bisection of
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
    pairs = graph.pairs
    # a relative tolerance: sums of the same weights in another order must not flip a link
    links = pairs[pairs["weight"] >= config.link_threshold * (1 - 1e-9)].reset_index(drop=True)
    a, b = links["a"].to_numpy(), links["b"].to_numpy()
    labels, kept = split_components(n, a, b, links["weight"].to_numpy(),
                                    config.max_identity_size)
    links["cut"] = ~kept
    raw = _components(n, a, b) if len(a) else np.arange(n)
    n_split = int((np.bincount(raw, minlength=n) > config.max_identity_size).sum())

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
    kept_links = links[~links["cut"]]
    link_id = identity[kept_links["a"].to_numpy()]
    was_split_comp = np.zeros(k, bool)
    if n_split:
        big_raw = np.flatnonzero(np.bincount(raw, minlength=n) > config.max_identity_size)
        in_big = np.isin(raw, big_raw) & member
        was_split_comp[np.unique(identity[in_big])] = True
    min_w = np.full(k, np.inf)
    if len(link_id):
        np.minimum.at(min_w, link_id, kept_links["weight"].to_numpy())
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
        "was_split": was_split_comp,
    })
    return IdentityLinking(identity=identity, links=links, table=table,
                      largest=int(table["size"].max()) if k else 0, n_split=n_split)
