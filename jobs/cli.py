"""The ``ringfence`` command line.

Every command that reads input validates it with :func:`graph.load_tables`;
bad input is reported on stderr (file, column, row count, examples) and the
command exits with status 2. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

from graph.tables import InputError, InputWarning, load_tables

CONTRACT_HELP = """\
input contract (each table a .csv, .csv.gz or .parquet file, chosen by extension):
  accounts      account_id (non-empty, unique), optional created_at, any other
                columns as attributes (numbers are features, strings categories)
  identifiers   one row per observation: account_id, kind (lower-case token such
                as device, ip, card, phone, email, address), value, optional seen_at
  edges         src, dst, kind (e.g. transfer, message), optional weight (> 0,
                default 1), at, amount
  enforcement   account_id, action (ban | violation | cleared), optional at, reason
  Timestamps are ISO 8601 or Unix seconds, stored as UTC. Only accounts is always
  required; each command says which other tables it needs. Exact duplicate rows
  and self-loops are dropped with a warning. Full text: docs/input-contract.md

exit status: 0 success, 2 bad input or bad options, 1 unexpected error.
"""


class UsageError(Exception):
    """A bad option value: printed as one line, exit status 2."""


def _add_inputs(p: argparse.ArgumentParser, required: Sequence[str] = ("accounts",)) -> None:
    g = p.add_argument_group("input tables (.csv, .csv.gz or .parquet)")
    for name in ("accounts", "identifiers", "edges", "enforcement"):
        g.add_argument(f"--{name}", metavar="FILE", required=name in required,
                       help=f"the {name} table" + (" (required)" if name in required else ""))


def _load(args: argparse.Namespace):
    return load_tables(accounts=args.accounts, identifiers=args.identifiers,
                       edges=args.edges, enforcement=args.enforcement)


def _print_summary(summary: dict, stream=None) -> None:
    stream = stream or sys.stdout
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}"
                              for k, v in value.items()) or "-"
        elif isinstance(value, int):
            value = f"{value:,}"
        print(f"  {key:<{width}}  {value}", file=stream)


# --------------------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> int:
    tables = _load(args)
    print("input is valid:")
    for name, src in tables.sources.items():
        print(f"  {name:<12} {src}")
    _print_summary(tables.summary())
    for note in tables.notes:
        print(f"  note: {note}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from graph.synth import generate_platform, write_platform

    if args.accounts < 100:
        raise UsageError("--accounts must be at least 100")
    print(f"generating a synthetic platform of {args.accounts:,} accounts (seed {args.seed}) ...",
          file=sys.stderr, flush=True)
    platform = generate_platform(n_accounts=args.accounts, seed=args.seed)
    paths = write_platform(platform, args.out, format=args.format)
    print(f"wrote {len(paths)} files to {args.out}")
    _print_summary(platform.summary())
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": cmd_validate,
    "synth": cmd_synth,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ringfence",
        description="Find repeat offenders through the graph that links their accounts.",
        epilog=CONTRACT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="validate input tables and print what was read",
                       epilog=CONTRACT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_inputs(p)

    p = sub.add_parser("synth", help="generate a synthetic platform with ground truth")
    p.add_argument("--accounts", type=int, default=10_000, metavar="N",
                   help="number of accounts (default 10,000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv",
                   help="csv (gzip, the default) or parquet")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", InputWarning)  # the CLI reports them as notes instead
    try:
        return COMMANDS[args.command](args)
    except InputError as e:
        print(f"ringfence {args.command}: error: {e}", file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"ringfence {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
