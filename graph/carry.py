"""Ids that last between runs: groups of accounts keep their id when their members stay.

Identity and cluster ids are numbered by size in every run, so "cluster 267"
of yesterday's ticket would be another ring today. :func:`carry_ids` matches
tonight's groups with last night's by their members and hands each matched
group its old id. The rule:

* a new group N and an old group O match when their Jaccard index
  ``|N & O| / |N | O|`` is at least ``min_jaccard`` (0.5), counting every
  member of both (accounts that left the platform or joined it included);
* the best match wins and matching is one-to-one: candidate pairs are taken
  from the highest Jaccard down, ties going to the older (smaller) old id,
  then to the new group's own number, each group used at most once;
* a group without a match gets a new id above the largest id ever used
  (``largest_id``, which the run folder keeps in ``run.json`` ``id_counters``),
  in the order of its own number, so an id that retired is never reused.

With ``min_jaccard`` at 0.5, a new group can match at most two old groups
(and then exactly half of it each), so nearly every match is unambiguous.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["carry_ids", "overlap_counts"]


def overlap_counts(old_label: np.ndarray, new_label: np.ndarray, old_of_new: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                              np.ndarray]:
    """How many accounts each pair of an old and a new group share, from a sparse contingency.

    Parameters
    ----------
    old_label
        Group id of each account of the old run (-1: in no group); any integers.
    new_label
        Group id of each account of the new run (-1: in no group); any integers.
    old_of_new
        Position in ``old_label`` of each account of the new run, -1 for new accounts.

    Returns
    -------
    old_ids, old_sizes, new_ids, new_sizes, pairs, shared
        The distinct old and new group ids with their sizes, and for every pair
        sharing at least one account: ``pairs`` (an ``(m, 2)`` array of positions
        into ``new_ids`` and ``old_ids``) and the number of accounts ``shared``.

    Notes
    -----
    Cost: O(n log n) for n accounts (two ``numpy.unique`` and one sparse sum).

    Examples
    --------
    >>> o, os_, n, ns, pairs, shared = overlap_counts(
    ...     np.array([7, 7, 9, -1]), np.array([0, 0, 0, 1]), np.array([0, 1, 2, -1]))
    >>> o.tolist(), os_.tolist(), n.tolist(), ns.tolist()
    ([7, 9], [2, 1], [0, 1], [3, 1])
    >>> pairs.tolist(), shared.tolist()
    ([[0, 0], [0, 1]], [2, 1])
    """
    old_label = np.asarray(old_label, np.int64)
    new_label = np.asarray(new_label, np.int64)
    old_of_new = np.asarray(old_of_new, np.int64)
    old_ids, old_code, old_sizes = np.unique(old_label[old_label >= 0], return_inverse=True,
                                             return_counts=True)
    new_ids, new_code, new_sizes = np.unique(new_label[new_label >= 0], return_inverse=True,
                                             return_counts=True)
    # group number of each account (-1: none), on both sides
    old_group = np.full(len(old_label), -1, np.int64)
    old_group[old_label >= 0] = old_code.ravel()
    new_group = np.full(len(new_label), -1, np.int64)
    new_group[new_label >= 0] = new_code.ravel()
    prev = np.where(old_of_new >= 0, old_group[np.maximum(old_of_new, 0)], -1) \
        if len(old_group) else np.full(len(new_label), -1, np.int64)
    both = (new_group >= 0) & (prev >= 0)
    table = sp.coo_matrix((np.ones(int(both.sum()), np.int64), (new_group[both], prev[both])),
                          shape=(len(new_ids), len(old_ids))).tocsr()
    table.sum_duplicates()
    table.sort_indices()
    rows = np.repeat(np.arange(len(new_ids)), np.diff(table.indptr))
    pairs = np.column_stack([rows, table.indices]).astype(np.int64)
    return old_ids, old_sizes, new_ids, new_sizes, pairs, table.data.astype(np.int64)


def _greedy_matching(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Indices of the pairs a one-to-one greedy matching keeps; pairs in priority order.

    Each round keeps every pair that comes first for both its new and its old
    group among the pairs left (the sequential greedy would keep exactly
    these), then drops the pairs of groups now taken. Rounds are few: a pair
    can only wait for pairs of higher priority that share a group with it.
    """
    keep = []
    left = np.arange(len(new))
    while len(left):
        n, o = new[left], old[left]
        first_n = np.zeros(len(left), bool)
        first_n[np.unique(n, return_index=True)[1]] = True
        first_o = np.zeros(len(left), bool)
        first_o[np.unique(o, return_index=True)[1]] = True
        won = left[first_n & first_o]
        keep.append(won)
        taken_n, taken_o = np.isin(n, new[won]), np.isin(o, old[won])
        left = left[~(taken_n | taken_o)]
    return np.concatenate(keep) if keep else np.empty(0, np.int64)


def carry_ids(old_label: np.ndarray, new_label: np.ndarray, old_of_new: np.ndarray, *,
              largest_id: int, min_jaccard: float = 0.5) -> tuple[np.ndarray, int]:
    """New group ids that carry over the old ids of matching groups (the module's rule).

    Parameters
    ----------
    old_label, new_label, old_of_new
        As for :func:`overlap_counts`.
    largest_id
        The largest id ever handed out (-1 for none); new ids start above it.
    min_jaccard
        The least Jaccard index of a match.

    Returns
    -------
    labels : numpy.ndarray
        The carried id of each account of the new run (-1 stays -1).
    largest_id : int
        The largest id handed out so far, for the next run.

    Notes
    -----
    Cost: O(n log n) for n accounts; the matching looks only at the pairs of
    groups that share accounts.

    Examples
    --------
    Old groups 7 = {a, b, c} and 9 = {d, e}; tonight {a, b, c, f} (Jaccard 0.75
    with 7), {d} (0.5 with 9) and {g, h} (new):

    >>> old = np.array([7, 7, 7, 9, 9])                # a b c d e
    >>> new = np.array([0, 0, 0, 2, 0, 1, 1])          # a b c d f g h
    >>> where = np.array([0, 1, 2, 3, -1, -1, -1])
    >>> labels, largest = carry_ids(old, new, where, largest_id=11)
    >>> labels.tolist(), largest
    ([7, 7, 7, 9, 7, 12, 12], 12)
    """
    new_label = np.asarray(new_label, np.int64)
    old_ids, old_sizes, new_ids, new_sizes, pairs, shared = overlap_counts(
        old_label, new_label, old_of_new)
    n_idx, o_idx = pairs[:, 0], pairs[:, 1]
    jaccard = shared / (new_sizes[n_idx] + old_sizes[o_idx] - shared)
    ok = jaccard >= min_jaccard
    n_idx, o_idx, jaccard = n_idx[ok], o_idx[ok], jaccard[ok]
    # highest Jaccard first; ties: the older (smaller) old id, then the new group's number
    order = np.lexsort((new_ids[n_idx], old_ids[o_idx], -jaccard))
    n_idx, o_idx = n_idx[order], o_idx[order]
    won = _greedy_matching(n_idx, o_idx)
    carried = np.full(len(new_ids), -1, np.int64)
    carried[n_idx[won]] = old_ids[o_idx[won]]
    fresh = np.flatnonzero(carried < 0)  # new_ids are sorted: their own order
    carried[fresh] = largest_id + 1 + np.arange(len(fresh))
    largest_id = int(max(largest_id, carried.max())) if len(carried) else int(largest_id)
    labels = np.full(len(new_label), -1, np.int64)
    grouped = new_label >= 0
    labels[grouped] = carried[np.searchsorted(new_ids, new_label[grouped])]
    return labels, largest_id
