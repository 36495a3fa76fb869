"""models/identity_quality.py: pairs in one identity, counted by relationship."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ringfence.models.identity_quality import format_identity_quality, identity_quality

# ten accounts: actor A has a1 a2 a3 (ring r with actor B: b1 b2), household h (x, y, z),
# strangers s, t
TRUTH = pd.DataFrame({
    "account_id": ["a1", "a2", "a3", "b1", "b2", "x", "y", "z", "s", "t"],
    "actor_id": ["A", "A", "A", "B", "B", "X", "Y", "Z", "S", "T"],
    "household_id": ["", "", "", "", "", "h", "h", "h", "", ""],
    "ring_id": ["r", "r", "r", "r", "r", "", "", "", "", ""],
})
# identity 0: a1 a2 b1 (two correct-actor... one same-actor pair, two ring pairs);
# identity 1: x y s (one household pair, two stranger pairs); identity 2: a3 b2 (ring pair)
IDENTITY = np.array([0, 0, 2, 0, 2, 1, 1, -1, 1, -1])


def brute_force(identity, truth):
    """Every pair listed, for a check of the counted version."""
    counts = dict(pairs=0, correct=0, household=0, ring=0, stranger=0)
    for i, j in itertools.combinations(range(len(truth)), 2):
        if identity[i] < 0 or identity[i] != identity[j]:
            continue
        ti, tj = truth.iloc[i], truth.iloc[j]
        counts["pairs"] += 1
        if ti["actor_id"] == tj["actor_id"]:
            counts["correct"] += 1
        elif ti["household_id"] and ti["household_id"] == tj["household_id"]:
            counts["household"] += 1
        elif ti["ring_id"] and ti["ring_id"] == tj["ring_id"]:
            counts["ring"] += 1
        else:
            counts["stranger"] += 1
    return counts


def test_counts_by_relationship_on_a_hand_made_case():
    q = identity_quality(IDENTITY, TRUTH)
    assert q["identity_pairs"] == 3 + 3 + 1
    assert q["true_pairs"] == 3 + 1  # A: 3 pairs, B: 1
    assert q["correct_pairs"] == 1  # a1-a2
    assert q["precision"] == pytest.approx(1 / 7)
    assert q["recall"] == pytest.approx(1 / 4)
    assert q["f1"] == pytest.approx(2 * (1 / 7) * (1 / 4) / (1 / 7 + 1 / 4))
    assert (q["household_pairs"], q["household_pairs_in_identity"]) == (3, 1)
    assert q["household_share"] == pytest.approx(1 / 3)
    # ring r: 10 pairs of which 4 are same-actor; in identities a1-b1, a2-b1, a3-b2
    assert (q["ring_pairs"], q["ring_pairs_in_identity"]) == (6, 3)
    assert q["ring_share"] == pytest.approx(0.5)
    assert q["stranger_pairs_in_identity"] == 2  # x-s, y-s
    assert q["stranger_share"] is None
    bf = brute_force(IDENTITY, TRUTH)
    assert (bf["pairs"], bf["correct"], bf["household"], bf["ring"], bf["stranger"]) == (
        q["identity_pairs"], q["correct_pairs"], q["household_pairs_in_identity"],
        q["ring_pairs_in_identity"], q["stranger_pairs_in_identity"])


def test_stranger_share_among_pairs_that_share_a_value():
    pos = {a: i for i, a in enumerate(TRUTH["account_id"])}
    # candidate pairs: x-s and s-t are strangers, x-y household, a1-a2 same actor
    pairs = [("x", "s"), ("s", "t"), ("x", "y"), ("a1", "a2")]
    a = np.array([pos[p] for p, _ in pairs])
    b = np.array([pos[q] for _, q in pairs])
    q = identity_quality(IDENTITY, TRUTH, (a, b))
    assert q["stranger_pairs_sharing"] == 2
    assert q["stranger_share"] == pytest.approx(0.5)  # x-s together, s-t not (t alone)


def test_matches_brute_force_on_random_identities():
    rng = np.random.default_rng(3)
    n = 60
    truth = pd.DataFrame({
        "actor_id": [f"A{k}" for k in rng.integers(0, 25, n)],
        "household_id": np.where(rng.random(n) < 0.3, [f"h{k}" for k in rng.integers(0, 5, n)],
                                 ""),
        "ring_id": "",
    })
    identity = np.where(rng.random(n) < 0.2, -1, rng.integers(0, 8, n))
    q = identity_quality(identity, truth)
    bf = brute_force(identity, truth.assign(household_id=truth["household_id"].astype(str)))
    # a same-actor pair inside a household counts as correct in both
    assert q["identity_pairs"] == bf["pairs"] and q["correct_pairs"] == bf["correct"]
    assert q["household_pairs_in_identity"] == bf["household"]
    assert q["stranger_pairs_in_identity"] == bf["stranger"]


def test_nobody_linked_has_no_precision_and_zero_recall():
    q = identity_quality(np.full(10, -1), TRUTH)
    assert q["precision"] is None and q["recall"] == 0.0 and q["f1"] is None
    assert q["household_share"] == 0.0 and q["stranger_pairs_in_identity"] == 0


def test_refuses_misaligned_input():
    with pytest.raises(ValueError, match="identity has 3 accounts, truth 10"):
        identity_quality(np.zeros(3, int), TRUTH)


def test_report_lines():
    text = format_identity_quality(identity_quality(IDENTITY, TRUTH))
    assert "precision 0.143, recall 0.250, F1 0.182 (7 pairs in one identity, 4 true)" in text
    assert "households           1 of 3 pairs in one identity (share 0.333)" in text
    assert "rings                3 of 6 pairs in one identity (share 0.500)" in text
    assert "strangers            2 pairs in one identity" in text
