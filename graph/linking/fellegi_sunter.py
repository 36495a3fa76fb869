"""The Fellegi-Sunter model: m and u per comparison level, estimated by EM, and match weights.

For a candidate pair and comparison k at level l, ``m_k(l)`` is the
probability of that level among same-actor pairs and ``u_k(l)`` among the other
candidate pairs (households, offices, rings, coincidences). Assuming the
comparisons independent within each class, a pair's match weight is::

    log2(prior / (1 - prior)) + sum_k log2(m_k(l_k) / u_k(l_k))

and its match probability ``2**w / (1 + 2**w)``. Null levels (one account
has no value of the kind) carry no evidence (``m = u = 1``).

m, u and the prior are estimated without labels by expectation-maximisation
(as Splink does) over the distinct comparison vectors, so each iteration costs
the number of distinct vectors, not pairs. Pairs a reviewer decided are held
at their decision (probability 1 or 0) in every iteration, so the decisions
feed m and u.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FSParameters", "distinct_counts", "estimate_parameters", "match_weights", "probability"]


@dataclass
class FSParameters:
    """Estimated parameters of a Fellegi-Sunter model.

    Attributes
    ----------
    m, u : list of numpy.ndarray
        Per comparison, the probability of each level among matches and
        among non-matches (index 0, the null level, is 1 in both: no evidence).
    prior : float
        Share of candidate pairs that are matches.
    iterations : int
        EM iterations run (0 when nothing was estimated).
    converged : bool
        Whether the largest parameter change fell below the tolerance.
    """

    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float
    iterations: int = 0
    converged: bool = True

    def bayes_factors(self) -> list[np.ndarray]:
        """``log2(m / u)`` per comparison and level (0 at the null level)."""
        return [np.log2(m) - np.log2(u) for m, u in zip(self.m, self.u)]


def _initial_m(n_levels: list[int]) -> list[np.ndarray]:
    """Agreement likelier among matches, more so the stronger the level (a starting point)."""
    out = []
    for k in n_levels:
        w = np.r_[0.0, 2.0 ** np.arange(k - 1)]  # level 1 (different) the least likely
        w = w / w.sum()
        w[0] = 1.0  # null: no evidence
        out.append(w)
    return out


def _level_shares(levels: np.ndarray, weight: np.ndarray, n_levels: list[int],
                  pseudo: float) -> list[np.ndarray]:
    """Weighted share of each non-null level per comparison; null level set to 1."""
    out = []
    for j, k in enumerate(n_levels):
        c = np.bincount(levels[:, j], weights=weight, minlength=k)[:k].astype(float)
        c[1:] += pseudo
        p = c / c[1:].sum()
        p[0] = 1.0
        out.append(p)
    return out


def _log_bf(levels: np.ndarray, m: list[np.ndarray], u: list[np.ndarray]) -> np.ndarray:
    return sum(np.log2(m[j][levels[:, j]]) - np.log2(u[j][levels[:, j]])
               for j in range(levels.shape[1]))


def estimate_parameters(levels: np.ndarray, n_levels: list[int], *,
                        labels: np.ndarray | None = None, prior: float | None = None,
                        max_iter: int = 200, tol: float = 1e-6,
                        pseudo_count: float = 0.5,
                        counts: np.ndarray | None = None) -> FSParameters:
    """m, u and the prior by EM over the distinct comparison vectors.

    Parameters
    ----------
    levels
        ``(pairs, comparisons)`` level numbers (0 = null).
    n_levels
        Number of levels per comparison.
    labels
        Per pair: 1 a reviewer decided same actor, 0 different actors, -1
        undecided (default: all undecided). Decided pairs keep their class.
    prior
        A fixed prior (share of matches among candidates); None estimates it.
    max_iter, tol
        EM stops after ``max_iter`` iterations or when no probability moves
        by more than ``tol``.
    pseudo_count
        Added to every non-null level's count in each class, so that a level
        never seen in one class keeps a finite weight.
    counts
        Per row, how many pairs have that vector and label (default: 1 each).
        Rows may then be the distinct patterns counted elsewhere (the Spark
        linker groups its pairs by pattern and passes the counts): the estimate
        is the one of the pairs themselves.

    Returns
    -------
    FSParameters

    Notes
    -----
    Cost: O(P log P) to find the V distinct vectors of P pairs, then
    O(max_iter * V * comparisons).

    Examples
    --------
    A planted mixture: matches agree (level 2) 90 % of the time, non-matches 10 %.

    >>> rng = np.random.default_rng(0)
    >>> match = rng.random(20_000) < 0.3
    >>> p_agree = np.where(match, 0.9, 0.1)[:, None]
    >>> levels = np.where(rng.random((20_000, 3)) < p_agree, 2, 1)
    >>> fit = estimate_parameters(levels, [3, 3, 3])
    >>> round(fit.prior, 1), round(float(fit.m[0][2]), 1), round(float(fit.u[0][2]), 1)
    (0.3, 0.9, 0.1)
    """
    levels = np.asarray(levels, np.int64)
    if labels is None:
        labels = np.full(len(levels), -1)
    labels = np.asarray(labels)
    # distinct vectors (with their label) and how many pairs have each
    keyed = np.column_stack([levels, labels + 1])
    # one integer per vector (mixed radix): a 1-d unique is far faster than unique rows
    radix = np.r_[n_levels, 3].astype(np.int64)
    code = keyed @ np.r_[1, np.cumprod(radix[:-1])]
    _, first, counts = distinct_counts(code, counts)
    vectors = keyed[first]
    vec, lab = vectors[:, :-1], vectors[:, -1] - 1
    free = lab < 0
    m = _initial_m(n_levels)
    u = _level_shares(vec, counts.astype(float), n_levels, pseudo_count)
    lam = 0.1 if prior is None else float(prior)
    it, converged = 0, True
    if free.any():
        converged = False
        for it in range(1, max_iter + 1):
            w = np.log2(lam / (1 - lam)) + _log_bf(vec, m, u)
            gamma = np.where(free, 1.0 / (1.0 + np.exp2(-np.clip(w, -60, 60))), lab == 1)
            new_m = _level_shares(vec, counts * gamma, n_levels, pseudo_count)
            new_u = _level_shares(vec, counts * (1 - gamma), n_levels, pseudo_count)
            new_lam = lam if prior is not None else float(
                np.clip((counts * gamma).sum() / counts.sum(), 1e-9, 1 - 1e-9))
            change = max(max(np.abs(a - b).max() for a, b in zip(new_m, m)),
                         max(np.abs(a - b).max() for a, b in zip(new_u, u)),
                         abs(new_lam - lam))
            m, u, lam = new_m, new_u, new_lam
            if change < tol:
                converged = True
                break
    elif len(vec):  # every pair decided: the shares within each class
        m = _level_shares(vec, counts * (lab == 1), n_levels, pseudo_count)
        u = _level_shares(vec, counts * (lab == 0), n_levels, pseudo_count)
        if prior is None:
            lam = float(np.clip((counts * (lab == 1)).sum() / counts.sum(), 1e-9, 1 - 1e-9))
    return FSParameters(m=m, u=u, prior=lam, iterations=it, converged=converged)


def distinct_counts(code: np.ndarray, counts: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct ``code`` values, a row of each and how many pairs have it: each row
    counts 1, or ``counts`` of it (integers, so the sums are exact and in the same
    order as counting the pairs one by one).

    >>> distinct_counts(np.array([5, 3, 5]), np.array([2, 1, 4]))[2].tolist()
    [1, 6]
    """
    if counts is None:
        return np.unique(code, return_index=True, return_counts=True)
    values, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=np.asarray(counts, float), minlength=len(values))
    return values, first, summed.astype(np.int64)


def match_weights(levels: np.ndarray, params: FSParameters) -> np.ndarray:
    """Per pair and comparison, ``log2(m / u)`` of its level: ``(pairs, comparisons)``.

    >>> p = FSParameters(m=[np.array([1, .1, .9])], u=[np.array([1, .8, .2])], prior=0.5)
    >>> match_weights(np.array([[0], [1], [2]]), p)[:, 0].round(3).tolist()
    [0.0, -3.0, 2.17]
    """
    bf = params.bayes_factors()
    levels = np.asarray(levels, np.int64)
    if not levels.shape[1]:
        return np.zeros(levels.shape)
    return np.column_stack([bf[j][levels[:, j]] for j in range(levels.shape[1])])


def probability(weight: np.ndarray) -> np.ndarray:
    """Match probability of a match weight (log2 odds): ``2**w / (1 + 2**w)``.

    >>> probability(np.array([0.0, 1.0, -60.0])).round(3).tolist()
    [0.5, 0.667, 0.0]
    """
    return 1.0 / (1.0 + np.exp2(-np.asarray(weight, float)))
