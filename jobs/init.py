"""``ringfence init``: make this user's mask key, once.

The key (32 random bytes, as hex, permissions 0600) goes to
``$XDG_CONFIG_HOME/ringfence/mask.key`` (default ``~/.config/ringfence/mask.key``).
``flag`` and ``report`` find it there, so identifier masks are the same in every run,
and its holder can resolve a mask with ``ringfence unmask``. ``RINGFENCE_MASK_KEY``,
when set, still wins. An existing key is kept unless ``--force`` (masks of earlier runs
then no longer match, and cannot be resolved with the new key). The key is never printed.
"""

from __future__ import annotations

import argparse
import os

from ringfence.graph.keyfile import create_key
from ringfence.graph.masking import MASK_ENV, Masker, mask_key_path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """The ``init`` command's options."""
    p = subparsers.add_parser(
        "init", help="make the mask key once, so identifier masks last across runs",
        description=f"Write a random mask key to {mask_key_path()} (readable by you only). "
        f"flag and report mask identifier values with it ({MASK_ENV}, when set, wins), so "
        "a mask names the same identifier in every run, and ringfence unmask can resolve "
        "it. The key is never printed.")
    p.add_argument("--force", action="store_true",
                   help="replace an existing key (earlier runs' masks will no longer match)")


def run(args: argparse.Namespace) -> int:
    """Create the key file (refusing to replace one without ``--force``)."""
    from ringfence.jobs.cli import UsageError

    path = mask_key_path()
    if path.exists() and not args.force:
        raise UsageError(f"{path}: a mask key exists already (kept: earlier runs' masks use "
                         "it); give --force to replace it")
    key = create_key(path, replace=args.force)
    print(f"ringfence init: wrote a new mask key to {path} (fingerprint "
          f"{Masker(key).fingerprint()}; keep it secret)")
    if os.environ.get(MASK_ENV):
        print(f"  note: {MASK_ENV} is set and wins over the key file while it stays set")
    return 0
