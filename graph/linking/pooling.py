"""How much the pair classifier counts against Fellegi-Sunter, read from what the decisions say
about identities.

The linker pools the two models' log2 odds, ``s * classifier + (1 - s) *
Fellegi-Sunter`` (:func:`ringfence.graph.linking.linker.pooled_weight`). Which
``s`` is best depends on the decisions: with about 60 decided pairs of each
class (20,000 accounts, 5 % of the true pairs decided) the regularised
classifier is timid and the identities' F1 peaked at ``s`` = 0.8-1.0; with 300
of each (100,000 accounts) ``s`` = 0.5 was within 0.02 of the best. A per-pair
criterion (the out-of-fold log-loss of the decided pairs) preferred 1.0 in both
cases: it cannot see that a false link joining two actors' identities costs
every pair between them.

So ``s`` is chosen by the identities it makes. For each ``s`` on a grid, the
links of the undecided candidate pairs form components (as identities do), and
each decided pair is checked against them, without its own link: a
``same_actor`` decision whose accounts are joined is recovered, a
``different_actors`` decision whose accounts are joined is a false merge.
Reviewers decide a random share of the true pairs and a random share of the
other pairs the tool shows, so with ``R`` the share of same-actor decisions
recovered, ``F`` the share of different-actor decisions joined, and ``M`` and
``N`` the estimated matches and non-matches among the candidates, the
identities' precision is about ``R M / (R M + F N)`` and their recall ``R``;
``s`` maximises the F1 of the two, by the one-standard-error rule (Hastie,
Tibshirani and Friedman, section 7.10): of the shares whose expected F1 is within
one standard error of the best (the binomial spread of the decisions, by the
delta method), the one nearest 0.5, equal trust. The table of ``R``, false
merges, F1 and its standard error per share says why.

Cost: one connected-components pass over the pairs on which the two models
disagree per share (pairs both models link are contracted once).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["SHARES", "choose_share"]

#: the classifier shares tried: 0 (Fellegi-Sunter alone) to 1 (the classifier alone)
SHARES = np.round(np.linspace(0.0, 1.0, 11), 2)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m = sp.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    return connected_components(m, directed=False)[1]


def choose_share(n: int, a: np.ndarray, b: np.ndarray, classifier_weight: np.ndarray,
                 fs_weight: np.ndarray, decided: np.ndarray, same: np.ndarray,
                 judged: np.ndarray, match_share: float, threshold: float = 0.5,
                 shares: np.ndarray = SHARES, candidates: int | None = None
                 ) -> tuple[float, pd.DataFrame]:
    """The classifier share whose identities best agree with the reviewers' decisions.

    Parameters
    ----------
    n
        Number of accounts (nodes).
    a, b
        The candidate pairs (nodes).
    classifier_weight, fs_weight
        Per pair, each model's log2 odds at the candidates' share of matches.
    decided
        Per pair, True when a reviewer decided it (its link is left out).
    same
        Per pair, True when decided ``same_actor``.
    judged
        Per pair, True for the decided pairs to check (those the classifier learnt
        from: candidates even without the decision).
    match_share
        Estimated share of matches among the candidates.
    threshold
        Match probability from which a pair is linked.
    shares
        The shares tried.
    candidates
        How many candidate pairs there are (default: ``len(a)``). Pairs that no
        share links and that nobody decided change nothing but this count, so a
        caller may pass only the others (the Spark linker collects those).

    Returns
    -------
    (float, pandas.DataFrame)
        The share, and the table behind it: ``classifier_share``, ``recovered``
        (share of the judged same-actor decisions joined), ``false_merges`` (judged
        different-actor decisions joined), ``expected_f1``, ``standard_error``.

    Examples
    --------
    A chain 0-1-2 that only the classifier links, a chain 3-5-4 that only
    Fellegi-Sunter links; a reviewer said 0 and 2 are one actor, 3 and 4 two.
    From a share of 0.6 on, the first chain holds and the second breaks:

    >>> a, b = np.array([0, 1, 3, 4, 0, 3]), np.array([1, 2, 5, 5, 2, 4])
    >>> clf = np.array([3.0, 3.0, -3.0, -3.0, 0.0, 0.0])
    >>> fs = np.array([-1.0, -1.0, 3.0, 3.0, 0.0, 0.0])
    >>> decided = np.array([False, False, False, False, True, True])
    >>> same = np.array([False, False, False, False, True, False])
    >>> share, table = choose_share(6, a, b, clf, fs, decided, same, decided, 0.5)
    >>> share, table["false_merges"].tolist()[:7], table["recovered"].tolist()[5:7]
    (0.6, [1, 1, 1, 1, 1, 1, 0], [1.0, 1.0])
    """
    shares = np.asarray(shares, float)
    cw, fw = np.asarray(classifier_weight, float), np.asarray(fs_weight, float)
    cut = np.log2(threshold / (1 - threshold))
    free = ~np.asarray(decided, bool)
    # pooled weights are linear in the share: both models link, neither does, or it depends
    both = free & (cw >= cut) & (fw >= cut)
    either = free & ~both & ((cw >= cut) | (fw >= cut))
    judged = np.asarray(judged, bool)
    # the components of the links both models make, once; then only the components that an
    # undecided link or a decision touches, numbered 0..k-1 (a few per decision, not n)
    base = _components(n, a[both], b[both])
    ends = [base[x] for x in (a[either], b[either], a[judged], b[judged])]
    touched = np.unique(np.concatenate(ends))
    ea, eb, ja, jb = (np.searchsorted(touched, x) for x in ends)
    ecw, efw = cw[either], fw[either]
    js = np.asarray(same, bool)[judged]
    n_same, n_apart = max(int(js.sum()), 1), max(int((~js).sum()), 1)
    total = len(a) if candidates is None else int(candidates)
    matches = match_share * total

    def f1(recovered: float, merged: float) -> float:
        tp, fp = recovered * matches, merged * (total - matches)
        precision = tp / (tp + fp) if tp + fp > 0 else 0.0
        return 2 * precision * recovered / (precision + recovered) if precision + recovered \
            else 0.0

    rows = []
    for s in shares:
        on = s * ecw + (1 - s) * efw >= cut
        lab = _components(len(touched), ea[on], eb[on])
        joined = lab[ja] == lab[jb]
        r, merges = joined[js].sum() / n_same, int(joined[~js].sum())
        f = merges / n_apart
        # standard error by the delta method: binomial spread of both shares of decisions
        lo, hi, h = max(r - 1e-6, 0.0), min(r + 1e-6, 1.0), 1e-6
        d_r = (f1(hi, f) - f1(lo, f)) / (hi - lo)
        d_f = (f1(r, f + h) - f1(r, f)) / h
        se = np.sqrt(d_r**2 * r * (1 - r) / n_same + d_f**2 * f * (1 - f) / n_apart)
        rows.append({"classifier_share": float(s), "recovered": float(r),
                     "false_merges": merges, "expected_f1": f1(r, f),
                     "standard_error": float(se)})
    table = pd.DataFrame(rows)
    # the one-standard-error rule: of the shares whose expected F1 is within one standard
    # error of the best, the one nearest an equal pool (the decisions cannot tell them apart)
    score = table["expected_f1"].to_numpy()
    best = int(np.argmax(score))
    near = np.flatnonzero(score >= score[best] - table["standard_error"].iloc[best] - 1e-12)
    pick = near[np.argmin(np.abs(shares[near] - 0.5))]
    return float(shares[pick]), table
