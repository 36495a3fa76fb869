"""How much the pair classifier counts against Fellegi-Sunter: chosen by cross-validation.

The linker pools the two models' log2 odds, ``s * classifier + (1 - s) *
Fellegi-Sunter`` (:func:`ringfence.graph.linking.linker.pooled_weight`). How
far a classifier fitted on a few dozen decisions can be trusted depends on
those decisions: with 60 decided pairs of each class at 20,000 accounts a
fixed ``s = 0.5`` left the classifier's better ranking half unused on some
platforms and was about right on others. So ``s`` is read from the decisions:
each decided pair is scored by a classifier fitted without its fold, Fellegi-
Sunter's weight is moved from its prior to the decisions' share of matches
(both models then speak of the decided pairs), and ``s`` is the share, on a
grid from 0 (Fellegi-Sunter alone) to 1 (the classifier alone), whose pooled
odds have the smallest out-of-fold log-loss. The table of log-loss per share
says why.

Folds are drawn from a hash of the two account ids, stratified by class: the
same decisions give the same folds whatever the order of the input rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SHARES", "choose_share", "log2_odds", "log_loss", "pair_folds"]

#: the classifier shares tried: 0 (Fellegi-Sunter alone) to 1 (the classifier alone)
SHARES = np.round(np.linspace(0.0, 1.0, 21), 2)


def log2_odds(p: np.ndarray) -> np.ndarray:
    """``log2(p / (1 - p))``, clipped away from 0 and 1.

    >>> log2_odds(np.array([0.5, 0.8])).round(3).tolist()
    [0.0, 2.0]
    """
    p = np.clip(np.asarray(p, float), 1e-12, 1 - 1e-12)
    return np.log2(p) - np.log2(1 - p)


def log_loss(y: np.ndarray, weight: np.ndarray) -> float:
    """Mean log-loss (nats) of match weights ``weight`` (log2 odds) for outcomes ``y``.

    >>> round(log_loss(np.array([True, False]), np.array([0.0, 0.0])), 4)
    0.6931
    """
    z = np.asarray(weight, float) * np.log(2.0)
    y = np.asarray(y, bool)
    return float(np.mean(np.where(y, np.logaddexp(0.0, -z), np.logaddexp(0.0, z))))


def pair_folds(ids_a: np.ndarray, ids_b: np.ndarray, y: np.ndarray, k: int = 5) -> np.ndarray:
    """Fold number per decided pair, ``k`` folds stratified by class ``y``: within each
    class, pairs ranked by a hash of their two account ids take folds 0, 1, ..., k-1 in
    turn (independent of the order of the pairs and of which id comes first).

    Cost: O(D log D) for D pairs.

    >>> f = pair_folds(np.array(["a", "b", "c", "d"]), np.array(["x", "y", "z", "w"]),
    ...                np.array([True, True, False, False]), k=2)
    >>> sorted(f[:2].tolist()), sorted(f[2:].tolist())
    ([0, 1], [0, 1])
    >>> bool((pair_folds(np.array(["x"]), np.array(["a"]), np.array([True]), 2)
    ...       == pair_folds(np.array(["a"]), np.array(["x"]), np.array([True]), 2)).all())
    True
    """
    a = pd.Series(np.asarray(ids_a, dtype=object)).astype(str)
    b = pd.Series(np.asarray(ids_b, dtype=object)).astype(str)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    h = pd.util.hash_array((lo + "\x1f" + hi).to_numpy(dtype=object))
    y = np.asarray(y, bool)
    out = np.empty(len(y), np.int64)
    for cls in (False, True):
        idx = np.flatnonzero(y == cls)
        # ties (the same pair twice) broken by the ids themselves: still order-free
        order = np.lexsort(((lo + "\x1f" + hi).to_numpy(dtype=object)[idx], h[idx]))
        out[idx[order]] = np.arange(len(idx)) % k
    return out


def choose_share(y: np.ndarray, classifier_weight: np.ndarray, fs_weight: np.ndarray,
                 shares: np.ndarray = SHARES) -> tuple[float, pd.DataFrame]:
    """The classifier share whose pooled weight has the smallest log-loss on the decided pairs.

    Parameters
    ----------
    y
        Per decided pair, True for same actor.
    classifier_weight
        The classifier's out-of-fold log2 odds (at the decisions' share of matches).
    fs_weight
        Fellegi-Sunter's log2 odds of the same pairs, at the decisions' share.
    shares
        The shares tried (ties: the smallest, the nearer to Fellegi-Sunter).

    Returns
    -------
    (float, pandas.DataFrame)
        The share, and the table ``classifier_share``, ``log_loss`` behind it.

    Examples
    --------
    The classifier separates the classes, Fellegi-Sunter says nothing:

    >>> y = np.array([True, True, False, False])
    >>> share, table = choose_share(y, np.array([3.0, 2.0, -2.0, -3.0]), np.zeros(4))
    >>> share, len(table)
    (1.0, 21)
    """
    y = np.asarray(y, bool)
    cw, fw = np.asarray(classifier_weight, float), np.asarray(fs_weight, float)
    losses = np.array([log_loss(y, s * cw + (1 - s) * fw) for s in shares])
    best = int(np.argmin(losses))
    table = pd.DataFrame({"classifier_share": np.asarray(shares, float), "log_loss": losses})
    return float(shares[best]), table
