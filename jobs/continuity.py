"""The flag job against the previous run: ids carried over, statuses, the queue.

``ringfence flag --previous DIR`` gives each identity and cluster the id it had
in the previous run when most of its members are the same (the rule:
:mod:`ringfence.graph.carry`), and adds to ``scores``:

``status_vs_previous``
    ``new`` (flagged now, not in the previous run's queue), ``still_flagged``
    (in both queues, score within ``score_tolerance``), ``rose`` / ``fell``
    (in both queues, score up / down by more than ``score_tolerance``,
    default 0.05), ``dropped`` (in the previous queue, not in this one),
    ``not_flagged`` (in neither). Without a previous run every flagged
    account is ``new``.
``previous_score``
    The account's score in the previous run (empty for accounts it did not have).
``first_flagged_at``
    The as-of time of the first run that flagged the account, carried from run
    to run (empty if never flagged).

The ``queue`` output holds the flagged accounts in rank order with those
columns (:func:`queue_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ringfence.graph.carry import carry_ids

if TYPE_CHECKING:
    from ringfence.graph.pipeline import GraphState
    from ringfence.jobs.runs import RunFolder

__all__ = ["STATUSES", "QUEUE_COLUMNS", "Previous", "carry_over", "carried_labels", "add_status",
           "queue_table", "largest_ids"]

STATUSES = ("new", "still_flagged", "rose", "fell", "dropped", "not_flagged")
#: the queue's columns, in order; those a run does not have are left out
QUEUE_COLUMNS = ("rank", "account_id", "score", "status_vs_previous", "previous_score",
                 "first_flagged_at", "identity_id", "cluster_id", "decision", "decided_at",
                 "decided_by", "reasons")


@dataclass
class Previous:
    """What the flag job needs of the previous run: its scores and record."""

    path: str
    run: dict[str, Any]
    scores: pd.DataFrame

    @classmethod
    def read(cls, folder: "RunFolder") -> "Previous":
        scores = folder.table("scores")
        return cls(path=str(folder.path.resolve()), run=folder.run, scores=scores)

    def reference(self) -> dict[str, Any]:
        """For ``run.json`` ``previous``: where it is and which run it was."""
        return {"path": self.path, "run_id": self.run.get("run_id"),
                "as_of": self.run.get("as_of")}


def largest_ids(run: dict[str, Any], scores: pd.DataFrame) -> dict[str, int]:
    """The largest identity and cluster id a run ever handed out (``id_counters``).

    Runs made before ``id_counters`` existed give the largest id in their scores.
    """
    counters = dict(run.get("id_counters") or {})
    for kind, column in (("identity", "identity_id"), ("cluster", "cluster_id")):
        if kind not in counters:
            ids = pd.to_numeric(scores.get(column, pd.Series([], dtype=float)), errors="coerce")
            counters[kind] = int(ids.max()) if ids.notna().any() else -1
    return {k: int(v) for k, v in counters.items()}


def _relabel_table(table: pd.DataFrame, column: str, old: np.ndarray,
                   new: np.ndarray) -> None:
    """Replace the ids in ``table[column]`` by the carried ones (the map old -> new)."""
    lookup = pd.Series(new, index=old)
    lookup = lookup[~lookup.index.duplicated()]
    table[column] = lookup.reindex(table[column].to_numpy()).to_numpy(np.int64)


def carried_labels(account_ids: np.ndarray, labels: dict[str, np.ndarray],
                   previous: Previous) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Each account's identity and cluster id carried over from the previous run.

    ``labels``: ``"identity"`` and ``"cluster"`` -> this run's label of each account
    (-1: in none), in the order of ``account_ids``. Returns the carried labels (same keys)
    and the new ``id_counters``. Only per-account arrays: both engines call it (beyond the
    driver with the labels collected from Spark). Cost: O(n log n) for n accounts
    (:func:`~ringfence.graph.carry.carry_ids`).
    """
    counters = largest_ids(previous.run, previous.scores)
    old = previous.scores
    old_of_new = pd.Index(old["account_id"].astype(str)).get_indexer(
        np.asarray(account_ids).astype(str))
    carried, out = {}, {}
    for kind, column in (("identity", "identity_id"), ("cluster", "cluster_id")):
        old_label = old[column].to_numpy(np.int64) if column in old.columns \
            else np.full(len(old), -1, np.int64)
        carried[kind], out[kind] = carry_ids(old_label, labels[kind], old_of_new,
                                             largest_id=counters.get(kind, -1))
    return carried, out


