"""``ringfence show ACCOUNT_ID --run DIR``: one account of a run, in the terminal.

Score, rank, status, reviewer decision (when the run read a decisions log),
its standing against the previous run (when it was made with ``--previous``),
identity and cluster, reasons and its identity links (identifier values
masked), all read from the run folder's tables: no input file is needed.
Everything that comes from the data is printed through
:func:`ringfence.graph.problems.shown`.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, TextIO

from ringfence.graph.problems import shown
from ringfence.jobs.runs import RunFolder, RunFolderError, read_run

__all__ = ["add_parser", "run", "account_row", "show_account"]

#: scores columns other jobs may add, printed when present (label, column)
OPTIONAL = (("decision", "decision"), ("decided at", "decided_at"), ("decided by", "decided_by"),
            ("vs previous run", "status_vs_previous"), ("first flagged", "first_flagged_at"),
            ("previous score", "previous_score"))
LINKS_SHOWN = 15


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "show", help="print one account of a run: score, rank, reasons, links, status",
        description="Print what a flag run says about one account: score, rank, status and "
        "decisions, identity and cluster, reasons and its identity links (identifier values "
        "masked). Reads only the run folder.")
    p.add_argument("account_id", metavar="ACCOUNT_ID",
                   help="the account (put -- before an id that starts with -)")
    p.add_argument("--run", required=True, metavar="DIR", help="a flag job's output directory")


def account_row(folder: RunFolder, account_id: str) -> dict[str, Any]:
    """The account's row of ``scores`` as a dict; :class:`RunFolderError` if it is not there."""
    scores = folder.table("scores")
    hit = scores.index[scores["account_id"].astype(str) == str(account_id)]
    if not len(hit):
        raise RunFolderError(f"account {str(account_id)!r} is not in the run at {folder.path}")
    return scores.loc[hit[0]].to_dict()


def _missing(x: Any) -> bool:
    try:
        return x is None or bool(x != x) or (isinstance(x, float) and math.isnan(x))
    except (TypeError, ValueError):
        return x is None


def _status(r: dict[str, Any]) -> str:
    bits = [name for name in ("banned", "cleared", "flagged") if bool(r.get(name, False))]
    v = r.get("violations", 0)
    if not _missing(v) and int(v):
        bits.append(f"{int(v)} violation{'s' if int(v) != 1 else ''}")
    return ", ".join(bits) or "not flagged, no ban, no clearance"


def show_account(folder: RunFolder, account_id: str, out: TextIO | None = None) -> None:
    """Print the account's page (see the module's text) to ``out`` (default stdout).

    Notes
    -----
    Cost: reading the run's tables once (scores, links, clusters, identities).
    """
    out = out or sys.stdout
    r = account_row(folder, account_id)
    scores = folder.table("scores")
    ranked = int(scores["rank"].notna().sum()) if "rank" in scores.columns else len(scores)
    rank = r.get("rank")

    def line(label: str, value: object) -> None:
        print(f"  {label:<16} {shown(value)}", file=out)

    print(f"account {shown(account_id)}  (run {shown(folder.path)}, as of "
          f"{shown(folder.run.get('as_of', '?'))})", file=out)
    line("score", f"{float(r['score']):.3f}" + ("" if _missing(rank) else
                                                f"   rank #{int(rank):,} of {ranked:,}"))
    line("status", _status(r))
    for label, col in OPTIONAL:
        if col in r and not _missing(r[col]) and str(r[col]) != "":
            value = r[col]
            line(label, f"{value:.3f}" if isinstance(value, float) else value)

    ident = r.get("identity_id", -1)
    if not _missing(ident) and int(ident) >= 0:
        members = scores[scores["identity_id"] == int(ident)]
        line("identity", f"{int(ident)}: {len(members)} accounts, "
             f"{int(members['banned'].sum())} banned, {int(members['flagged'].sum())} flagged")
    else:
        line("identity", "linked to nobody strongly enough")
    cl = r.get("cluster_id", -1)
    if not _missing(cl) and int(cl) >= 0:
        clusters = folder.table("clusters")
        row = clusters[clusters["cluster_id"] == int(cl)]
        text = f"{int(cl)}"
        if len(row):
            c = row.iloc[0]
            pos = int(row.index[0]) + 1
            bits = [f"{int(c['size'])} accounts", f"{int(c['banned'])} banned"]
            bits += [f"{int(c[k])} {k}" for k in ("flagged", "undecided") if k in c.index]
            bits.append(f"risk {float(c['risk']):.3f}")
            if "last_activity" in c.index and not _missing(c["last_activity"]):
                bits.append(f"last activity {c['last_activity']:%Y-%m-%d}")
            if "active" in c.index:
                bits.append("active" if bool(c["active"]) else "inactive")
            text += f" (#{pos} of {len(clusters):,} in review order): " + ", ".join(bits)
        line("cluster", text)
    else:
        line("cluster", "none")

    reasons = [x for x in str(r.get("reasons") or "").split("; ") if x.strip()]
    print("reasons:" if reasons else "reasons: none recorded (the run explains flagged "
          "accounts only)", file=out)
    for reason in reasons:
        print(f"  - {shown(reason)}", file=out)

    links = folder.table("links")
    a, b = links["account_a"].astype(str), links["account_b"].astype(str)
    mine = links[(a == str(account_id)) | (b == str(account_id))]
    if not len(mine):
        print("identity links: none", file=out)
        return
    mine = mine.assign(other=b.where(a == str(account_id), a)[mine.index])
    mine = mine.sort_values(["weight", "other"], ascending=[False, True])
    status = scores.set_index(scores["account_id"].astype(str))
    print(f"identity links ({len(mine)}, strongest first; identifier values masked):", file=out)
    for _, l in mine.head(LINKS_SHOWN).iterrows():
        o = status.loc[str(l["other"])].to_dict() if str(l["other"]) in status.index else {}
        cut = "  (cut: identity split)" if bool(l.get("cut", False)) else ""
        print(f"  {shown(l['other'])}  weight {float(l['weight']):.2f}  "
              f"shares {shown(l['kinds'])}, strongest {shown(l['top_kind'])} "
              f"{shown(l['top_identifier'])} (used by {int(l['top_shared_by'])})  "
              f"[{_status(o) if o else '?'}]{cut}", file=out)
    if len(mine) > LINKS_SHOWN:
        print(f"  ... and {len(mine) - LINKS_SHOWN} more", file=out)


def run(args: argparse.Namespace) -> int:
    show_account(read_run(args.run), args.account_id)
    return 0
