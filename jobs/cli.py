"""The ``ringfence`` command line.

Every command that reads input validates it with :func:`graph.load_tables`;
bad input is reported on stderr (file, column, row count, examples) and the
command exits with status 2. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Sequence

from ringfence import __version__
from ringfence.graph.params import ConfigError
from ringfence.graph.problems import shown
from ringfence.graph.tables import InputError, InputWarning, load_tables
from ringfence.graph.timestamps import TimeError, parse_time
from ringfence.jobs import decide, init, unmask
from ringfence.jobs import neighbours as neighbours_command
from ringfence.jobs import rings as rings_command
from ringfence.jobs import show as show_command
from ringfence.jobs import diff as diff_command
from ringfence.jobs.process import import_igraph_without_pyplot, keep_freed_memory
from ringfence.jobs.runs import RunFolderError

CONTRACT_HELP = """\
input contract (each table a .csv, .csv.gz or .parquet file, chosen by extension):
  accounts      account_id (non-empty, unique), optional created_at, any other
                columns as attributes (numbers are features, strings categories)
  identifiers   one row per observation: account_id, kind (lower-case token such
                as device, ip, card, phone, email, address), value, optional seen_at
  edges         src, dst, kind (e.g. transfer, message), optional weight (> 0,
                default 1), at, amount
  enforcement   account_id, action (ban | violation | cleared | lifted), optional
                at, reason
  link_decisions (optional) reviewers' verdicts on pairs: account_a, account_b,
                decision (same_actor | different_actors), decided_at, decided_by,
                optional reason
  Timestamps are ISO 8601 (no zone = UTC) or Unix time (seconds, milliseconds,
  ... chosen per column by magnitude), 1970-01-01 .. 2100-01-01, stored as UTC;
  other text such as 03/01/2025 needs --time-format (e.g. %d/%m/%Y). Only
  accounts is always required; each command says which other tables it needs.
  Exact duplicate rows and self-loops are dropped with a warning.
  Full text: docs/input-contract.md