def carry_over(state: "GraphState", previous: Previous | None) -> dict[str, int]:
    """Give identities and clusters the previous run's ids, in place; the new ``id_counters``.

    Without a previous run the ids stay as the stages numbered them (by size).
    ``state.linking`` (``identity``, ``table``) and ``state.membership`` /
    ``state.clusters`` are relabelled together, so every output agrees.
    """
    ident, membership = state.linking.identity, state.membership
    if previous is None:
        return {"identity": int(ident.max()) if len(ident) else -1,
                "cluster": int(membership.max()) if len(membership) else -1}
    carried, out = carried_labels(state.graph.account_ids,
                                  {"identity": ident, "cluster": membership}, previous)
    grouped = ident >= 0
    _relabel_table(state.linking.table, "identity_id", ident[grouped],
                   carried["identity"][grouped])
    state.linking.identity = carried["identity"]
    grouped = membership >= 0
    _relabel_table(state.clusters, "cluster_id", membership[grouped],
                   carried["cluster"][grouped])
    state.membership = carried["cluster"]
    return out


def add_status(scores: pd.DataFrame, previous: Previous | None, as_of: pd.Timestamp,
               tolerance: float) -> pd.DataFrame:
    """``scores`` with ``status_vs_previous``, ``previous_score`` and ``first_flagged_at``.

    Examples
    --------
    >>> now = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "score": [0.9, 0.5, 0.2, 0.8],
    ...                     "flagged": [True, True, False, True]})
    >>> before = pd.DataFrame({"account_id": ["a", "b", "c"], "score": [0.7, 0.52, 0.6],
    ...                        "flagged": [True, True, True]})
    >>> prev = Previous("old", {"as_of": "2026-01-01T00:00:00+00:00"}, before)
    >>> out = add_status(now, prev, pd.Timestamp("2026-01-02", tz="UTC"), 0.05)
    >>> out["status_vs_previous"].tolist()
    ['rose', 'still_flagged', 'dropped', 'new']
    >>> out["first_flagged_at"].dt.strftime("%m-%d").tolist()
    ['01-01', '01-01', '01-01', '01-02']
    """
    flagged = scores["flagged"].to_numpy(bool)
    score = scores["score"].to_numpy(float)
    n = len(scores)
    first = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    prev_score = np.full(n, np.nan)
    was_flagged = np.zeros(n, bool)
    if previous is not None:
        old = previous.scores
        where = pd.Index(old["account_id"].astype(str)).get_indexer(
            scores["account_id"].astype(str))
        known = where >= 0
        prev_score[known] = old["score"].to_numpy(float)[where[known]]
        old_flagged = old["flagged"].to_numpy(bool) if "flagged" in old.columns \
            else np.zeros(len(old), bool)
        was_flagged[known] = old_flagged[where[known]]
        if "first_flagged_at" in old.columns:
            old_first = pd.to_datetime(old["first_flagged_at"], utc=True)
        else:  # a run from before first_flagged_at: its own time for its queue
            old_first = pd.Series(pd.Timestamp(previous.run.get("as_of"), tz="UTC")
                                  if previous.run.get("as_of") else pd.NaT,
                                  index=old.index).where(old_flagged)
            old_first = pd.to_datetime(old_first, utc=True)
        first[known] = old_first.array.take(where[known])
    first = first.mask(first.isna() & flagged, as_of)
    # rounded: 0.55 - 0.50 is a hair above 0.05 in binary, and must not count as a rise
    change = np.round(score - prev_score, 9)
    status = np.select(
        [flagged & ~was_flagged, flagged & (change > tolerance), flagged & (change < -tolerance),
         flagged, was_flagged],
        ["new", "rose", "fell", "still_flagged", "dropped"], "not_flagged")
    return scores.assign(status_vs_previous=status, previous_score=prev_score,
                         first_flagged_at=first.array)


def queue_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The flagged accounts in rank order (1 = review first), with :data:`QUEUE_COLUMNS`."""
    queue = scores[scores["flagged"].to_numpy(bool)].sort_values("rank", kind="stable")
    return queue[[c for c in QUEUE_COLUMNS if c in scores.columns]].reset_index(drop=True)
