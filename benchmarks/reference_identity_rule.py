"""The identity rule ringfence had before issue 13, kept as the benchmark's reference.

Two accounts were linked when the summed, hub-aware hand weights of the
identifiers they share (``AccountGraph.pairs["weight"]``, see
:func:`ringfence.graph.build.build_graph`) reached ``link_threshold`` (0.5);
identities were the connected components of the links, and components above
``max_identity_size`` (50) lost their weakest links until every piece fitted.
This is a copy of that ``link_identities`` (identity labels only), so the
benchmark measures the old rule whatever ``graph.identity`` becomes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["reference_identities", "LINK_THRESHOLD", "MAX_IDENTITY_SIZE"]

LINK_THRESHOLD = 0.5
MAX_IDENTITY_SIZE = 50


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m = sp.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    return connected_components(m, directed=False)[1]


def _split_components(n: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray,
                      max_size: int) -> np.ndarray:
    """Components of the links; those above ``max_size`` lose their weakest links
    (the smallest cutoff that fits, found by bisection over the distinct weights)."""
    kept = np.ones(len(a), bool)
    labels = _components(n, a, b)
    sizes = np.bincount(labels, minlength=n)
    for comp in np.flatnonzero(sizes > max_size):
        idx = np.flatnonzero(labels[a] == comp)
        w = weight[idx]
        cut_levels = np.unique(w)

        def largest_piece(cutoff: float) -> int:
            keep = w >= cutoff
            lab = _components(n, a[idx][keep], b[idx][keep])
            members = np.bincount(lab[labels == comp], minlength=1)
            return int(members.max()) if len(members) else 0

        lo, hi = 0, len(cut_levels)
        while lo < hi:
            mid = (lo + hi) // 2
            if largest_piece(cut_levels[mid]) <= max_size:
                hi = mid
            else:
                lo = mid + 1
        cutoff = cut_levels[lo] if lo < len(cut_levels) else np.inf
        kept[idx[w < cutoff]] = False
    return _components(n, a[kept], b[kept]) if not kept.all() else labels


def reference_identities(n: int, pairs_a: np.ndarray, pairs_b: np.ndarray,
                         weight: np.ndarray, link_threshold: float = LINK_THRESHOLD,
                         max_identity_size: int = MAX_IDENTITY_SIZE) -> np.ndarray:
    """Identity label per account under the old rule; -1 for accounts linked to nobody.

    ``pairs_a``, ``pairs_b``, ``weight``: the graph's sharing pairs and their
    summed hand weights (``AccountGraph.pairs``).
    """
    keep = weight >= link_threshold * (1 - 1e-9)
    a, b = pairs_a[keep], pairs_b[keep]
    labels = _split_components(n, a, b, weight[keep], max_identity_size)
    sizes = np.bincount(labels, minlength=n)
    return np.where(sizes[labels] >= 2, labels, -1)
