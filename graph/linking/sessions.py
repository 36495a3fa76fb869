"""m by EM in training sessions blocked on one personal identifier each, as Splink trains.

One EM over every candidate pair finds the strongest structure among them,
and on a platform with households that is "household or not": the members of
a household share a device, an IP and an address, so EM's match class
collapses onto households. Splink's recipe against this trap is used here:

- ``u`` is the share of each level among all candidate pairs (same-actor
  pairs are a few percent of them; pairs a reviewer decided same actor are
  left out), and is not re-estimated;
- for each blocking comparison (an exact personal identifier: card, email),
  EM runs on the pairs that agree on it exactly and estimates the m of every
  OTHER comparison (the blocked one's m would be biased by the blocking); a
  comparison's m is the mean over the sessions that estimated it;
- a comparison no session estimated (with one session: the blocked one) gets
  its m from one EM over all candidate pairs with every other m held;
- the prior is the number of matches found in a session's block divided by
  how often matches agree on that block's comparison (its estimated m), as a
  share of the candidate pairs (mean over sessions).

Pairs a reviewer decided keep their class in every session.
"""

from __future__ import annotations

import numpy as np

from ringfence.graph.linking.fellegi_sunter import FSParameters, _level_shares, distinct_counts

__all__ = ["estimate_by_sessions"]


def _flat_m(n_levels: list[int]) -> list[np.ndarray]:
    """Start: half of the matches differ, the rest spread over the agreeing levels."""
    out = []
    for k in n_levels:
        m = np.r_[1.0, 0.5, np.full(k - 2, 0.5 / max(k - 2, 1))][:k]
        out.append(m)
    return out


def _em(vec: np.ndarray, counts: np.ndarray, lab: np.ndarray, u: list[np.ndarray],
        m: list[np.ndarray], lam: float, cols: list[int], update: list[int], max_iter: int,
        tol: float, pseudo_count: float) -> tuple[list[np.ndarray], float, int, bool]:
    """EM with u fixed: the m of ``update`` and the prior re-estimated, evidence from ``cols``."""
    m = [x.copy() for x in m]
    free = lab < 0
    for it in range(1, max_iter + 1):
        w = np.log2(lam / (1 - lam)) + sum(np.log2(m[j][vec[:, j]]) - np.log2(u[j][vec[:, j]])
                                           for j in cols)
        gamma = np.where(free, 1.0 / (1.0 + np.exp2(-np.clip(w, -60, 60))), lab == 1)
        new = _level_shares(vec, counts * gamma, [len(x) for x in m], pseudo_count)
        new_lam = float(np.clip((counts * gamma).sum() / counts.sum(), 1e-9, 1 - 1e-9))
        change = max(max(np.abs(new[j] - m[j]).max() for j in update), abs(new_lam - lam))
        for j in update:
            m[j] = new[j]
        lam = new_lam
        if change < tol:
            return m, lam, it, True
    return m, lam, max_iter, False


def estimate_by_sessions(levels: np.ndarray, n_levels: list[int], blocks: dict[int, int], *,
                         labels: np.ndarray | None = None, max_iter: int = 200,
                         tol: float = 1e-6, pseudo_count: float = 0.5,
                         counts: np.ndarray | None = None) -> FSParameters | None:
    """m, u and the prior from EM sessions blocked on ``blocks``.

    Parameters
    ----------
    levels
        ``(pairs, comparisons)`` level numbers (0 = null).
    n_levels
        Number of levels per comparison.
    blocks
        Comparison column -> first level that counts as agreement: one
        session per entry, on the pairs at or above that level.
    labels
        Per pair: 1 same actor, 0 different actors, -1 undecided (default).
    max_iter, tol, pseudo_count, counts
        As :func:`ringfence.graph.linking.fellegi_sunter.estimate_parameters`.

    Returns
    -------
    FSParameters or None
        None when no session has pairs. A comparison blocked in every session
        that ran gets its m from one EM over all pairs, the other m held.

    Notes
    -----
    Cost: O(P log P) to find the V distinct vectors of P pairs, then
    O(sessions * max_iter * V * comparisons).

    Examples
    --------
    5 % of the pairs are matches; they agree on comparisons 0-2 with probability
    0.8, the others 0.02; comparison 3 is noise that half of all pairs share.

    >>> rng = np.random.default_rng(0)
    >>> match = rng.random(50_000) < 0.05
    >>> p = np.where(match, 0.8, 0.02)[:, None]
    >>> lv = np.where(rng.random((50_000, 4)) < np.c_[p, p, p, np.full(50_000, 0.5)], 2, 1)
    >>> fit = estimate_by_sessions(lv, [3, 3, 3, 3], {0: 2, 1: 2})
    >>> round(float(fit.m[2][2]), 1), round(float(fit.m[3][2]), 1), round(fit.prior, 2)
    (0.8, 0.5, 0.05)
    """
    levels = np.asarray(levels, np.int64)
    labels = np.full(len(levels), -1) if labels is None else np.asarray(labels)
    keyed = np.column_stack([levels, labels + 1])
    radix = np.r_[n_levels, 3].astype(np.int64)
    code = keyed @ np.r_[1, np.cumprod(radix[:-1])]
    _, first, counts = distinct_counts(code, counts)
    vec, lab = keyed[first, :-1], keyed[first, -1] - 1
    counts = counts.astype(float)
    u = _level_shares(vec, counts * (lab != 1), n_levels, pseudo_count)
    free = lab < 0
    every = list(range(len(n_levels)))
    estimates: dict[int, list[np.ndarray]] = {j: [] for j in every}
    found, iterations, converged = {}, 0, True
    for jb, agree_from in blocks.items():
        inside = vec[:, jb] >= agree_from
        if not inside.any():
            continue
        cols = [j for j in every if j != jb]
        m, lam, it, done = _em(vec[inside], counts[inside], lab[inside], u, _flat_m(n_levels),
                               0.5, cols, cols, max_iter, tol, pseudo_count)
        iterations, converged = iterations + it, converged and done
        for j in cols:
            estimates[j].append(m[j])
        found[jb] = lam * counts[inside].sum()
    if not found:
        return None
    flat = _flat_m(n_levels)
    m = [np.mean(estimates[j], axis=0) if estimates[j] else flat[j] for j in every]
    missing = [j for j in every if not estimates[j]]
    if missing:  # blocked in every session run: EM over all pairs, the other m held
        m, _, it, done = _em(vec, counts, lab, u, m, 0.1, every, missing, max_iter, tol,
                             pseudo_count)
        iterations, converged = iterations + it, converged and done
    # matches in a block / the share of matches that agree on its comparison = all matches
    total = [found[jb] / max(m[jb][blocks[jb]:].sum(), 1e-9) for jb in found]
    prior = float(np.clip(np.mean(total) / counts.sum(), 1e-9, 1 - 1e-9))
    return FSParameters(m=m, u=u, prior=prior, iterations=iterations, converged=converged)
