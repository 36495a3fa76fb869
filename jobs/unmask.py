"""``ringfence unmask MASK --run DIR``: which identifier value a mask stands for.

For the key holder only: it masks the run's input identifier values with the mask key
(``RINGFENCE_MASK_KEY`` or the key file of ``ringfence init``), which must be the key the
run used, and prints the kind, the value and how many accounts use it of every value
whose mask matches (a mask is 4 hex digits, so on a large platform a few values may share
one; ``--account`` keeps those one account used). Before anything is printed, one JSON
line is appended to the audit file: who, when, which run and mask, how many values
matched; never the value.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ringfence.graph.keyfile import config_dir
from ringfence.graph.masking import MASK_ENV, Masker, mask_key_path
from ringfence.graph.problems import shown

__all__ = ["add_parser", "run", "resolve_mask", "audit_path"]

_MASK = re.compile(r"([^:\s]):([0-9a-f]{4})")


def audit_path() -> Path:
    """The default audit file, next to the key: ``$XDG_CONFIG_HOME/ringfence/unmask-audit.jsonl``."""
    return config_dir() / "unmask-audit.jsonl"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """The ``unmask`` command's options."""
    p = subparsers.add_parser(
        "unmask", help="show which identifier value a mask stands for (key holders only, "
        "audited)",
        description="Mask the identifier values of a run's inputs with the mask key "
        f"({MASK_ENV}, else {mask_key_path()}), which must be the run's, and print kind, "
        "value and the number of accounts using it for each value with this mask. Every "
        "use is logged first (who, when, run, mask; never the value) to the audit file.")
    p.add_argument("mask", metavar="MASK", help="a mask as the run shows it, e.g. c:1fd9")
    p.add_argument("--run", required=True, metavar="DIR", help="the flag run that showed it")
    p.add_argument("--account", metavar="ID", help="only values this account used")
    p.add_argument("--audit", metavar="FILE",
                   help=f"the audit file (JSON lines, appended; default {audit_path()})")


def resolve_mask(identifiers: pd.DataFrame, mask: str, masker: Masker,
                 account: str | None = None) -> pd.DataFrame:
    """The identifier values of ``identifiers`` that ``masker`` masks as ``mask``.

    Returns ``kind``, ``value``, ``accounts`` (how many accounts use it), most
    used first. Only the distinct values of the kinds whose initial the mask
    names are hashed.

    Notes
    -----
    Cost: one HMAC per distinct value of those kinds, after pandas' unique.

    Examples
    --------
    >>> ids = pd.DataFrame({"account_id": ["a", "b", "c"], "kind": "device",
    ...                     "value": ["a1b2c3", "a1b2c3", "zz"]})
    >>> resolve_mask(ids, "d:3c52", Masker(b"k")).values.tolist()
    [['device', 'a1b2c3', 2]]
    """
    initial = mask.split(":", 1)[0]
    kind = identifiers["kind"].astype(str)
    # only the kinds the mask's initial can name, as text
    rows = identifiers.loc[(kind.str[:1] == initial).to_numpy(),
                           ["account_id", "kind", "value"]].astype(str)
    mine = rows if account is None else rows[(rows["account_id"] == account).to_numpy()]
    pairs = mine[["kind", "value"]].drop_duplicates()
    masks = masker.mask_many(pairs["kind"].to_numpy(), pairs["value"].to_numpy())
    hit = pairs[masks == mask]
    if not len(hit):
        return pd.DataFrame({"kind": [], "value": [], "accounts": np.array([], np.int64)})
    used = rows.merge(hit, on=["kind", "value"])
    counts = used.drop_duplicates().groupby(["kind", "value"]).size().rename("accounts")
    return counts.reset_index().sort_values(["accounts", "kind", "value"],
                                            ascending=[False, True, True],
                                            ignore_index=True)


def _audit(path: Path, entry: dict) -> None:
    """Append one JSON line under an exclusive lock, flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def run(args: argparse.Namespace) -> int:
    """Check key and run, resolve the mask, audit, then print."""
    from ringfence.jobs.cli import UsageError
    from ringfence.jobs.decide import login_name
    from ringfence.jobs.runs import RunFolderError, read_run

    mask = args.mask.strip().lower()
    if not _MASK.fullmatch(mask):
        raise UsageError(f"{shown(args.mask)}: not a mask (a kind's initial, a colon and 4 hex "
                         "digits, e.g. c:1fd9)")
    masker = Masker()
    if not masker.persistent:
        raise UsageError(f"no mask key here ({MASK_ENV} is not set and {mask_key_path()} "
                         "does not exist): only the holder of the run's key can unmask")
    folder = read_run(args.run)
    recorded = (folder.run.get("masking") or {})
    if not recorded.get("persistent_key"):
        raise UsageError(f"{args.run}: the run masked with a random per-run key, which was "
                         "never kept: its masks cannot be resolved (run ringfence init before "
                         "flagging)")
    if recorded.get("key_fingerprint") != masker.fingerprint():
        raise UsageError(f"{args.run}: the run used another mask key (fingerprint "
                         f"{recorded.get('key_fingerprint')}, this key's is "
                         f"{masker.fingerprint()})")
    paths = folder.input_paths()
    if "identifiers" not in paths:
        raise RunFolderError(f"{args.run}: the run had no identifiers input to unmask from")
    from ringfence.graph.tables import load_tables

    tables = load_tables(paths["accounts"], identifiers=paths["identifiers"],
                         time_format=folder.run.get("time_format"))
    found = resolve_mask(tables.identifiers, mask, masker, args.account)
    audit = Path(args.audit) if args.audit else audit_path()
    try:
        _audit(audit, {"who": login_name(), "when": pd.Timestamp.now(tz="UTC").isoformat(),
                       "run": str(Path(args.run).resolve()), "run_id": folder.run.get("run_id"),
                       "mask": mask, "account": args.account, "matches": len(found)})
    except OSError as e:
        raise UsageError(f"--audit {audit}: cannot write the audit line ({e.strerror}); "
                         "nothing is shown without it") from None
    if not len(found):
        raise UsageError(f"{mask}: no identifier of the run's inputs has this mask"
                         + (f" among those of account {args.account!r}" if args.account else ""))
    if len(found) > 1:
        print(f"{len(found)} values share the mask {mask} (masks are 4 hex digits); "
              "--account narrows them")
    for kind, value, n in found.itertuples(index=False):
        print(f"{shown(kind)}\t{shown(value)}\t{n:,} account{'s' if n != 1 else ''}")
    return 0
