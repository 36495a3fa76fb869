"""models/training.py: large label sets fit a stratified sample."""

from __future__ import annotations


import numpy as np
import pytest



def test_large_label_sets_fit_a_stratified_sample():
    from ringfence.models.training import _fit_sample
    from ringfence.models.training import default_folds

    y = np.r_[np.ones(3000), np.zeros(27000)].astype(int)
    idx = _fit_sample(y, 20000, seed=1)
    assert len(idx) == 20000 and len(np.unique(idx)) == 20000
    assert y[idx].mean() == pytest.approx(0.1, abs=1e-3)        # class shares kept
    np.testing.assert_array_equal(idx, _fit_sample(y, 20000, seed=1))
    assert len(_fit_sample(y[:500], 20000, seed=1)) == 500       # small sets untouched
    assert (default_folds(20000), default_folds(20001)) == (5, 3)
