"""Reviewers' decisions and enforcement actions: which one is in force for each account.

Two inputs say what reviewers and the platform decided about an account:

* the ``enforcement`` table (``ban``, ``violation``, ``cleared``, ``lifted``), usually an
  export of the platform's records;
* the decisions log (``ringfence decide`` appends to it; ``flag --decisions``): one dated
  row per reviewer decision, ``cleared``, ``confirmed`` or ``lifted``, with who and why.

Per account, the latest of its ``ban``, ``cleared`` and ``lifted`` rows and its logged
decisions is in force (:func:`latest_decisive`):

=============  ==========================  ========================  =================
in force       seed of propagation          label for the model       may be queued
=============  ==========================  ========================  =================
``ban``        yes                          positive                  no
``confirmed``  yes (like a ban at its time) positive                  no
``cleared``    no, and it blocks the walk   negative                  no
``lifted``     no                           none                      yes
=============  ==========================  ========================  =================

Rows without a time: an undated ``ban`` is older than any dated row of the account; an
undated ``cleared`` or ``lifted`` row of the enforcement table is taken as later than every
dated row of the account in that table (a clearance most likely answers the ban before it),
and loading warns about it when the account has a dated ban. Logged decisions always have
a time. At equal times a logged decision beats an enforcement row, and ``cleared`` or
``lifted`` beat ``ban``; between logged decisions the later line wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DECISIONS", "LOG_COLUMNS", "latest_decisive", "latest_logged"]

DECISIONS = ("cleared", "confirmed", "lifted")
# the decisions log's header, in this order
LOG_COLUMNS = ("at", "account_id", "decision", "by", "reason")
_NEVER = np.iinfo(np.int64).min  # an undated ban: older than anything


def _ns(times: pd.Series) -> np.ndarray:
    t = pd.DatetimeIndex(times).as_unit("ns")  # pandas 3 keeps a column's own unit
    t = t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")
    return t.asi8  # NaT is the smallest int64


def latest_decisive(enforcement: pd.DataFrame, log: pd.DataFrame | None) -> pd.DataFrame:
    """The row in force per account, from enforcement actions and logged decisions.

    Parameters
    ----------
    enforcement
        ``node`` (account position), ``action``, ``at`` (UTC, NaT when
        unknown), ``reason``: the enforcement rows to consider.
    log
        ``node``, ``decision``, ``at``, ``by``, ``reason``: the logged
        decisions (every one dated), or None.

    Returns
    -------
    pandas.DataFrame
        One row per account with a decisive row: ``node``, ``action``
        (``ban``, ``cleared``, ``lifted`` or ``confirmed``), ``at``, ``reason``.

    Notes
    -----
    Cost: one sort of the decisive rows, O(R log R).

    Examples
    --------
    >>> enf = pd.DataFrame({"node": [0, 0, 1], "action": ["ban", "cleared", "ban"],
    ...                     "at": pd.to_datetime(["2026-01-01", None, "2026-01-01"], utc=True),
    ...                     "reason": ["fraud", "", "spam"]})
    >>> log = pd.DataFrame({"node": [1], "decision": ["lifted"],
    ...                     "at": pd.to_datetime(["2026-02-01"], utc=True),
    ...                     "by": ["ana"], "reason": ["appeal won"]})
    >>> latest_decisive(enf, log)[["node", "action"]].values.tolist()
    [[0, 'cleared'], [1, 'lifted']]
    """
    enf = enforcement[enforcement["action"].isin(["ban", "cleared", "lifted"])]
    node = enf["node"].to_numpy(np.int64)
    action = enf["action"].astype(str).to_numpy()
    t = _ns(enf["at"])
    undated_clear = (t == _NEVER) & (action != "ban")
    if undated_clear.any():
        # as late as the account's latest dated row of the table (ties below: it wins)
        latest = pd.Series(t).groupby(node).transform("max").to_numpy()
        t = np.where(undated_clear, latest, t)
    parts = [pd.DataFrame({"node": node, "action": action, "t": t,
                           "tie": np.where(action == "ban", 0, 1),
                           "at": enf["at"].array, "reason": enf["reason"].astype(str).array})]
    if log is not None and len(log):
        parts.append(pd.DataFrame({"node": log["node"].to_numpy(np.int64),
                                   "action": log["decision"].astype(str).to_numpy(),
                                   "t": _ns(log["at"]), "tie": 2, "at": log["at"].array,
                                   "reason": log["reason"].astype(str).array}))
    rows = pd.concat(parts, ignore_index=True)
    # stable: between equal keys, the later row of the table or log wins
    rows = rows.sort_values(["node", "t", "tie"], kind="stable")
    out = rows.groupby("node", sort=True).tail(1)
    return out[["node", "action", "at", "reason"]].reset_index(drop=True)


def latest_logged(log: pd.DataFrame | None, n: int) -> dict[str, object]:
    """Per account (``n`` of them), its latest logged decision: ``decision``,
    ``decided_at``, ``decided_by`` (empty strings and NaT for accounts without one, so
    the columns read back the same from Parquet and CSV).

    Examples
    --------
    >>> log = pd.DataFrame({"node": [1, 1], "decision": ["cleared", "lifted"],
    ...                     "at": pd.to_datetime(["2026-02-02", "2026-02-01"], utc=True),
    ...                     "by": ["ana", "bo"], "reason": ["ok", "appeal"]})
    >>> latest_logged(log, 3)["decision"].tolist()
    ['', 'cleared', '']
    """
    decision = np.full(n, "", dtype=object)
    by = np.full(n, "", dtype=object)
    at = np.full(n, _NEVER, np.int64)
    if log is not None and len(log):
        t = _ns(log["at"])
        # stable sort by time: the last row per account is its latest (later line on ties)
        order = np.lexsort((np.arange(len(t)), t, log["node"].to_numpy(np.int64)))
        node = log["node"].to_numpy(np.int64)[order]
        last = np.r_[node[1:] != node[:-1], True] if len(node) else np.zeros(0, bool)
        pick = order[last]
        where = node[last]
        decision[where] = log["decision"].astype(str).to_numpy()[pick]
        by[where] = log["by"].astype(str).to_numpy()[pick]
        at[where] = t[pick]
    decided_at = pd.DatetimeIndex(at.view("M8[ns]")).tz_localize("UTC")
    return {"decision": pd.Series(decision, dtype=object),
            "decided_at": pd.Series(decided_at), "decided_by": pd.Series(by, dtype=object)}
