"""Vectorised numpy building blocks of the generator: groups, pairs, sort orders, duplicates."""

from __future__ import annotations

import numpy as np

__all__ = ["loguniform_int", "split_into_groups", "group_pairs", "sort_order",
           "uniform_between", "dup_mask"]


def loguniform_int(rng: np.random.Generator, lo: int, hi: int, size: int) -> np.ndarray:
    """``size`` integers in ``[lo, hi]``, log-uniformly distributed (hub sizes).

    Examples
    --------
    >>> x = loguniform_int(np.random.default_rng(0), 10, 1000, 5)
    >>> bool(((x >= 10) & (x <= 1000)).all())
    True
    """
    x = np.exp(rng.uniform(np.log(lo), np.log(hi + 1), size))
    return np.clip(np.floor(x).astype(np.int64), lo, hi)


def split_into_groups(rng: np.random.Generator, members: np.ndarray, lo: int,
                      hi: int) -> np.ndarray:
    """Split ``members`` (already shuffled) into consecutive groups of ``lo..hi``.

    Returns the group index of each member; -1 for a remainder shorter than ``lo``.

    Examples
    --------
    >>> g = split_into_groups(np.random.default_rng(0), np.arange(10), 2, 4)
    >>> bool((np.bincount(g[g >= 0]) >= 2).all())
    True
    """
    k = len(members)
    out = np.full(k, -1, np.int64)
    if k < lo:
        return out
    sizes = rng.integers(lo, hi + 1, k // lo + 1)
    ends = np.cumsum(sizes)
    n_groups = int(np.searchsorted(ends, k, side="left")) + 1
    ends = ends[:n_groups]
    group = np.searchsorted(ends, np.arange(k), side="right")
    last_start = ends[-2] if n_groups > 1 else 0
    if k - last_start < lo:  # a remainder shorter than lo stays out of any group
        group[group == n_groups - 1] = -1
    out[:] = group
    return out


def group_pairs(members: np.ndarray,
                 group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs ``(a, b)``, ``a != b``, of members in the same group.

    Returns ``(a, b, group)``.

    Examples
    --------
    >>> a, b, g = group_pairs(np.array([5, 6, 7]), np.array([0, 0, 1]))
    >>> a.tolist(), b.tolist(), g.tolist()
    ([5, 6], [6, 5], [0, 0])
    """
    if len(members) == 0:
        e = np.zeros(0, np.int64)
        return e, e, e
    order = np.argsort(group, kind="stable")
    m, g = members[order], group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    size_of = np.repeat(sizes, sizes)
    start_of = np.repeat(starts, sizes)
    a = np.repeat(np.arange(len(m)), size_of)
    first = np.repeat(np.cumsum(size_of) - size_of, size_of)
    b = np.repeat(start_of, size_of) + (np.arange(len(a)) - first)
    keep = a != b
    return m[a[keep]], m[b[keep]], g[a[keep]]


def sort_order(t: np.ndarray) -> np.ndarray:
    """Row order sorting ``t`` (ints in ``[0, 2**31)``); ties in a scrambled row order.

    Packs a bijective scramble of the row number under the key and uses a plain
    (SIMD) sort, several times faster than ``argsort``; the scramble keeps rows
    of one second from coming out in construction order (which groups roles).

    Examples
    --------
    >>> t = np.array([5, 1, 3])
    >>> t[sort_order(t)].tolist()
    [1, 3, 5]
    """
    R = len(t)
    if R == 0:
        return np.zeros(0, np.int64)
    bits = max(1, int(R - 1).bit_length())
    mask = (1 << bits) - 1
    mul = (0x9E3779B1 & mask) | 1
    inv = pow(mul, -1, 1 << bits)
    scr = (np.arange(R, dtype=np.int64) * mul + 0x2545F491) & mask
    packed = (t.astype(np.int64) << bits) | scr
    packed.sort()
    return (((packed & mask) - 0x2545F491) * inv) & mask


def uniform_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integer seconds uniformly in ``[lo, hi)`` (``hi > lo``).

    Examples
    --------
    >>> x = uniform_between(np.random.default_rng(0), np.array([0, 10]), np.array([5, 11]))
    >>> bool(x[0] < 5), int(x[1])
    (True, 10)
    """
    return lo + np.floor(rng.random(len(lo)) * (hi - lo)).astype(np.int64)


def dup_mask(primary: np.ndarray, order: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """Positions in ``order`` whose row repeats an earlier one on all keys.

    ``primary`` is the sort key already in ``order`` (below ``2**36``);
    ``others`` are further key columns in row order (``others[0]`` below
    ``2**27``). Only rows tied on ``primary`` and ``others[0]`` are compared in full.

    Examples
    --------
    >>> t, acct = np.array([1, 1, 1, 2]), np.array([4, 4, 5, 4])
    >>> dup_mask(t, np.arange(4), acct).tolist()
    [False, True, False, False]
    """
    n = len(primary)
    dup = np.zeros(n, bool)
    if n < 2:
        return dup
    tie = primary[1:] == primary[:-1]
    if not tie.any():
        return dup
    in_tie = np.zeros(n, bool)
    in_tie[1:] |= tie
    in_tie[:-1] |= tie
    sub = np.flatnonzero(in_tie)
    k2 = (primary[sub].astype(np.int64) << 27) | others[0][order[sub]].astype(np.int64)
    s2 = np.sort(k2)
    repeated = s2[1:][s2[1:] == s2[:-1]]
    if len(repeated) == 0:
        return dup
    sub = sub[np.isin(k2, repeated)]
    rows = order[sub]
    o2 = np.lexsort([k[rows] for k in others[::-1]] + [primary[sub]])
    s, r = sub[o2], rows[o2]
    same = primary[s[1:]] == primary[s[:-1]]
    for k in others:
        same &= k[r[1:]] == k[r[:-1]]
    dup[s[1:][same]] = True
    return dup
