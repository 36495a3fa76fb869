"""The link-decisions input table: reviewers' verdicts on pairs of accounts.

``link_decisions`` is the optional fifth input table. Each row says that a
reviewer decided two accounts are run by one actor (``same_actor``) or by
different ones (``different_actors``), when (``decided_at``) and who
(``decided_by``), with an optional ``reason``. Identity linking honours
them: a ``different_actors`` decision is never overridden.

:func:`check_link_decisions` holds the checks of this table that the other
tables do not need; :func:`ringfence.graph.tables.load_tables` runs it after
the generic ones (ids, times, reason) and before the reference check, so
every problem of every table is still reported at once.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from ringfence.graph.text import strip_whitespace

__all__ = ["DECISIONS", "check_link_decisions"]

DECISIONS = ("same_actor", "different_actors")
_PAIR = ["account_a", "account_b"]


class _Reports(Protocol):  # graph.tables._Validator: how a problem is recorded
    def add(self, column: str | None, message: str, df: pd.DataFrame | None = None,
            mask: np.ndarray | None = None, cols: list[str] | None = None) -> None: ...


def check_link_decisions(df: pd.DataFrame, v: _Reports) -> pd.DataFrame:
    """Check and canonicalise a ``link_decisions`` table whose columns are typed already.

    Refused (each a problem with examples): an unknown ``decision`` word
    (case and surrounding spaces are forgiven), a missing ``decided_at``, an
    empty ``decided_by``, a pair of one account with itself, and a pair with
    both decisions (in either order of ``account_a``/``account_b``). Each pair
    is stored with ``account_a < account_b``, so that the same decision
    written both ways is an exact duplicate (dropped with a warning).

    Examples
    --------
    >>> class Problems(list):
    ...     def add(self, column, message, *rest):
    ...         self.append((column, message))
    >>> df = pd.DataFrame({"account_a": ["b", "c"], "account_b": ["a", "c"],
    ...                    "decision": [" Same_Actor", "same_actor"],
    ...                    "decided_at": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
    ...                    "decided_by": ["ana", "ana"]})
    >>> seen = Problems()
    >>> out = check_link_decisions(df, seen)
    >>> out[["account_a", "account_b", "decision"]].values.tolist()
    [['a', 'b', 'same_actor'], ['c', 'c', 'same_actor']]
    >>> seen
    [('account_b', 'a pair of an account with itself')]
    """
    df = df.copy()
    raw = strip_whitespace(df["decision"].astype("string").fillna("").astype(str))[0]
    df["decision"] = raw.str.lower()
    bad = ~df["decision"].isin(DECISIONS).to_numpy()
    if bad.any():
        v.add("decision", "unknown decision; expected one of " + ", ".join(DECISIONS),
              df.assign(decision=raw), bad, _PAIR + ["decision"])
    undated = df["decided_at"].isna().to_numpy()
    if undated.any():
        v.add("decided_at", "a decision without a date (when was it decided?)", df, undated,
              _PAIR + ["decided_at"])
    who = strip_whitespace(df["decided_by"].astype("string").fillna("").astype(str))[0]
    df["decided_by"] = who
    anonymous = (who == "").to_numpy()
    if anonymous.any():
        v.add("decided_by", "a decision without a reviewer (who decided?)", df, anonymous,
              _PAIR + ["decided_by"])
    a, b = df["account_a"].to_numpy(str), df["account_b"].to_numpy(str)
    swap = a > b
    df["account_a"], df["account_b"] = np.where(swap, b, a), np.where(swap, a, b)
    df["account_a"] = df["account_a"].astype("str")
    df["account_b"] = df["account_b"].astype("str")
    itself = (a == b) & (a != "")
    if itself.any():
        v.add("account_b", "a pair of an account with itself", df, itself, _PAIR)
    decided = ~bad & ~itself
    kinds = (df.loc[decided].groupby(_PAIR, observed=True)["decision"].nunique())
    both = kinds[kinds > 1]
    if len(both):
        mask = decided & pd.MultiIndex.from_frame(df[_PAIR]).isin(both.index)
        v.add("decision", "a pair marked both same_actor and different_actors (in either "
              "order of account_a and account_b): keep the decision that stands", df, mask,
              _PAIR + ["decision", "decided_at", "decided_by"])
    return df