exit status: 0 success, 2 bad input or bad options, 1 unexpected error.
"""


class UsageError(Exception):
    """A bad option value: printed as one line, exit status 2."""


def _add_inputs(p: argparse.ArgumentParser, required: Sequence[str] = ("accounts",)) -> None:
    g = p.add_argument_group("input tables (.csv, .csv.gz or .parquet)")
    for name in ("accounts", "identifiers", "edges", "enforcement"):
        g.add_argument(f"--{name}", metavar="FILE", required=name in required,
                       help=f"the {name} table" + (" (required)" if name in required else ""))
    g.add_argument("--link-decisions", metavar="FILE",
                   help="optional reviewers' decisions on pairs of accounts (same_actor or "
                   "different_actors, dated and attributed)")
    g.add_argument("--time-format", metavar="FMT",
                   help="strptime format of time text that is not ISO 8601, for every time "
                   "column, e.g. %%d/%%m/%%Y (default: ISO 8601 or Unix time only)")


def _load(args: argparse.Namespace):
    return load_tables(accounts=args.accounts, identifiers=args.identifiers,
                       edges=args.edges, enforcement=args.enforcement,
                       link_decisions=args.link_decisions, time_format=args.time_format,
                       decisions=getattr(args, "decisions", None))


def _time_option(args: argparse.Namespace, option: str):
    """The time given to ``option`` (``--as-of``, ``--cutoff``), read before any table is."""
    text = getattr(args, option.lstrip("-").replace("-", "_"), None)
    if text is None:
        return None
    try:
        return parse_time(text, getattr(args, "time_format", None))
    except TimeError as e:
        raise UsageError(f"{option}: {e}") from None


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


def _print_warnings(texts: Sequence[str]) -> None:
    """What the input leaves uncertain (an undated clearance): on stderr, escaped."""
    for text in texts:
        print("warning: " + "\n".join(shown(line) for line in text.split("\n")),
              file=sys.stderr)


def _print_notes(notes: Sequence[str], stream=None) -> None:
    """What loading repaired or ignored (dropped duplicates, stripped whitespace, ...)."""
    for note in notes:
        print(f"  note: {shown(note)}", file=stream or sys.stdout)


# --------------------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> int:
    tables = _load(args)
    print("input is valid:")
    for name, src in tables.sources.items():
        print(f"  {name:<12} {src}")
    _print_summary(tables.summary())
    _print_notes(tables.notes)
    _print_warnings(tables.warnings)
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from ringfence.graph.synth import generate_platform, write_platform

    if args.accounts < 100:
        raise UsageError("--accounts must be at least 100")
    if not 0.0 <= args.link_labels <= 1.0:
        raise UsageError("--link-labels must be a fraction in [0, 1]")
    _check_out_folder(args.out)
    print(f"generating a synthetic platform of {args.accounts:,} accounts (seed {args.seed}) ...",
          file=sys.stderr, flush=True)
    with _threads(args):
        platform = generate_platform(n_accounts=args.accounts, seed=args.seed,
                                     link_labels=args.link_labels)
        paths = write_platform(platform, args.out, format=args.format)
    print(f"wrote {len(paths)} files to {args.out}")
    _print_summary(platform.summary())
    return 0


def _print_top(result, n: int) -> None:
    top = result.top(n)
    if not len(top):
        return
    print(f"\nthe {len(top)} highest-risk accounts:")
    for _, row in top.iterrows():
        print(f"  #{row['rank']:<4} {shown(row['account_id'])}  score {row['score']:.3f}")
        for reason in str(row["reasons"]).split("; "):
            print(f"         - {shown(reason)}")


def _job_config(args: argparse.Namespace, **job: object):
    from ringfence.jobs.config import JobConfig

    return JobConfig.load(args.config, seed=args.seed, as_of=_time_option(args, "--as-of"),
                          **job)


def _model_settings(args: argparse.Namespace) -> dict:
    if args.model is not None and args.no_model:
        raise UsageError("--model and --no-model exclude each other")
    if args.model is not None:
        if not Path(args.model).exists():
            raise UsageError(f"{args.model}: model file not found")
        from ringfence.models.model import load_model

        try:  # before the data loads: an unsigned or foreign file is refused at once
            load_model(args.model)
        except ValueError as e:
            raise UsageError(str(e)) from None
    return {"model": args.model, "use_model": False if args.no_model else None,
            "max_model_age_days": getattr(args, "max_model_age", None)}


def _nearest_folder(path: Path, option: str) -> Path:
    """The folder ``path`` would be made in: its nearest existing ancestor, checked writable.

    Probing with a real temporary file, not :func:`os.access`: it also sees
    read-only mounts and holds for root.
    """
    anc = path.parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise UsageError(f"{option} {path}: {anc} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=anc).close()
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot write in {anc} ({e.strerror})") from None
    return anc


def _check_out_folder(out: str, option: str = "--out") -> None:
    """Refuse, before any work, an output folder that cannot be written."""
    p = Path(out).resolve()
    if p.exists() and not p.is_dir():
        raise UsageError(f"{option} {out}: exists and is not a folder (give a folder to "
                         "write the outputs in)")
    _nearest_folder(p, option)


def _check_out_file(out: str, option: str = "--out") -> None:
    """Refuse, before any work, an output file that cannot be written."""
    p = Path(out).resolve()
    if p.is_dir():
        raise UsageError(f"{option} {out}: is a folder (give the HTML file to write, "
                         "e.g. case.html)")
    _nearest_folder(p, option)


def _threads(args: argparse.Namespace):
    """The thread limits of a computing command (``--threads``, else ``RINGFENCE_THREADS``,
    else the available CPUs capped by ``OMP_NUM_THREADS``)."""
    from ringfence.graph.cpus import default_threads, thread_limits

    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be at least 1")
    if args.threads is None:
        try:
            return thread_limits(default_threads())
        except ValueError as e:
            raise UsageError(str(e)) from None
    return thread_limits(args.threads)


def _previous_run(path: str | None):
    """``--previous``: a run folder whose scores can be read, checked before any work."""
    from ringfence.jobs.runs import read_run

    if path is None:
        return None
    folder = read_run(path)
    folder.table("scores")
    return folder


def cmd_flag(args: argparse.Namespace) -> int:
    import_igraph_without_pyplot()
    from ringfence.graph.progress import Stages
    from ringfence.jobs.flag import flag_files

    paths = {k: getattr(args, k) for k in ("accounts", "identifiers", "edges", "enforcement",
                                           "decisions", "link_decisions")}
    if paths["enforcement"] is None:
        raise UsageError("--enforcement is required for the flag job (bans and clearances)")
    if paths["identifiers"] is None and paths["edges"] is None:
        raise UsageError("the flag job needs --identifiers or --edges (or both)")
    _check_out_folder(args.out)
    previous = _previous_run(args.previous)
    if args.spark_master is not None and args.engine != "spark":
        raise UsageError("--spark-master needs --engine spark")
    config = _job_config(args, review_capacity=args.review_capacity, threshold=args.threshold,
                         format=args.format, decisions=args.decisions, engine=args.engine,
                         spark_master=args.spark_master, **_model_settings(args))
    paths["decisions"] = config.decisions
    stages = Stages(stream=sys.stderr, quiet=args.quiet)
    from ringfence.models.model import FeatureMismatchError

    with _threads(args):
        try:
            result = flag_files(paths, args.out, config, stages=stages,
                                time_format=args.time_format, previous=previous)
        except FeatureMismatchError as e:  # the inputs lack what the saved model needs
            raise UsageError(str(e)) from None
        except RuntimeError as e:  # pyspark or Java missing, or more links than the driver takes
            if type(e).__name__ not in ("SparkUnavailable", "DriverLimitError"):
                raise
            raise UsageError(str(e)) from None
    print(f"ringfence flag: wrote {args.out}")
    _print_summary(result.summary())
    _print_notes(result.run["input_notes"])
    _print_warnings(result.run["warnings"])
    _print_top(result, args.top)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import_igraph_without_pyplot()
    from ringfence.graph.pipeline import run_pipeline
    from ringfence.graph.progress import Stages
    from ringfence.models.model import save_model
    from ringfence.models.training import fit_model

    config = _job_config(args)
    stages = Stages(stream=sys.stderr, quiet=args.quiet)
    with stages.stage("load and validate"):
        tables = _load(args)
        tables.require("accounts", "enforcement", any_of=("identifiers", "edges"))
    with _threads(args):
        state = run_pipeline(tables, config.graph, as_of=config.as_of, stages=stages)
        try:
            model, X, summary = fit_model(tables, state, seed=config.graph.seed, stages=stages)
        except ValueError as e:
            raise UsageError(str(e)) from None
    summary.pop("train_nodes")
    summary["inputs"] = dict(tables.sources)
    summary["graph_config"] = config.graph.to_dict()
    path, card = save_model(model, args.model_out, training=summary)
    print(f"ringfence train: wrote {path} and {card}")
    m = model.cv_metrics_
    print(f"  trained on {m['positives']:,} banned and {m['negatives']:,} cleared accounts, "
          f"{X.shape[1]} features")
    print(f"  cross-validated ROC-AUC {m['roc_auc']:.3f}, average precision "
          f"{m['average_precision']:.3f}, Brier {m['brier']:.4f}")
    _print_notes(tables.notes)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from ringfence.jobs.runs import read_table
    from ringfence.models.evaluate import evaluate_scores, format_report

    scores = read_table(args.scores, "scores")
    truth_path = Path(args.truth)
    if not truth_path.exists():
        raise UsageError(f"{truth_path}: file not found")
    truth = pd.read_parquet(truth_path) if truth_path.suffix == ".parquet" else pd.read_csv(
        truth_path, dtype={"account_id": str})
    try:
        metrics = evaluate_scores(scores, truth, label=args.label, split=args.split,
                                  capacity=args.capacity)
    except ValueError as e:
        raise UsageError(f"{truth_path}: {e}") from None
    print(format_report(metrics))
    if "actor_id" in truth.columns and "identity_id" in scores.columns:
        from ringfence.jobs.identity_report import identity_quality_of_run

        print(identity_quality_of_run(args.scores, scores, truth))
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    import_igraph_without_pyplot()
    from ringfence.graph.progress import Stages
    from ringfence.jobs.flag import run_flag
    from ringfence.jobs.runs import write_run
    from ringfence.models.evaluate import evaluate_scores, format_report, time_split

    cutoff = _time_option(args, "--cutoff")
    if args.out:
        _check_out_folder(args.out)
    config = _job_config(args, review_capacity=args.review_capacity, **_model_settings(args))
    stages = Stages(stream=sys.stderr, quiet=args.quiet)
    with stages.stage("load and validate"):
        tables = _load(args)
        tables.require("accounts", "enforcement", any_of=("identifiers", "edges"))
    try:
        before, outcome = time_split(tables, cutoff)
    except ValueError as e:
        raise UsageError(str(e)) from None
    _check_cutoff(cutoff, tables, before, outcome)
    print(f"known at {cutoff:%Y-%m-%d}: {len(before.accounts):,} accounts, "
          f"{int((before.enforcement['action'] == 'ban').sum()):,} bans; "
          f"banned afterwards: {int(outcome['banned'].sum()):,} accounts")
    with _threads(args):
        result = run_flag(before, config.replace(as_of=cutoff), stages=stages)
    if args.out:
        write_run(result, args.out)
    metrics = evaluate_scores(result.scores, outcome, label="banned")
    print(f"scoring: {result.summary()['scoring']}")
    print(format_report(metrics))
    _print_notes(tables.notes)
    return 0


def _check_cutoff(cutoff, tables, before, outcome) -> None:
    """Refuse a cut-off that leaves nothing to learn from or nothing to measure."""
    enf = tables.enforcement
    bans = enf.loc[enf["action"] == "ban", "at"].dropna()
    when = f"--cutoff {cutoff.isoformat()}"
    if not len(before.accounts) or not (before.enforcement["action"] == "ban").any():
        first = bans.min().isoformat() if len(bans) else "none"
        raise UsageError(f"{when} is before the data: no account and ban known by then "
                         f"(first ban with a time: {first}); choose a later cut-off")
    if not outcome["banned"].any():
        last = bans.max().isoformat() if len(bans) else "none"
        raise UsageError(f"{when} leaves nothing to measure: no account is banned after it "
                         f"(last ban with a time: {last}); choose an earlier cut-off")


def cmd_report(args: argparse.Namespace) -> int:
    from ringfence.jobs.report import ReportError, write_case_report
    from ringfence.jobs.runs import read_run

    if args.hops < 0:
        raise UsageError("--hops must be at least 0")
    if args.max_nodes < 1:
        raise UsageError("--max-nodes must be at least 1")
    _check_out_file(args.out)
    folder = read_run(args.run)
    if not (folder.table("scores")["account_id"].astype(str) == str(args.account_id)).any():
        raise UsageError(f"account {str(args.account_id)!r} is not in the run at {args.run}")
    result = folder.result()
    try:
        path = write_case_report(result, args.account_id, args.out, hops=args.hops,
                                 max_nodes=args.max_nodes)
    except ReportError as e:
        raise UsageError(str(e)) from None
    print(f"ringfence report: wrote {shown(path)}")
    _print_notes(result.run["loaded_from"]["notes"])
    return 0


# --------------------------------------------------------------------------- neo4j


def _neo4j_settings(args: argparse.Namespace):
    from ringfence.graph.neo4j import Neo4jSettings

    # the password only ever comes from NEO4J_PASSWORD (never argv: ps, shell history)
    return Neo4jSettings.from_env(uri=args.uri, user=args.user, database=args.database)


def cmd_neo4j_sync(args: argparse.Namespace) -> int:
    from ringfence.graph.neo4j import Neo4jConnectionError
    from ringfence.jobs.neo4j_sync import sync_run_dir

    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    try:
        report = sync_run_dir(_neo4j_settings(args), args.run, batch_size=args.batch_size,
                              progress=not args.quiet, prune=not args.no_prune,
                              full=args.full, state=args.state)
    except Neo4jConnectionError as e:
        raise UsageError(str(e)) from None
    lines = report.lines()
    print(f"ringfence neo4j sync: {lines[0]}")
    print("\n".join(lines[1:]))
    return 0


def cmd_neo4j_load(args: argparse.Namespace) -> int:
    from ringfence.graph.neo4j import Neo4jConnectionError, load_from_neo4j, write_tables

    _check_out_folder(args.out)
    try:
        tables = load_from_neo4j(_neo4j_settings(args))
    except Neo4jConnectionError as e:
        raise UsageError(str(e)) from None
    paths = write_tables(tables, args.out, args.format)
    print(f"ringfence neo4j load: wrote {', '.join(p.name for p in paths.values())} "
          f"to {args.out}")
    _print_summary(tables.summary())
    return 0


def cmd_neo4j_export_bulk(args: argparse.Namespace) -> int:
    from ringfence.graph.neo4j.bulk import STATE_FILE
    from ringfence.jobs.neo4j_sync import export_run_dir

    import re

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9.-]{0,62}", args.database_name):
        raise UsageError(f"--database-name {args.database_name!r}: a Neo4j database name is "
                         "letters, digits, dots and dashes, starting with a letter")
    _check_out_folder(args.out)
    try:
        export = export_run_dir(args.run, args.out, compress=not args.no_gzip)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"ringfence neo4j export-bulk: {export.rows:,} rows "
          f"({len(export.nodes)} node and {len(export.relationships)} relationship files) "
          f"in {export.seconds:.1f} s ({export.rows_per_s:,.0f} rows/s) to {shown(args.out)}")
    print("import them into an empty database (Neo4j stopped), from that folder:")
    print("  " + export.command(args.database_name))
    print("then the nightly sync sends only what changed since this run:")
    print(f"  ringfence neo4j sync --run NEXT_RUN --state "
          f"{shown(str(Path(args.out) / STATE_FILE))}")
    return 0


def cmd_neo4j(args: argparse.Namespace) -> int:
    return {"sync": cmd_neo4j_sync, "load": cmd_neo4j_load,
            "export-bulk": cmd_neo4j_export_bulk}[args.neo4j_command](args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "neo4j": cmd_neo4j,
    "report": cmd_report,
    "backtest": cmd_backtest,
    "validate": cmd_validate,
    "synth": cmd_synth,
    "flag": cmd_flag,
    "evaluate": cmd_evaluate,
    "train": cmd_train,
    "decide": decide.run,
    "init": init.run,
    "unmask": unmask.run,
    "show": show_command.run,
    "neighbours": neighbours_command.run,
    "rings": rings_command.run,
    "diff": diff_command.run,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ringfence",
        description="Find repeat offenders through the graph that links their accounts.",
        epilog=CONTRACT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ringfence {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="validate input tables and print what was read",
                       epilog=CONTRACT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_inputs(p)
    p.add_argument("--decisions", metavar="FILE", help="a decisions log (ringfence decide)")

    p = sub.add_parser("synth", help="generate a synthetic platform with ground truth")
    p.add_argument("--accounts", type=int, default=10_000, metavar="N",
                   help="number of accounts (default 10,000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv",
                   help="csv (gzip, the default) or parquet")
    p.add_argument("--link-labels", type=float, default=0.0, metavar="FRACTION",
                   help="also write link_decisions: a synthetic reviewer's decisions on this "
                   "fraction of the true same-actor pairs and as many pairs of different "
                   "actors that share an identifier (default 0: none)")
    p.add_argument("--threads", type=int, metavar="N", help="threads to compute with "
                   "(default: RINGFENCE_THREADS, else the CPUs this process may use, counting "
                   "affinity and CPU quota, at most OMP_NUM_THREADS)")

    p = sub.add_parser("flag", help="flag accounts linked to banned ones, with evidence",
                       description="Build the account graph, link identities, find clusters, "
                       "propagate blacklist status and write a ranked, explained review queue. "
                       "Needs accounts, enforcement, and identifiers or edges. Identifier "
                       "values in the outputs are masked with the key that ringfence init "
                       "writes once (RINGFENCE_MASK_KEY, when set, wins), so masks are the "
                       "same in every run and ringfence unmask can resolve them.",
                       epilog=CONTRACT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_inputs(p, required=("accounts",))
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output directory (replaced atomically when the run succeeds)")
    p.add_argument("--config", metavar="FILE", help="YAML file of graph settings "
                   "(see graph/config.py: kind_weights, share_limits, half-lives, ...)")
    q = p.add_mutually_exclusive_group()
    q.add_argument("--review-capacity", type=int, metavar="K",
                   help="flag the K riskiest accounts (default: 1%% of accounts, at least 10)")
    q.add_argument("--threshold", type=float, metavar="T", help="flag accounts scoring >= T")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                   help="output table format (default parquet)")
    p.add_argument("--as-of", metavar="TIME",
                   help="measure ages from this time, ISO 8601 or Unix seconds/milliseconds "
                   "(default: the newest timestamp in the input, ignoring a few that stand "
                   "more than 30 days after all others)")
    p.add_argument("--seed", type=int, help="random seed (overrides the config's)")
    p.add_argument("--top", type=int, default=5, metavar="N",
                   help="print the N highest-risk accounts with reasons (default 5)")
    p.add_argument("--model", metavar="PATH", help="score with a model saved by ringfence train "
                   "(default: fit one in this run when there are >= 20 banned and >= 20 "
                   "cleared accounts, else propagation alone). For a steady nightly queue, "
                   "train on a schedule and score with the saved model")
    p.add_argument("--max-model-age", type=float, metavar="DAYS",
                   help="with --model: warn when the model was trained more than DAYS days "
                   "ago (default 30)")
    p.add_argument("--no-model", action="store_true", help="score by propagation alone")
    p.add_argument("--decisions", metavar="FILE", help="the reviewers' decisions log "
                   "(ringfence decide), read on top of --enforcement: the latest decision or "
                   "action per account is in force")
    p.add_argument("--previous", metavar="DIR", help="the previous run's --out: carry its "
                   "identity and cluster ids over (Jaccard >= 0.5 of members) and give each "
                   "account's status against it (new, still_flagged, rose, fell, dropped)")
    p.add_argument("--threads", type=int, metavar="N", help="threads to compute with "
                   "(default: RINGFENCE_THREADS, else the CPUs this process may use, counting "
                   "affinity and CPU quota, at most OMP_NUM_THREADS)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--engine", choices=("in-process", "spark"), default="in-process",
                   help="where the graph is built: in this process (default) or on Apache "
                   "Spark (pip install 'ringfence[spark]'; inputs may then be folders, such "
                   "as partitioned Parquet tables, and outputs are Parquet folders)")
    p.add_argument("--spark-master", metavar="URL",
                   help="with --engine spark: the Spark master (default $SPARK_MASTER, else "
                   "local[N] with N the CPUs this process may use); spark-submit's session is "
                   "used as it is")

    p = sub.add_parser("train", help="fit the repeat-offender model and save it with a model card",
                       epilog=CONTRACT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_inputs(p, required=("accounts", "enforcement"))
    p.add_argument("--decisions", metavar="FILE", help="the decisions log (ringfence decide): "
                   "cleared accounts are negative labels, confirmed ones positive")
    p.add_argument("--model-out", required=True, metavar="PATH",
                   help="where to save the model (a model card is written next to it)")
    p.add_argument("--config", metavar="FILE", help="YAML file of graph settings")
    p.add_argument("--as-of", metavar="TIME", help="measure ages from this time (ISO 8601 or "
                   "Unix seconds/milliseconds)")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--threads", type=int, metavar="N", help="threads to compute with "
                   "(default: RINGFENCE_THREADS, else the CPUs this process may use, counting "
                   "affinity and CPU quota, at most OMP_NUM_THREADS)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    p = sub.add_parser("backtest", help="time-aware evaluation: flag with what was known at a "
                       "cut-off, measure against the bans that came after",
                       epilog=CONTRACT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_inputs(p, required=("accounts", "enforcement"))
    p.add_argument("--cutoff", required=True, metavar="TIME",
                   help="ISO 8601 or Unix seconds/milliseconds, e.g. 2026-01-01")
    p.add_argument("--review-capacity", type=int, metavar="K")
    p.add_argument("--config", metavar="FILE", help="YAML file of graph settings")
    p.add_argument("--model", metavar="PATH", help="score with a saved model")
    p.add_argument("--no-model", action="store_true", help="score by propagation alone")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--out", metavar="DIR", help="also write the flag outputs here")
    p.add_argument("--threads", type=int, metavar="N", help="threads to compute with "
                   "(default: RINGFENCE_THREADS, else the CPUs this process may use, counting "
                   "affinity and CPU quota, at most OMP_NUM_THREADS)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    p = sub.add_parser("report", help="write a self-contained HTML case report for one account",
                       description="Write one HTML page (it needs no network) on why an account "
                       "scored as it did: score, rank, reasons, evidence paths, a picture of its "
                       "neighbourhood, its identity, its cluster and the run. Reads a finished "
                       "flag run (the tables it wrote) and rebuilds its graph from the input "
                       "files recorded in run.json, after checking their sha256.")
    p.add_argument("account_id", metavar="ACCOUNT_ID",
                   help="the account to report on (put -- before an id that starts with -)")
    p.add_argument("--run", required=True, metavar="DIR", help="a flag job's output directory")
    p.add_argument("--out", required=True, metavar="FILE", help="the HTML file to write")
    p.add_argument("--hops", type=int, default=2, metavar="N",
                   help="show accounts up to N links away (default 2)")
    p.add_argument("--max-nodes", type=int, default=60, metavar="N",
                   help="at most N nodes in the picture, the strongest links kept (default 60)")

    show_command.add_parser(sub)
    neighbours_command.add_parser(sub)
    rings_command.add_parser(sub)

    p = sub.add_parser("evaluate", help="measure a flag run against ground truth or labels")
    p.add_argument("--scores", required=True, metavar="DIR", help="a flag job's output directory")
    p.add_argument("--truth", required=True, metavar="FILE",
                   help="truth or labels table (account_id and a 0/1 label column)")
    p.add_argument("--label", help="label column (default is_offender, else banned)")
    p.add_argument("--split", help="evaluate only rows whose split column equals this, e.g. test")
    p.add_argument("--capacity", type=int, metavar="K",
                   help="review capacity for precision/recall at K (default: flagged count)")
    p = sub.add_parser("neo4j", help="sync a flag run into Neo4j, or read the input tables "
                       "out of it", description="Connection: --uri/--user/--database or "
                       "NEO4J_URI, NEO4J_USER, NEO4J_DATABASE; the password only from "
                       "NEO4J_PASSWORD. Schema and choices: docs/neo4j.md.")
    nsub = p.add_subparsers(dest="neo4j_command", metavar="SUBCOMMAND")
    nsub.required = True

    def _connection(q: argparse.ArgumentParser) -> None:
        g = q.add_argument_group("connection (password: NEO4J_PASSWORD only)")
        g.add_argument("--uri", help="bolt:// or neo4j:// URI "
                       "(default $NEO4J_URI, else bolt://localhost:7687)")
        g.add_argument("--user", help="user name (default $NEO4J_USER, else neo4j)")
        g.add_argument("--database", help="database (default $NEO4J_DATABASE, "
                       "else the server's default)")

    q = nsub.add_parser("sync", help="write a flag run (inputs and outputs) into Neo4j",
                        description="Re-read the run's inputs (paths and sha256 from "
                        "run.json), rebuild its graph, and write accounts, identifiers, "
                        "edges, enforcement, scores, identity links and clusters into Neo4j "
                        "with batched MERGEs. A second sync of the same run changes nothing; "
                        "a newer run replaces what the older one wrote.")
    q.add_argument("--run", required=True, metavar="DIR", help="a flag job's output directory")
    q.add_argument("--batch-size", type=int, default=5000, metavar="N",
                   help="rows per transaction (default 5,000)")
    q.add_argument("--no-prune", action="store_true",
                   help="keep nodes and relationships the run does not contain")
    q.add_argument("--full", action="store_true",
                   help="send every row and prune by stamp, even when only the changes since "
                   "the last sync could be sent")
    q.add_argument("--state", metavar="FILE",
                   help="the sync state of this database (default: "
                   "$XDG_STATE_HOME/ringfence/neo4j/<server and database>.parquet)")
    q.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _connection(q)

    q = nsub.add_parser("export-bulk", help="write a flag run as files for "
                        "neo4j-admin database import (first loads of big runs)",
                        description="Write the graph the sync writes as node and relationship "
                        "files (header + gzip data, one id space per label) and print the "
                        "neo4j-admin command that imports them into an empty database: "
                        "hours of MERGE become minutes. Schema: docs/neo4j.md.")
    q.add_argument("--run", required=True, metavar="DIR", help="a flag job's output directory")
    q.add_argument("--out", required=True, metavar="DIR",
                   help="output directory (replaced atomically)")
    q.add_argument("--no-gzip", action="store_true", help="write plain .csv data files")
    q.add_argument("--database-name", default="neo4j", metavar="NAME",
                   help="the database named in the printed command (default neo4j)")

    q = nsub.add_parser("load", help="read the four input tables out of Neo4j",
                        description="Write accounts, identifiers, edges and enforcement "
                        "(validated like any input) so the flag job can run on a graph that "
                        "lives in Neo4j.")
    q.add_argument("--out", required=True, metavar="DIR",
                   help="output directory (replaced atomically)")
    q.add_argument("--format", choices=("csv", "parquet"), default="csv",
                   help="csv (gzip, the default) or parquet")
    _connection(q)
    decide.add_parser(sub)
    init.add_parser(sub)
    unmask.add_parser(sub)
    diff_command.add_parser(sub)
    return parser


def run() -> None:
    """The ``ringfence`` program (and ``python -m ringfence.jobs.cli``): sets this
    process's allocator (:func:`ringfence.jobs.process.keep_freed_memory`, off with
    ``RINGFENCE_MALLOC=0``), runs :func:`main` on the arguments and exits with its status.

    A program that calls :func:`main` itself keeps its own allocator settings.

    Examples
    --------
    >>> import sys; sys.argv = ["ringfence", "--version"]
    >>> run()  # doctest: +SKIP
    ringfence ...
    """
    keep_freed_memory()
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", InputWarning)  # the CLI reports them as notes instead
    try:
        return COMMANDS[args.command](args)
    except (InputError, UsageError, ConfigError, RunFolderError) as e:
        text = "\n".join(shown(line) for line in str(e).split("\n"))
        print(f"ringfence {args.command}: error: {text}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    run()
