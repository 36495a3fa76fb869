"""Who else uses a shared value: one person's accounts, or several people's.

A card shared by five accounts is strong evidence when the five are one
person's accounts, and weak when they are five people's (a ring's card, a
family's tablet, a second-hand device). Whether the users are one person is
read from the personal identifiers: accounts joined by a chain of exact or
partial agreements on emails or phones form one *personal group*. A value's
``mixing`` is ``(groups - 1) / (users - 1)`` over its users: 0 when all its
users are one personal group, 1 when each is its own. The likelihood model
compares every candidate pair on it (:func:`sharing_comparison`): a pair whose
shared values are each used by several people is a ring's or a household's
more often than one person's, and Fellegi-Sunter learns by how much without
labels. The pair classifier (:mod:`.supervised`) also reads the mixing itself.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ringfence.graph.build import AccountGraph
from ringfence.graph.config import GraphConfig
from ringfence.graph.linking.comparisons import Comparisons, _group_pairs, _lookup

__all__ = ["PERSONAL", "SHARING", "SHARING_LEVELS", "SHARING_MIN_USERS", "counted_values",
           "personal_accounts", "personal_groups", "personal_kinds", "sharing_comparison",
           "sharing_levels", "value_mixing"]

#: comparisons whose agreement (partial or exact) says "one person"
PERSONAL = ("email", "phone")
#: the comparison of who else uses the values a pair shares, and its levels
SHARING = "sharing"
SHARING_LEVELS = ["null", "several people", "one person"]
#: the sharing comparison reads values used by at least this many accounts: whether the two
#: users of a value are one personal group is what their own emails and phones already say
#: (counting it again would count a ban evader's new email twice against them)
SHARING_MIN_USERS = 3


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


def personal_kinds(kind_names: list[str], personal: tuple[str, ...] = PERSONAL
                   ) -> np.ndarray:
    """Per kind of ``kind_names``, True when it is ``personal`` (says who an account is).

    >>> personal_kinds(["card", "email", "phone"]).tolist()
    [False, True, True]
    """
    return np.isin(np.asarray(kind_names, dtype=object), list(personal)) if len(kind_names) \
        else np.zeros(0, bool)


def counted_values(kind_code: np.ndarray, users: np.ndarray, kind_names: list[str],
                   config: GraphConfig, personal: tuple[str, ...] = PERSONAL,
                   min_users: int = 2) -> np.ndarray:
    """Per identifier, True when its ``mixing`` counts: a kind that is not ``personal``,
    used by at least ``min_users`` accounts and at most its kind's share limit (a hub's
    users tell nothing about one pair). ``kind_code`` indexes ``kind_names``; ``users``: accounts
    per identifier. Cost: O(identifiers).

    >>> counted_values(np.array([0, 0, 1, 0]), np.array([2, 1, 3, 10**6]),
    ...                ["card", "email"], GraphConfig()).tolist()
    [True, False, False, False]
    """
    kinds = np.asarray(kind_names, dtype=object)
    limit = np.array([config.share_limit(k) for k in kinds], np.int64)
    mine = ~personal_kinds(kind_names, personal)
    kind_code = np.asarray(kind_code, np.int64)
    return mine[kind_code] & (users >= min_users) & (users <= limit[kind_code])


def value_mixing(graph: AccountGraph, group: np.ndarray, personal: tuple[str, ...] = PERSONAL,
                 min_users: int = 2, known: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of accounts that share a non-personal raw value (used by ``min_users`` to
    its kind's share limit of accounts): the smallest ``mixing`` of the values they share.

    ``known`` (a bool per node, optional): only these users' groups count, over only
    these users (an account without an email or phone is no evidence of another person),
    and a value with fewer than two of them tells nothing (left out).

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
                        graph.config, personal, min_users)[val]
    # sorted by value then account (a sort and a neighbour comparison: several times
    # faster than numpy's hash-based unique at scale)
    code = np.sort(val[ok] * n + acc[ok])
    val, acc = code // n, code % n
    counted = np.ones(len(acc), bool) if known is None else np.asarray(known, bool)[acc]
    vg = np.sort(val[counted] * n + group[acc[counted]])
    first = np.r_[True, vg[1:] != vg[:-1]] if len(vg) else np.zeros(0, bool)
    groups = np.bincount(vg[first] // n, minlength=len(ident))
    if known is not None:
        users = np.bincount(val[counted], minlength=len(ident))
        keep = users[val] >= 2
        val, acc = val[keep], acc[keep]
    mix = (groups - 1) / np.maximum(users - 1, 1)
    lo, hi, v = _group_pairs(acc, val, n, presorted=True)
    key = lo * n + hi
    order = np.argsort(key, kind="stable")
    key, m = key[order], mix[v][order]
    if not len(key):
        return key, m
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return key[starts], np.minimum.reduceat(m, starts)


def personal_accounts(graph: AccountGraph, personal: tuple[str, ...] = PERSONAL
                      ) -> np.ndarray:
    """Per node, True when the account has a value of a ``personal`` kind (an email or a
    phone): only then does its personal group say who it is. Cost: O(uses).

    >>> import pandas as pd
    >>> from ringfence.graph.build import build_graph
    >>> from ringfence.graph.tables import load_tables
    >>> g = build_graph(load_tables(pd.DataFrame({"account_id": ["a", "b"]}),
    ...     pd.DataFrame({"account_id": ["a", "b"], "kind": ["email", "card"],
    ...                   "value": ["a@x.com", "c1"]})))
    >>> personal_accounts(g).tolist()
    [True, False]
    """
    ident = graph.identifiers
    if not len(ident):
        return np.zeros(graph.n_accounts, bool)
    is_personal = personal_kinds(graph.kind_names, personal)[
        ident["kind"].cat.codes.to_numpy()]
    acc = graph.uses["account"].to_numpy().astype(np.int64)
    val = graph.uses["identifier"].to_numpy().astype(np.int64)
    return np.bincount(acc[is_personal[val]], minlength=graph.n_accounts) > 0


def sharing_levels(has_value: np.ndarray, mixing: np.ndarray, several_above: float
                   ) -> np.ndarray:
    """The ``sharing`` level per pair from its smallest :func:`value_mixing`: 0 (null) when
    it shares no value that counts, 1 (``several people``) when even its least mixed
    shared value has a mixing above ``several_above``, else 2 (``one person``).

    >>> sharing_levels(np.array([False, True, True]), np.array([0.0, 1.0, 0.5]), 0.5).tolist()
    [0, 1, 2]
    """
    return np.where(~np.asarray(has_value, bool), 0,
                    np.where(np.asarray(mixing, float) > several_above, 1, 2)).astype(np.int8)


def sharing_comparison(graph: AccountGraph, compared: Comparisons, several_above: float
                       ) -> tuple[Comparisons, np.ndarray]:
    """``compared`` with one more comparison, :data:`SHARING`: for each candidate pair, are
    the non-personal values it shares (devices, cards, IPs, addresses within their share
    limits, used by at least :data:`SHARING_MIN_USERS` accounts) used by one person's
    accounts or by several people's? Only users with an email or a phone count
    (:func:`personal_accounts`): five fresh accounts on one device and one card, none
    with a personal identifier, are no evidence of five people.

    A ring's pool card or a family's tablet is used by several personal groups (accounts
    joined by emails or phones, :func:`personal_groups`); one actor's card by one. The
    level is :func:`sharing_levels` of the pair's smallest :func:`value_mixing`. Its m
    and u are estimated like any comparison's, so how much "one person" or "several
    people" weighs comes from the data, not from a hand weight. A value only the two
    accounts use is left out (null): whether they are one personal group is what their
    email and phone comparisons already say.

    Returns
    -------
    (Comparisons, numpy.ndarray)
        The comparisons with ``sharing`` last (``shared_by`` 0), and the personal group
        per node (the pair context reuses it).

    Notes
    -----
    Cost: :func:`personal_groups` and :func:`value_mixing`, O(U log U) for U identifier
    uses plus the pairs within values, and a search per candidate pair.
    """
    n = graph.n_accounts
    group = personal_groups(n, compared)
    keys, mixing = value_mixing(graph, group, min_users=SHARING_MIN_USERS,
                                known=personal_accounts(graph))
    key = compared.a * n + compared.b
    mix = _lookup(key, keys, mixing, empty=np.nan)  # NaN: no value that counts
    level = sharing_levels(~np.isnan(mix), mix, several_above)
    return Comparisons(a=compared.a, b=compared.b,
                       levels=np.column_stack([compared.levels, level]),
                       names=[*compared.names, SHARING],
                       level_names=[*compared.level_names, list(SHARING_LEVELS)],
                       shared_by=np.column_stack([compared.shared_by,
                                                  np.zeros(len(key), np.int32)])), group
