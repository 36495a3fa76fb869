"""Synthetic reviewer decisions on pairs of accounts, for experiments with link labels.

A share of the true same-actor pairs is marked ``same_actor``; about as many
pairs of different actors are marked ``different_actors``. A reviewer decides
on the pairs the tool shows them, so the negatives are drawn uniformly from
the pairs of different actors that share an identifier value used by no more
accounts than that kind's default share limit (the linker's candidates,
:data:`ringfence.graph.config.DEFAULT_SHARE_LIMITS`): each relationship
(household, ring, strangers sharing an office IP, a recycled phone, a
second-hand device...) appears among the decisions in proportion to how often
it appears among those pairs. Pairs behind bigger values (NAT IPs) are never
shown to a reviewer. The draws use their own random generator (seeded from
the platform's seed), so asking for labels never changes the platform itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ringfence.graph.config import GraphConfig
from ringfence.graph.synth.arrays import group_pairs
from ringfence.graph.synth.vocabulary import DAY

__all__ = ["LINK_DECISION_COLUMNS", "draw_link_decisions"]

LINK_DECISION_COLUMNS = ("account_a", "account_b", "decision", "decided_at", "decided_by",
                         "reason")
REVIEWER = "synthetic reviewer"


def _unique_pairs(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Pairs ``a < b`` as sorted unique codes ``a * n + b``."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return np.unique(lo[lo != hi] * n + hi[lo != hi])


def draw_link_decisions(truth: pd.DataFrame, identifiers: pd.DataFrame,
                        accounts: pd.DataFrame, fraction: float, seed: int,
                        end: pd.Timestamp) -> pd.DataFrame:
    """Reviewer decisions on ``fraction`` of the true same-actor pairs and as many others.

    Parameters
    ----------
    truth, identifiers, accounts : pandas.DataFrame
        A platform's tables (:class:`~ringfence.graph.synth.Platform`).
    fraction : float
        Share of the same-actor pairs (two accounts of one actor) decided.
    seed : int
        The platform's seed; the draws use a generator of their own.
    end : pandas.Timestamp
        No decision is dated after this.

    Returns
    -------
    pandas.DataFrame
        ``account_a < account_b``, ``decision`` (``same_actor`` or
        ``different_actors``), ``decided_at`` (after both accounts were
        created), ``decided_by``, ``reason``; sorted by ``decided_at``.

    Notes
    -----
    Cost: O(P log P) for the P pairs of accounts that share an identifier
    value used by at most its kind's share limit, plus the same-actor pairs.
    """
    if not (isinstance(fraction, (int, float)) and 0.0 <= fraction <= 1.0):
        raise ValueError(f"link label fraction must be a number in [0, 1], got {fraction!r}")
    rng = np.random.default_rng([int(seed), 13])
    ids = truth["account_id"].to_numpy()
    n = len(ids)
    actor = pd.factorize(truth["actor_id"])[0]
    acct = np.arange(n)
    a, b, _ = group_pairs(acct, actor)
    same = _unique_pairs(a, b, n)
    k_same = int(round(fraction * len(same)))
    same = np.sort(same[rng.choice(len(same), k_same, replace=False)]) if k_same else same[:0]

    # different actors that share a value the linker does not treat as a hub
    pos = pd.Index(ids).get_indexer(identifiers["account_id"])
    kind = identifiers["kind"].astype(str)
    value = kind + "\x1f" + identifiers["value"].astype(str)
    code = pd.factorize(value)[0]
    config = GraphConfig()
    limit = kind.map({k: config.share_limit(k) for k in kind.unique()}).to_numpy(np.int64)
    used = pd.DataFrame({"code": code, "acct": pos, "limit": limit}).drop_duplicates()
    size = np.bincount(used["code"].to_numpy())
    used = used[size[used["code"].to_numpy()] <= used["limit"].to_numpy()]
    a, b, _ = group_pairs(used["acct"].to_numpy(), used["code"].to_numpy())
    keep = actor[a] != actor[b]
    other = _unique_pairs(a[keep], b[keep], n)
    k_other = min(len(other), max(k_same, 1) if k_same else 0)
    other = np.sort(other[rng.choice(len(other), k_other, replace=False)]) \
        if k_other else other[:0]

    pair = np.concatenate([same, other])
    pa_, pb_ = pair // n, pair % n
    created = pd.to_datetime(accounts.set_index("account_id")["created_at"]
                             .reindex(ids).to_numpy(), utc=True)
    start = np.maximum(created[pa_].asi8, created[pb_].asi8) // 10**9
    span = np.clip(np.minimum(int(end.value // 10**9) - 1 - start, 30 * DAY), 0, None)
    at = start + np.floor(rng.random(len(pair)) * span).astype(np.int64)
    decision = np.where(np.arange(len(pair)) < len(same), "same_actor", "different_actors")
    out = pd.DataFrame({
        "account_a": pd.Series(ids[pa_], dtype="str"),
        "account_b": pd.Series(ids[pb_], dtype="str"),
        "decision": pd.Series(decision, dtype="str"),
        "decided_at": pd.to_datetime(at, unit="s", utc=True),
        "decided_by": pd.Series([REVIEWER] * len(pair), dtype="str"),
        "reason": pd.Series(np.where(decision == "same_actor", "one person, several accounts",
                                     "different people sharing an identifier"), dtype="str"),
    })
    # account ids are random, so a < b by position is not a < b by id: order each pair by id
    swap = (out["account_a"] > out["account_b"]).to_numpy()
    out.loc[swap, ["account_a", "account_b"]] = out.loc[swap, ["account_b", "account_a"]].to_numpy()
    order = np.lexsort((out["account_b"].to_numpy(), out["account_a"].to_numpy(),
                        out["decided_at"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)
