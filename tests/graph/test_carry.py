"""Ids carried between runs by member overlap (graph/carry.py)."""

from __future__ import annotations

import numpy as np

from ringfence.graph.carry import carry_ids, overlap_counts


def _carry(old: dict[str, int], new: dict[str, int], largest: int, **kw):
    """Labels per account id; accounts are matched by name."""
    old_ids = list(old)
    where = np.array([old_ids.index(a) if a in old else -1 for a in new])
    labels, top = carry_ids(np.array(list(old.values())), np.array(list(new.values())), where,
                            largest_id=largest, **kw)
    return dict(zip(new, labels.tolist())), top


def test_unchanged_groups_keep_their_ids_whatever_tonights_numbering():
    old = {"a": 40, "b": 40, "c": 3, "d": 3, "e": 3, "f": -1}
    new = {"a": 1, "b": 1, "c": 0, "d": 0, "e": 0, "f": -1}  # numbered by size tonight
    labels, top = _carry(old, new, largest=40)
    assert labels == old
    assert top == 40


def test_new_groups_get_ids_above_the_largest_ever_used():
    # id 41..57 retired in earlier runs: the counter (57) is kept, so no id is reused
    old = {"a": 40, "b": 40}
    new = {"a": 0, "b": 0, "x": 1, "y": 1, "z": 2, "w": 2}
    labels, top = _carry(old, new, largest=57)
    assert labels == {"a": 40, "b": 40, "x": 58, "y": 58, "z": 59, "w": 59}
    assert top == 59


def test_a_group_that_lost_most_members_gets_a_new_id():
    old = {"a": 5, "b": 5, "c": 5, "d": 5, "e": 5}
    new = {"a": 0, "b": 0, "c": -1, "d": -1, "e": -1}  # Jaccard 2/5 < 0.5
    labels, top = _carry(old, new, largest=5)
    assert labels["a"] == labels["b"] == 6 and top == 6


def test_jaccard_counts_accounts_that_left_and_joined():
    # 3 of 4 old members stay, one leaves the platform, two join: Jaccard 3/6 = 0.5 -> kept
    old = {"a": 9, "b": 9, "c": 9, "gone": 9}
    new = {"a": 0, "b": 0, "c": 0, "n1": 0, "n2": 0}
    assert _carry(old, new, largest=9)[0]["a"] == 9
    # a third newcomer: 3/7 < 0.5 -> a new id
    new["n3"] = 0
    assert _carry(old, new, largest=9)[0]["a"] == 10


def test_a_merge_keeps_the_id_of_the_best_match_one_to_one():
    # old 2 = {a,b,c,d}, old 7 = {e,f}; tonight one group {a..f}: Jaccard 4/6 and 2/6
    old = {"a": 2, "b": 2, "c": 2, "d": 2, "e": 7, "f": 7}
    new = {k: 0 for k in old}
    labels, _ = _carry(old, new, largest=7)
    assert set(labels.values()) == {2}


def test_a_split_keeps_the_id_once_and_ties_go_to_the_older_id():
    # old 3 = {a,b}, old 8 = {c,d}; tonight {a,b,c,d} is one group: Jaccard 0.5 with both;
    # the older id (3) wins, 8 retires
    old = {"a": 3, "b": 3, "c": 8, "d": 8}
    labels, top = _carry(old, {k: 0 for k in old}, largest=8)
    assert set(labels.values()) == {3} and top == 8
    # old 4 = {a,b,c,d} split in halves: 0.5 each; one half keeps 4 (the first new
    # group), the other gets a new id: ids are one-to-one
    old = {"a": 4, "b": 4, "c": 4, "d": 4}
    labels, top = _carry(old, {"a": 0, "b": 0, "c": 1, "d": 1}, largest=4)
    assert labels == {"a": 4, "b": 4, "c": 5, "d": 5} and top == 5


def test_the_result_does_not_depend_on_tonights_numbering_or_the_account_order():
    rng = np.random.default_rng(1)
    old_label = rng.integers(-1, 40, 500)
    new_label = np.where(rng.random(500) < 0.9, old_label, rng.integers(-1, 40, 500))
    where = np.arange(500)
    base, top = carry_ids(old_label, new_label, where, largest_id=60)
    # renumber tonight's groups and shuffle the accounts: the same groups, the same ids
    perm_ids = rng.permutation(40)
    new2 = np.where(new_label >= 0, perm_ids[np.maximum(new_label, 0)], -1)
    order = rng.permutation(500)
    labels, top2 = carry_ids(old_label, new2[order], where[order], largest_id=60)
    kept = base[order]
    matched = kept <= 60  # fresh ids follow tonight's numbering, carried ones do not
    assert (labels[matched] == kept[matched]).all() and matched.mean() > 0.5
    assert top2 == top


def test_overlap_counts_is_the_contingency_table():
    rng = np.random.default_rng(0)
    old = rng.integers(-1, 6, 300)
    new = rng.integers(-1, 4, 250)
    where = rng.permutation(300)[:250]
    where[:20] = -1
    o, osz, n, nsz, pairs, shared = overlap_counts(old, new, where)
    expect = {}
    for i in range(250):
        if new[i] >= 0 and where[i] >= 0 and old[where[i]] >= 0:
            key = (int(new[i]), int(old[where[i]]))
            expect[key] = expect.get(key, 0) + 1
    got = {(int(n[a]), int(o[b])): int(c) for (a, b), c in zip(pairs, shared)}
    assert got == expect
    assert osz.tolist() == [int((old == k).sum()) for k in o]
    assert nsz.tolist() == [int((new == k).sum()) for k in n]
