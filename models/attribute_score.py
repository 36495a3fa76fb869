"""A linear score of an account's own attributes, learnt from the labels a label pass may see.

Boosted trees split on one attribute at a time; when the attributes are many and each says
little (the 64 text attributes of the reddit-banned graph, with 146 banned accounts to learn
from), a logistic regression on all of them at once summarises them better. Its score, and
the link-weighted mean and the max of the neighbours' scores (homophily through attributes),
are label features: in each label pass the regression is fitted on the labels that pass sees,
so a training account's own label never reaches its own row (see
:func:`ringfence.models.features.out_of_fold_label_features`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

__all__ = ["standardised_attributes", "attribute_score_columns", "ATTRIBUTE_SCORE_C"]

# inverse L2 strength of the regression: strong shrinkage, the labels are few and the
# attributes correlated
ATTRIBUTE_SCORE_C = 0.1
CLIP = 5.0  # standard deviations: one extreme value must not dominate a linear score


def standardised_attributes(features: pd.DataFrame) -> np.ndarray | None:
    """The numeric own attributes (``attr_*`` and ``account_age_days``) as z-scores.

    Label-free, so computed once for every pass. Missing values become 0 (the
    mean), constant columns are dropped, values are clipped to +-5. None when
    there is no such column.

    Examples
    --------
    >>> X = pd.DataFrame({"attr_a": [1.0, 2.0, np.nan], "attr_b": [3.0, 3.0, 3.0], "other": 1})
    >>> standardised_attributes(X).round(2).tolist()
    [[-1.0], [1.0], [0.0]]
    """
    cols = [c for c in features.columns
            if (c.startswith("attr_") or c == "account_age_days")
            and not isinstance(features[c].dtype, pd.CategoricalDtype)]
    if not cols:
        return None
    M = features[cols].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.nanmean(M, axis=0)
        sd = np.nanstd(M, axis=0)
    keep = np.isfinite(sd) & (sd > 0)
    if not keep.any():
        return None
    Z = (M[:, keep] - mu[keep]) / sd[keep]
    return np.clip(np.nan_to_num(Z, nan=0.0), -CLIP, CLIP)


def attribute_score_columns(adj: sp.csr_matrix, p: sp.csr_matrix, Z: np.ndarray,
                            banned: np.ndarray, cleared: np.ndarray,
                            row_max) -> dict[str, np.ndarray]:
    """``attr_score``, ``attr_score_nb_mean1`` and ``attr_score_nb_max1`` per account.

    The regression (L2, ``C=ATTRIBUTE_SCORE_C``) is fitted on the rows with a
    visible label (banned 1, cleared 0); ``attr_score`` is its log-odds for
    every account. ``p`` is the row-normalised adjacency; neighbour columns are
    NaN without neighbours. Zeros (no information) when either class is empty.
    Cost: one regression on the labelled rows, then O(n * attributes + nnz).
    """
    lab = (banned > 0) | (cleared > 0)
    y = banned[lab] > 0
    if y.all() or not y.any():
        s = np.zeros(Z.shape[0])
    else:
        lr = LogisticRegression(C=ATTRIBUTE_SCORE_C, max_iter=500).fit(Z[lab], y)
        s = Z @ lr.coef_.ravel() + lr.intercept_[0]
    has = np.diff(adj.indptr) > 0
    return {"attr_score": s, "attr_score_nb_mean1": np.where(has, p @ s, np.nan),
            "attr_score_nb_max1": row_max(adj, s)}
