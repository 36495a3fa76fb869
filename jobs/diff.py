"""``ringfence diff OLD NEW``: what changed between two runs.

Three tables and a short summary on the terminal:

``queue_changes``
    One row per account that entered or left the queue: ``account_id``,
    ``change`` (``entered`` | ``left``), ``why`` (``new account``, ``was not
    flagged`` / ``banned``, ``cleared``, ``not in the new run``, ``below the
    queue``), old and new ``rank`` and ``score``, new ``identity_id`` and
    ``cluster_id``.
``group_changes``
    Identities and clusters that appeared, vanished, merged, split or were
    regrouped, and those kept whose members or id changed: ``level``
    (``identity`` | ``cluster``), ``change``, ``old_ids`` and ``new_ids``
    (space-separated), ``old_size``, ``new_size`` and ``shared`` (accounts in
    both). An old and a new group are related when they share at least half
    the members of the smaller of the two; related groups form one event
    (connected components of that relation): no old group, ``appeared``; no
    new group, ``vanished``; one and one, ``kept``; several old and one new,
    ``merged``; one old and several new, ``split``; several of both,
    ``regrouped``. Matching by members, not ids, the diff works for runs made
    without ``--previous`` too.
``score_changes``
    Accounts in both runs whose score moved by at least ``min_change``,
    biggest change first: ``account_id``, ``old_score``, ``new_score``,
    ``change``, ``old_rank``, ``new_rank``, ``flagged``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ringfence.graph.atomic import atomic_directory
from ringfence.graph.carry import overlap_counts
from ringfence.graph.problems import shown
from ringfence.jobs.runs import RunFolder, RunFolderError, read_run, write_table

__all__ = ["RunDiff", "diff_runs", "group_changes", "add_parser", "run"]

DIFF_TABLES = ("queue_changes", "group_changes", "score_changes")
_CHANGES = ("appeared", "vanished", "merged", "split", "regrouped", "kept")


@dataclass
class RunDiff:
    """The differences between two runs, as tables (see the module's docstring)."""

    old: str
    new: str
    queue_changes: pd.DataFrame
    group_changes: pd.DataFrame
    score_changes: pd.DataFrame
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def summary(self, top: int = 10) -> list[str]:
        """A few lines for the terminal, control characters escaped."""
        q = self.queue_changes
        entered, left = q[q["change"] == "entered"], q[q["change"] == "left"]
        lines = [f"ringfence diff: {shown(self.old)} -> {shown(self.new)}",
                 f"  queue: {len(entered):,} entered, {len(left):,} left, "
                 f"{self.counts['queue']['stayed']:,} stayed"]
        for level in ("identity", "cluster"):
            c = self.counts[level]
            text = ", ".join(f"{c[k]:,} {k}" for k in _CHANGES if c.get(k)) or "none"
            if c.get("kept_changed"):
                text += f" ({c['kept_changed']:,} kept with other members or another id)"
            lines.append(f"  {level} groups: {text}")
        for title, rows in (("entered the queue", entered), ("left the queue", left)):
            if len(rows):
                lines.append(f"  {title}:")
                for r in rows.head(top).itertuples():
                    rank = r.new_rank if r.change == "entered" else r.old_rank
                    lines.append(f"    #{_int(rank):<5} {shown(r.account_id)}  ({shown(r.why)})")
                if len(rows) > top:
                    lines.append(f"    ... {len(rows) - top:,} more")
        s = self.score_changes.head(top)
        if len(s):
            lines.append("  biggest score changes:")
            for r in s.itertuples():
                lines.append(f"    {shown(r.account_id)}  {r.old_score:.3f} -> "
                             f"{r.new_score:.3f} ({r.change:+.3f})")
        return lines

    def write(self, out: str | Path, fmt: str = "csv") -> Path:
        """Write the three tables into ``out`` (atomically), as CSV or Parquet."""
        with atomic_directory(out) as tmp:
            for name in DIFF_TABLES:
                write_table(getattr(self, name), tmp, name, fmt)
        return Path(out)


def _int(value) -> str:
    return "-" if pd.isna(value) else str(int(value))


def group_changes(old: pd.DataFrame, new: pd.DataFrame, column: str,
                  level: str) -> pd.DataFrame:
    """The group events between two scores tables for one id column (module docstring).

    Notes
    -----
    Cost: O(n log n) for n accounts (a sparse contingency table and the
    connected components of its substantial pairs).

    Examples
    --------
    >>> old = pd.DataFrame({"account_id": list("abcdef"), "g": [1, 1, 2, 2, 3, 3]})
    >>> new = pd.DataFrame({"account_id": list("abcdefx"), "g": [5, 5, 5, 5, 6, 7, 8]})
    >>> group_changes(old, new, "g", "cluster")[["change", "old_ids", "new_ids"]].values.tolist()
    [['appeared', '', '8'], ['merged', '1 2', '5'], ['split', '3', '6 7']]
    """
    where = pd.Index(old["account_id"].astype(str)).get_indexer(new["account_id"].astype(str))
    old_ids, old_sizes, new_ids, new_sizes, pairs, shared = overlap_counts(
        old[column].to_numpy(np.int64), new[column].to_numpy(np.int64), where)
    n_old, n_new = len(old_ids), len(new_ids)
    ni, oi = pairs[:, 0], pairs[:, 1]
    related = shared >= 0.5 * np.minimum(old_sizes[oi], new_sizes[ni])
    ni, oi, shared = ni[related], oi[related], shared[related]
    graph = sp.coo_matrix((np.ones(len(ni)), (oi, n_old + ni)),
                          shape=(n_old + n_new, n_old + n_new))
    _, comp = connected_components(graph, directed=False)
    nodes = pd.DataFrame({
        "comp": comp, "is_old": np.r_[np.ones(n_old, bool), np.zeros(n_new, bool)],
        "id": np.r_[old_ids, new_ids], "size": np.r_[old_sizes, new_sizes]})
    nodes = nodes.sort_values(["comp", "id"], kind="stable")
    ids_text = nodes["id"].astype(str)
    per = pd.DataFrame({
        "n_old": nodes.groupby("comp")["is_old"].sum(),
        "n_new": nodes.groupby("comp")["is_old"].size() - nodes.groupby("comp")["is_old"].sum(),
        "old_ids": ids_text[nodes["is_old"]].groupby(nodes["comp"][nodes["is_old"]]).agg(" ".join),
        "new_ids": ids_text[~nodes["is_old"]].groupby(
            nodes["comp"][~nodes["is_old"]]).agg(" ".join),
        "old_size": nodes["size"].where(nodes["is_old"], 0).groupby(nodes["comp"]).sum(),
        "new_size": nodes["size"].where(~nodes["is_old"], 0).groupby(nodes["comp"]).sum(),
    })
    per["shared"] = pd.Series(shared, index=comp[oi]).groupby(level=0).sum()
    per = per.fillna({"old_ids": "", "new_ids": "", "shared": 0})
    per["shared"] = per["shared"].astype(np.int64)
    n_o, n_n = per["n_old"].to_numpy(), per["n_new"].to_numpy()
    per["change"] = np.select(
        [n_o == 0, n_n == 0, (n_o == 1) & (n_n == 1), n_n == 1, n_o == 1],
        ["appeared", "vanished", "kept", "merged", "split"], "regrouped")
    unchanged = ((per["change"] == "kept") & (per["old_ids"] == per["new_ids"])
                 & (per["shared"] == per["old_size"]) & (per["shared"] == per["new_size"]))
    per.attrs["kept_changed"] = int(((per["change"] == "kept") & ~unchanged).sum())
    out = per[~unchanged].copy()
    out.insert(0, "level", level)
    out["rank"] = pd.Categorical(out["change"], categories=list(_CHANGES), ordered=True)
    out = out.sort_values(["rank", "new_size", "old_size"], ascending=[True, False, False],
                          kind="stable")
    columns = ["level", "change", "old_ids", "new_ids", "old_size", "new_size", "shared"]
    result = out[columns].reset_index(drop=True)
    result.attrs["counts"] = {**per["change"].value_counts().to_dict(),
                              "kept_changed": per.attrs["kept_changed"]}
    return result


def _queue_changes(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    both = old.merge(new, on="account_id", how="outer", suffixes=("_old", "_new"),
                     indicator=True)
    was = both["flagged_old"].fillna(False).astype(bool).to_numpy()
    now = both["flagged_new"].fillna(False).astype(bool).to_numpy()
    in_old = both["_merge"].isin(["both", "left_only"]).to_numpy()
    in_new = both["_merge"].isin(["both", "right_only"]).to_numpy()
    banned = both.get("banned_new", pd.Series(False, index=both.index)).fillna(False)
    cleared = both.get("cleared_new", pd.Series(False, index=both.index)).fillna(False)
    why = np.select(
        [now & ~in_old, now, ~in_new, banned.astype(bool).to_numpy(),
         cleared.astype(bool).to_numpy()],
        ["new account", "was not flagged", "not in the new run", "banned", "cleared"],
        "below the queue")
    rows = both[now != was].assign(change=np.where(now, "entered", "left")[now != was],
                                   why=why[now != was])
    out = pd.DataFrame({
        "account_id": rows["account_id"], "change": rows["change"], "why": rows["why"],
        "old_rank": rows.get("rank_old"), "new_rank": rows.get("rank_new"),
        "old_score": rows["score_old"], "new_score": rows["score_new"],
        "identity_id": rows.get("identity_id_new"), "cluster_id": rows.get("cluster_id_new"),
    })
    for c in ("old_rank", "new_rank", "identity_id", "cluster_id"):
        out[c] = pd.array(pd.to_numeric(out[c]).round(), dtype="Int64")
    # entered by new rank, left by old rank
    out["_order"] = np.where(out["change"] == "entered", out["new_rank"].fillna(0),
                             out["old_rank"].fillna(0))
    out = out.sort_values(["change", "_order", "account_id"], kind="stable")
    return out.drop(columns="_order").reset_index(drop=True), int((now & was).sum())


def _score_changes(old: pd.DataFrame, new: pd.DataFrame, min_change: float) -> pd.DataFrame:
    both = old.merge(new, on="account_id", how="inner", suffixes=("_old", "_new"))
    change = both["score_new"] - both["score_old"]
    out = pd.DataFrame({"account_id": both["account_id"], "old_score": both["score_old"],
                        "new_score": both["score_new"], "change": change,
                        "old_rank": both.get("rank_old"), "new_rank": both.get("rank_new"),
                        "flagged": both["flagged_new"].astype(bool)})
    out = out[change.abs().to_numpy() >= min_change]
    order = np.lexsort((out["account_id"].to_numpy(dtype=str), -out["change"].abs().to_numpy()))
    return out.iloc[order].reset_index(drop=True)


_SCORE_COLUMNS = ("account_id", "score", "rank", "flagged", "identity_id", "cluster_id",
                  "banned", "cleared")


def _scores(folder: RunFolder) -> pd.DataFrame:
    s = folder.table("scores")
    missing = [c for c in ("flagged", "identity_id", "cluster_id") if c not in s.columns]
    if missing:
        raise RunFolderError(f"{folder.path}: its scores table has no column "
                             f"{', '.join(map(repr, missing))} (not a flag run?)")
    s = s[[c for c in _SCORE_COLUMNS if c in s.columns]].copy()
    s["account_id"] = s["account_id"].astype(str)
    return s


def diff_runs(old: RunFolder | str | Path, new: RunFolder | str | Path, *,
              min_change: float = 0.01) -> RunDiff:
    """Compare two run folders: queue, identities and clusters, scores.

    Raises
    ------
    RunFolderError
        A folder is not a run (or its scores cannot be read).

    Examples
    --------
    >>> import tempfile
    >>> from ringfence.graph.synth import generate_platform
    >>> from ringfence.graph.tables import load_tables
    >>> from ringfence.jobs.flag import run_flag
    >>> from ringfence.jobs.runs import write_run
    >>> p = generate_platform(n_accounts=1000, seed=1)
    >>> t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    >>> d = tempfile.mkdtemp()
    >>> a = write_run(run_flag(t, scorer="propagation", review_capacity=10), d + "/a")
    >>> b = write_run(run_flag(t, scorer="propagation", review_capacity=12), d + "/b")
    >>> diff = diff_runs(a, b)
    >>> diff.queue_changes["change"].tolist(), len(diff.group_changes)
    (['entered', 'entered'], 0)
    """
    old_f = old if isinstance(old, RunFolder) else read_run(old)
    new_f = new if isinstance(new, RunFolder) else read_run(new)
    o, n = _scores(old_f), _scores(new_f)
    queue, stayed = _queue_changes(o, n)
    groups = [group_changes(o, n, "identity_id", "identity"),
              group_changes(o, n, "cluster_id", "cluster")]
    counts = {"queue": {"entered": int((queue["change"] == "entered").sum()),
                        "left": int((queue["change"] == "left").sum()), "stayed": stayed},
              "identity": groups[0].attrs["counts"], "cluster": groups[1].attrs["counts"]}
    return RunDiff(old=str(old_f.path), new=str(new_f.path), queue_changes=queue,
                   group_changes=pd.concat(groups, ignore_index=True),
                   score_changes=_score_changes(o, n, min_change), counts=counts)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "diff", help="what changed between two flag runs: queue, identities, clusters, scores",
        description="Compare two run folders: accounts that entered and left the queue (and "
        "why), identities and clusters that appeared, vanished, merged or split (matched by "
        "their members, so runs without --previous compare too), and the biggest score "
        "changes. Prints a summary; --out writes the tables.")
    p.add_argument("old", metavar="OLD", help="the earlier run's folder")
    p.add_argument("new", metavar="NEW", help="the later run's folder")
    p.add_argument("--out", metavar="DIR", help="write queue_changes, group_changes and "
                   "score_changes here (replaced atomically)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv",
                   help="table format for --out (default csv)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="accounts listed per section of the summary (default 10)")
    p.add_argument("--min-change", type=float, default=0.01, metavar="X",
                   help="score changes smaller than this are left out (default 0.01)")


def run(args: argparse.Namespace) -> int:
    from ringfence.jobs.cli import UsageError, _check_out_folder

    if args.top < 0:
        raise UsageError("--top must be at least 0")
    if not 0 <= args.min_change <= 1:
        raise UsageError("--min-change must be between 0 and 1")
    if args.out:
        _check_out_folder(args.out)
    diff = diff_runs(args.old, args.new, min_change=args.min_change)
    for line in diff.summary(args.top):
        print(line)
    if args.out:
        diff.write(args.out, args.format)
        print(f"wrote {shown(args.out)}", file=sys.stderr)
    return 0
