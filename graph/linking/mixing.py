"""Who else uses a shared value: one person's accounts, or several people's.

A card shared by five accounts is strong evidence when the five are one
person's accounts, and weak when they are five people's (a ring's card, a
family's tablet, a second-hand device). Whether the users are one person is
read from the personal identifiers: accounts joined by a chain of exact or
partial agreements on emails or phones form one *personal group*. A value's
``mixing`` is ``(groups - 1) / (users - 1)`` over its users: 0 when all its
users are one personal group, 1 when each is its own. The pair classifier
(:mod:`.supervised`) learns from reviewers' decisions on households and
strangers how much a mixed value is worth, and the same holds for rings,
which reviewers rarely see.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ringfence.graph.build import AccountGraph
from ringfence.graph.config import GraphConfig
from ringfence.graph.linking.comparisons import Comparisons, _group_pairs

__all__ = ["PERSONAL", "counted_values", "personal_groups", "value_mixing"]

#: comparisons whose agreement (partial or exact) says "one person"
PERSONAL = ("email", "phone")


def personal_groups(n: int, compared: Comparisons, personal: tuple[str, ...] = PERSONAL
                    ) -> np.ndarray:
    """Personal group per node: connected components of the candidate pairs that agree
    (partially or exactly) on a ``personal`` comparison. Cost: O(n + P).

    >>> c = Comparisons(a=np.array([0, 1, 2]), b=np.array([1, 2, 3]),
    ...                 levels=np.array([[3, 1], [1, 1], [1, 2]], np.int8),
    ...                 names=["email", "card"],
    ...                 level_names=[["null", "different", "partial", "exact"],
    ...                              ["null", "different", "exact"]],
    ...                 shared_by=np.zeros((3, 2), np.int32))
    >>> personal_groups(4, c).tolist()
    [0, 0, 1, 2]
    """
    agree = np.zeros(len(compared), bool)
    for j, name in enumerate(compared.names):
        if name in personal:
            agree |= compared.levels[:, j] >= 2  # above "different": partial or exact
    a, b = compared.a[agree], compared.b[agree]
    m = sp.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    return connected_components(m, directed=False)[1].astype(np.int64)


def counted_values(kind_code: np.ndarray, users: np.ndarray, kind_names: list[str],
                   config: GraphConfig, personal: tuple[str, ...] = PERSONAL) -> np.ndarray:
    """Per identifier, True when its ``mixing`` counts: a kind that is not ``personal``,
    used by at least two accounts and at most its kind's share limit (a hub's users tell
    nothing about one pair). ``kind_code`` indexes ``kind_names``; ``users``: accounts
    per identifier. Cost: O(identifiers).

    >>> counted_values(np.array([0, 0, 1, 0]), np.array([2, 1, 3, 10**6]),
    ...                ["card", "email"], GraphConfig()).tolist()
    [True, False, False, False]
    """
    kinds = np.asarray(kind_names, dtype=object)
    limit = np.array([config.share_limit(k) for k in kinds], np.int64)
    mine = ~np.isin(kinds, list(personal)) if len(kinds) else np.zeros(0, bool)
    kind_code = np.asarray(kind_code, np.int64)
    return mine[kind_code] & (users >= 2) & (users <= limit[kind_code])


def value_mixing(graph: AccountGraph, group: np.ndarray, personal: tuple[str, ...] = PERSONAL
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of accounts that share a non-personal raw value (within its kind's share
    limit): the smallest ``mixing`` of the values they share.

    Returns ``(keys, mixing)``: sorted pair codes ``a * n + b`` (``a < b``) and their
    smallest mixing in [0, 1]. Cost: O(U log U) for U uses, plus the pairs within values.

    Examples
    --------
    Three accounts on one card; the first two are one personal group:

    >>> import pandas as pd
    >>> from ringfence.graph.build import build_graph
    >>> from ringfence.graph.tables import load_tables
    >>> g = build_graph(load_tables(pd.DataFrame({"account_id": ["a", "b", "c"]}),
    ...     pd.DataFrame({"account_id": ["a", "b", "c"], "kind": "card", "value": "c1"})))
    >>> keys, mix = value_mixing(g, np.array([0, 0, 1]))
    >>> mix.tolist()  # (2 groups - 1) / (3 users - 1), for each of the three pairs
    [0.5, 0.5, 0.5]
    """
    n = graph.n_accounts
    uses, ident = graph.uses, graph.identifiers
    acc = uses["account"].to_numpy().astype(np.int64)
    val = uses["identifier"].to_numpy().astype(np.int64)
    # uses are distinct (value, account) pairs: a count per value is its users
    users = np.bincount(val, minlength=len(ident))
    ok = counted_values(ident["kind"].cat.codes.to_numpy(), users, graph.kind_names,
                        graph.config, personal)[val]
    # sorted by value then account (a sort and a neighbour comparison: several times
    # faster than numpy's hash-based unique at scale)
    code = np.sort(val[ok] * n + acc[ok])
    val, acc = code // n, code % n
    vg = np.sort(val * n + group[acc])
    first = np.r_[True, vg[1:] != vg[:-1]] if len(vg) else np.zeros(0, bool)
    groups = np.bincount(vg[first] // n, minlength=len(ident))
    mix = (groups - 1) / np.maximum(users - 1, 1)
    lo, hi, v = _group_pairs(acc, val, n, presorted=True)
    key = lo * n + hi
    order = np.argsort(key, kind="stable")
    key, m = key[order], mix[v][order]
    if not len(key):
        return key, m
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return key[starts], np.minimum.reduceat(m, starts)
