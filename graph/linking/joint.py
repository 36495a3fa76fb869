"""Joint comparisons: identifier kinds that are not independent given the class, compared as one.

Fellegi-Sunter multiplies the evidence of the comparisons, which is right only
when they are independent within each class. The device, IP and street
address of one home are not: the members of a household (different actors)
share all three at once, and summed one by one the three agreements outweigh
what the household's different phones, cards and emails say (on the
20,000-account synthetic platform, seed 7, every household pair was linked).
Compared as one comparison, "same device, same IP, same address" gets its own
m and u, learnt from how often same-actor pairs and other pairs show that
very pattern.

Each member kind contributes one of three states: ``different`` (different
values, or no value), ``shared widely`` (a partial key, or exact agreement on
a value used by more accounts than the rarest hub band) and ``same`` (exact
agreement on a value of the rarest band). The joint level numbers the
``3**k`` patterns; level 0 (null) is kept for pairs where no member has a value
on both sides.
"""

from __future__ import annotations

import itertools

import numpy as np

from ringfence.graph.linking.comparisons import Comparisons

__all__ = ["combine_comparisons", "pattern_states"]

_STATES = ("different", "shared widely", "same")


def pattern_states(members: int) -> list[tuple[str, ...]]:
    """The members' states of each joint level from 1 on (level ``i`` is item ``i - 1``).

    >>> pattern_states(2)[:2]
    [('different', 'different'), ('different', 'shared widely')]
    """
    return list(itertools.product(_STATES, repeat=members))


def combine_comparisons(comp: Comparisons, name: str, members: list[str]) -> Comparisons:
    """``comp`` with the comparisons ``members`` replaced by one comparison ``name``.

    Parameters
    ----------
    comp
        From :func:`ringfence.graph.linking.comparisons.compare_pairs`.
    name
        Name of the joint comparison (appended after the others).
    members
        Names of the comparisons it replaces; those absent from ``comp`` are
        skipped (nothing is combined when fewer than two are present).

    Returns
    -------
    Comparisons
        Same pairs; ``shared_by`` of the joint comparison is 0.

    Notes
    -----
    Cost: O(pairs * members).

    Examples
    --------
    >>> lv = np.array([[3, 4, 1], [1, 2, 0], [0, 0, 0]], np.int8)
    >>> c = Comparisons(a=np.arange(3), b=np.arange(1, 4), levels=lv,
    ...                 names=["device", "ip", "timing"],
    ...                 level_names=[["null", "different", "exact, shared by 11-20",
    ...                               "exact, shared by 2-10"],
    ...                              ["null", "different", "partial", "exact, shared by 11-50",
    ...                               "exact, shared by 2-10"], ["null", "other", "after ban"]],
    ...                 shared_by=np.zeros((3, 3), np.int32))
    >>> j = combine_comparisons(c, "environment", ["device", "ip"])
    >>> j.names, [j.level_names[1][x] for x in j.levels[:, 1]]
    (['timing', 'environment'], ['same device, same ip', 'different device, ip shared widely', 'null'])
    """
    cols = [comp.names.index(m) for m in members if m in comp.names]
    if len(cols) < 2:
        return comp
    lv = comp.levels.astype(np.int64)
    code = np.zeros(len(comp), np.int64)
    all_null = np.ones(len(comp), bool)
    for j in cols:
        level, top = lv[:, j], len(comp.level_names[j]) - 1
        state = np.where(level == top, 2, np.where(level >= 2, 1, 0))
        all_null &= level == 0
        code = code * len(_STATES) + state
    code = np.where(all_null, 0, code + 1)
    names = [comp.names[j] for j in cols]
    patterns = ["null"] + [", ".join(f"{s} {n}" if s != "shared widely" else f"{n} {s}"
                                     for s, n in zip(combo, names))
                           for combo in pattern_states(len(cols))]
    rest = [j for j in range(len(comp.names)) if j not in cols]
    return Comparisons(
        a=comp.a, b=comp.b,
        levels=np.column_stack([lv[:, rest], code]).astype(np.int8),
        names=[comp.names[j] for j in rest] + [name],
        level_names=[comp.level_names[j] for j in rest] + [patterns],
        shared_by=np.column_stack([comp.shared_by[:, rest],
                                   np.zeros(len(comp), np.int32)]))
