"""Validation of the adjacency matrices the graph algorithms take."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def checked_adjacency(adjacency, *, copy: bool = False) -> sp.csr_array:
    """A float64 CSR array of a square matrix with finite, non-negative weights.

    Raises TypeError for anything but a scipy sparse matrix or numpy array and
    ValueError naming the problem otherwise. Without ``copy`` the data is
    shared when the input is already float64 CSR.
    """
    if not (sp.issparse(adjacency) or isinstance(adjacency, np.ndarray)):
        raise TypeError(f"adjacency must be a scipy sparse matrix or numpy array, "
                        f"got {type(adjacency).__name__}")
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"adjacency must be a square matrix, got shape {adjacency.shape}")
    a = sp.csr_array(adjacency, dtype=np.float64, copy=copy)
    if a.nnz:
        if not np.isfinite(a.data).all():
            raise ValueError("adjacency has non-finite (nan or inf) weights")
        if (a.data < 0).any():
            raise ValueError(f"adjacency has negative weights ({int((a.data < 0).sum())} "
                             f"entries); weights must be >= 0")
    return a
