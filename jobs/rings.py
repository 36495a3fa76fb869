"""``ringfence rings --run DIR --top N``: the rings to review next.

Active rings with undecided members first, then the other rings with
undecided members, then the rest, by ring risk within each
(:func:`ringfence.graph.rings.ring_priorities`): per ring its size, bans,
flagged and undecided members, last activity and risk. The counts are
computed from the run's ``scores`` and ``clusters`` tables, so older runs
(whose clusters table lacks them) work too.
"""

from __future__ import annotations

import argparse
import math

import pandas as pd

from ringfence.graph.problems import shown
from ringfence.graph.rings import ACTIVE_DAYS, ring_priorities
from ringfence.jobs.runs import RunFolder, RunFolderError, read_run

__all__ = ["add_parser", "run", "rings_table"]

COLUMNS = ("cluster_id", "size", "banned", "flagged", "undecided", "last_activity", "active",
           "risk")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rings", help="list the rings to review next: active, with undecided members",
        description="List a run's clusters in review order: active rings (a member did "
        "something in the last --active-days days before the run's as-of time) with "
        "undecided members (not banned, not cleared, no decision) first, then other rings "
        "with undecided members, then the rest; by ring risk within each.")
    p.add_argument("--run", required=True, metavar="DIR", help="a flag job's output directory")
    p.add_argument("--top", type=int, default=20, metavar="N",
                   help="how many rings to list (default 20)")
    p.add_argument("--active-days", type=float, default=ACTIVE_DAYS, metavar="D",
                   help=f"a ring is active when a member acted within D days of the run's "
                   f"as-of time (default {ACTIVE_DAYS:g})")


def rings_table(folder: RunFolder, active_days: float = ACTIVE_DAYS) -> pd.DataFrame:
    """The run's clusters in review order with the columns :data:`COLUMNS` (and the rest)."""
    as_of = pd.Timestamp(folder.run.get("as_of")) if folder.run.get("as_of") else None
    if as_of is None:
        raise RunFolderError(f"{folder.path}/run.json: no as_of recorded")
    return ring_priorities(folder.table("clusters"), folder.table("scores"), as_of,
                           active_days=active_days)


def _cell(x: object) -> str:
    if x is None or x is pd.NaT or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, pd.Timestamp):
        return f"{x:%Y-%m-%d}"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.3f}"
    return shown(x)


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise RunFolderError("--top must be at least 1")
    if not math.isfinite(args.active_days) or args.active_days <= 0:
        raise RunFolderError("--active-days must be a positive number")
    folder = read_run(args.run)
    table = rings_table(folder, args.active_days)
    waiting = int(((table["undecided"] > 0) & table["active"]).sum())
    print(f"{len(table):,} rings in {shown(folder.path)} (as of {shown(folder.run['as_of'])}); "
          f"{waiting:,} active with undecided members (active: within "
          f"{args.active_days:g} days)")
    top = table.head(args.top)
    rows = [[_cell(v.item() if hasattr(v, "item") and not isinstance(v, pd.Timestamp) else v)
             for v in r] for r in top[list(COLUMNS)].itertuples(index=False)]
    head = ["ring", "size", "banned", "flagged", "undecided", "last activity", "active", "risk"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    return 0
