"""``ringfence decide``: record a reviewer's decision in the append-only decisions log.

::

    ringfence decide acct_0042 cleared --reason "known customer, ticket 881" --log decisions.csv
    ringfence flag ... --decisions decisions.csv      # the next run honours it

``cleared`` marks the account known good (it stops propagation and is a negative label),
``confirmed`` a reviewed offender (a seed and a positive label, like a ban), ``lifted`` a
ban that ended (no longer a seed, not a label either). The row is dated now (UTC) unless
``--at`` back-dates it; ``--by`` defaults to the login name.
"""

from __future__ import annotations

import argparse
import getpass
import os

import pandas as pd

from ringfence.graph.decisions import DECISIONS
from ringfence.graph.problems import shown
from ringfence.graph.text import invisible_characters, strip_whitespace

__all__ = ["add_parser", "login_name", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """The ``decide`` command's options."""
    p = subparsers.add_parser(
        "decide", help="record a reviewer's decision (cleared, confirmed, lifted) in a log",
        description="Append one dated row to the decisions log (a CSV file that is only "
        "ever appended to, under a lock, so reviewers deciding at once never mix rows). "
        "flag --decisions LOG reads it on top of the enforcement table: the latest "
        "decision or enforcement action per account is in force. cleared: known good "
        "(stops propagation, a negative label); confirmed: a reviewed offender (a seed and "
        "a positive label, like a ban); lifted: the ban ended (no longer a seed, no label).")
    p.add_argument("account_id", metavar="ACCOUNT_ID",
                   help="the account (put -- before an id that starts with -)")
    p.add_argument("decision", choices=DECISIONS, metavar="DECISION",
                   help="one of " + ", ".join(DECISIONS))
    p.add_argument("--reason", required=True, metavar="TEXT", help="why (required)")
    p.add_argument("--by", metavar="NAME", help="who decided (default: your login name)")
    p.add_argument("--log", required=True, metavar="FILE",
                   help="the decisions log (created with its header when absent)")
    p.add_argument("--at", metavar="TIME", help="when it was decided, to record a past "
                   "decision (ISO 8601 or Unix time; default now, UTC)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--run", metavar="DIR", help="refuse an account that is not in this run")
    g.add_argument("--accounts", metavar="FILE",
                   help="refuse an account that is not in this accounts table")


def _text(value: str, option: str) -> str:
    """A value as the log's reader will see it: stripped, no control characters."""
    s, _ = strip_whitespace(pd.Series([value], dtype=object))
    text = str(s.iloc[0])
    if invisible_characters(s)[0]:
        raise ValueError(f"{option} {shown(text)}: holds control or invisible characters "
                         "(line break, tab, ESC, zero-width space...); remove them")
    if not text:
        raise ValueError(f"{option}: empty; say it in words")
    return text


def login_name() -> str:
    """Who is running this (the login name; the user id where the system has no name)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no password entry (containers)
        return f"uid {os.getuid()}"


def _known(args: argparse.Namespace) -> pd.Index | None:
    if args.run:
        from ringfence.jobs.runs import read_run

        return pd.Index(read_run(args.run).table("scores")["account_id"].astype(str))
    if args.accounts:
        from ringfence.graph.tables import load_tables

        return pd.Index(load_tables(args.accounts).accounts["account_id"])
    return None


def run(args: argparse.Namespace) -> int:
    """Validate the decision, append it to the log, say what was recorded."""
    from ringfence.graph.timestamps import TimeError, parse_time
    from ringfence.jobs.cli import UsageError
    from ringfence.jobs.decisions_log import LogError, append_decision

    try:
        account = _text(args.account_id, "ACCOUNT_ID")
        reason = _text(args.reason, "--reason")
        by = _text(args.by if args.by is not None else login_name(), "--by")
    except ValueError as e:
        raise UsageError(str(e)) from None
    now = pd.Timestamp.now(tz="UTC")
    at = now
    if args.at is not None:
        try:
            at = parse_time(args.at)
        except TimeError as e:
            raise UsageError(f"--at: {e}") from None
        if at > now:
            raise UsageError(f"--at {shown(args.at)}: in the future; a decision is recorded "
                             "once it is made")
    known = _known(args)
    if known is not None and account not in known:
        where = f"the run at {args.run}" if args.run else args.accounts
        raise UsageError(f"account {account!r} is not in {shown(where)}")
    try:
        append_decision(args.log, account, args.decision, reason=reason, by=by, at=at)
    except (LogError, OSError) as e:
        raise UsageError(str(e)) from None
    print(f"ringfence decide: {shown(account)} {args.decision} by {shown(by)} at "
          f"{at.isoformat()} -> {shown(args.log)}")
    return 0
