"""graph/linking/comparisons.py: the best level per candidate pair and comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ringfence.graph.linking.comparisons import _best_levels


def _rows(seed: int, size: int = 400):
    rng = np.random.default_rng(seed)
    lo = rng.integers(0, 30, size)
    hi = lo + 1 + rng.integers(0, 5, size)
    comp = rng.integers(0, 3, size)
    level = rng.integers(0, 6, size)
    # exact rows carry their value's size; partial rows 0 (no candidate alone) or -1
    shared = np.where(level >= 3, rng.integers(2, 9, size), rng.choice([0, -1], size))
    shared[level == 0] = 0  # decisions
    return lo, hi, comp, level, shared


def test_best_level_is_the_highest_then_the_rarest_value_of_anchored_pairs():
    lo, hi, comp, level, shared = _rows(1)
    cells, best, best_n, keys = _best_levels(lo, hi, comp, level, shared, 40, 3)
    df = pd.DataFrame({"key": lo * 40 + hi, "comp": comp, "level": level,
                       "n": np.maximum(shared, 0), "anchor": (shared != 0) | (level == 0)})
    anchored = df.groupby("key")["anchor"].any()
    want_keys = anchored.index[anchored.to_numpy()].to_numpy()
    assert np.array_equal(keys, want_keys) and len(keys) < df["key"].nunique()
    want = (df[df["key"].isin(want_keys)].sort_values(["key", "comp", "level", "n"],
                                                       ascending=[True, True, False, True])
            .drop_duplicates(["key", "comp"]))
    assert np.array_equal(keys[cells // 3], want["key"].to_numpy())
    assert np.array_equal(cells % 3, want["comp"].to_numpy())
    assert np.array_equal(best, want["level"].to_numpy())
    assert np.array_equal(best_n, want["n"].to_numpy())


def test_pairs_are_numbered_densely_when_their_codes_would_overflow():
    lo, hi, comp, level, shared = _rows(2)
    small = _best_levels(lo, hi, comp, level, shared, 40, 3)
    n = 2**31  # n * n * comparisons * levels overflows int64: pairs numbered densely first
    big = _best_levels(lo, hi, comp, level, shared, n, 3)
    for x, y in zip(small[:3], big[:3]):
        assert np.array_equal(x, y)
    assert np.array_equal(small[3] // 40, big[3] // n)
    assert np.array_equal(small[3] % 40, big[3] % n)
