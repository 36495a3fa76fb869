"""Active rings: which clusters still need a reviewer, in the order to look at them.

:func:`ringfence.graph.clusters.cluster_table` scores a cluster by how much of
it is known to offend, so a ring whose members were all banned long ago tops
it although nothing is left to decide there. :func:`ring_priorities` adds
what a reviewer needs to pick the next ring (how many members the run flagged,
how many are still undecided, whether the ring is active) and orders the
clusters by it:

1. active rings with undecided members,
2. inactive rings with undecided members,
3. rings with nobody left to decide;

by ``risk`` (then size, then id) within each group. A ring is *active* when
its last activity is at most ``active_days`` (default :data:`ACTIVE_DAYS`)
before the run's as-of time; an account is *undecided* when it is not banned,
not cleared and carries no reviewer decision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ACTIVE_DAYS", "undecided_accounts", "ring_priorities"]

#: a ring counts as active when a member did something in this many days before as-of
ACTIVE_DAYS = 30.0


def undecided_accounts(scores: pd.DataFrame) -> np.ndarray:
    """Per row of ``scores``: no ban, no clearance and no reviewer decision.

    Reads ``banned``, ``cleared`` and, when present, ``decision`` (the
    reviewer decision log's latest word on the account; empty or missing:
    none).

    Examples
    --------
    >>> s = pd.DataFrame({"banned": [True, False, False, False],
    ...                   "cleared": [False, True, False, False],
    ...                   "decision": [None, None, "confirmed", ""]})
    >>> undecided_accounts(s).tolist()
    [False, False, False, True]
    """
    out = ~scores["banned"].to_numpy(bool) & ~scores["cleared"].to_numpy(bool)
    if "decision" in scores.columns:
        d = scores["decision"]
        out &= (d.isna() | (d.astype(str).str.strip() == "")).to_numpy(bool)
    return out


def ring_priorities(clusters: pd.DataFrame, scores: pd.DataFrame, as_of: pd.Timestamp, *,
                    active_days: float = ACTIVE_DAYS) -> pd.DataFrame:
    """``clusters`` with ``flagged``, ``undecided`` and ``active``, in review order.

    Parameters
    ----------
    clusters
        One row per cluster (:func:`ringfence.graph.clusters.cluster_table`):
        ``cluster_id``, ``size``, ``risk``, ``last_activity``.
    scores
        One row per account: ``cluster_id`` (-1: none), ``flagged``,
        ``banned``, ``cleared``, optionally ``decision``.
    as_of
        The run's as-of time (a ring's age is measured from it).
    active_days
        The activity window, > 0 (default :data:`ACTIVE_DAYS`).

    Returns
    -------
    pandas.DataFrame
        The clusters with ``flagged`` (members the run flagged), ``undecided``
        (members not banned, not cleared, without a decision) and ``active``
        (last activity within ``active_days`` of ``as_of``), sorted as the
        module says; default integer index. Columns already present are
        recomputed.

    Notes
    -----
    Cost: O(accounts + clusters log clusters) (two bincounts and a sort).

    Examples
    --------
    A ring of banned accounts, long quiet, and a younger one still at work:

    >>> t = pd.Timestamp("2026-06-01", tz="UTC")
    >>> clusters = pd.DataFrame({"cluster_id": [0, 1], "size": [2, 3], "risk": [0.9, 0.4],
    ...                          "last_activity": [t - pd.Timedelta(days=400), t]})
    >>> scores = pd.DataFrame({"cluster_id": [0, 0, 1, 1, 1, -1],
    ...                        "flagged": [False, False, True, False, False, True],
    ...                        "banned": [True, True, True, False, False, False],
    ...                        "cleared": [False] * 6})
    >>> ring_priorities(clusters, scores, t)[["cluster_id", "flagged", "undecided", "active"]]
       cluster_id  flagged  undecided  active
    0           1        1          2    True
    1           0        0          0   False
    """
    if not np.isfinite(active_days) or active_days <= 0:
        raise ValueError(f"active_days must be a positive number, got {active_days!r}")
    out = clusters.drop(columns=[c for c in ("flagged", "undecided", "active")
                                 if c in clusters.columns])
    cid = scores["cluster_id"].to_numpy(np.int64)
    inside = cid >= 0
    k = int(max(cid.max(initial=-1), out["cluster_id"].max() if len(out) else -1)) + 1
    flagged = np.bincount(cid[inside], weights=scores["flagged"].to_numpy(bool)[inside],
                          minlength=k)
    undecided = np.bincount(cid[inside], weights=undecided_accounts(scores)[inside],
                            minlength=k)
    ids = out["cluster_id"].to_numpy(np.int64)
    out["flagged"] = flagged[ids].round().astype(np.int64)
    out["undecided"] = undecided[ids].round().astype(np.int64)
    last = pd.to_datetime(out["last_activity"], utc=True)
    age_days = (pd.Timestamp(as_of) - last).dt.total_seconds().to_numpy() / 86400.0
    # no known activity: not active
    out["active"] = np.nan_to_num(age_days, nan=np.inf) <= active_days
    tier = np.where(out["undecided"].to_numpy() > 0, np.where(out["active"], 0, 1), 2)
    order = np.lexsort((ids, -out["size"].to_numpy(), -out["risk"].to_numpy(float), tier))
    return out.iloc[order].reset_index(drop=True)
