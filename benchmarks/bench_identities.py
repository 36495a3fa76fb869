"""Identity linking: quality and time of the old rule, ringfence's linker and Splink.

    python benchmarks/bench_identities.py            # 100k and 1M, seed 1 (make bench-identities)
    python benchmarks/bench_identities.py --sizes 100000 --seeds 1 2 --splink-max 100000
    python benchmarks/bench_identities.py --sizes 20000 100000 --link-labels 0.05

For each platform size and seed (fresh seeds: never the one a model was tuned
on) a synthetic platform is generated in a subprocess and cached as Parquet
under ``benchmarks/.cache``. Then, in this process, the graph is built once
and identities are linked by

* ``old rule``: the summed hand weights ringfence used before issue 13
  (``benchmarks/reference_identity_rule.py``, a copy of that code);
* ``ringfence``: whatever :func:`ringfence.graph.identity.link_identities`
  is now, through :func:`ringfence.graph.pipeline.run_pipeline` (its stage
  time is the ``link identities`` stage); with enough link decisions for the
  pair classifier (``--link-labels``), also ``ringfence FS``: the same
  decisions, Fellegi-Sunter alone, and ``ringfence s=0.5``: the classifier
  pooled half and half with Fellegi-Sunter instead of the share chosen from
  the decisions;
* ``splink``: a Fellegi-Sunter model in Splink on its DuckDB backend, when
  Splink is installed (it is no dependency of ringfence) and the platform is
  no larger than ``--splink-max`` (off by default: it is 20-50x slower)
  (one row per account with, per identifier kind, the value the account used
  most often; values used by more than ``--splink-hub`` accounts are left
  out as missing, as ringfence's share limits leave hubs out; exact-match
  comparisons with term-frequency adjustments, blocking on each kind's exact
  value, u by random sampling, m by EM (blocked on email, then on device),
  links at match probability 0.5,
  identities its connected components).

Quality is :func:`ringfence.models.identity_quality.identity_quality`:
pairwise precision, recall and F1 against the true actors, and the shares of
household, ring and stranger pairs (strangers that share a value) that ended
up in one identity. Results are printed as a table and written to
``benchmarks/results/identities-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
RESULTS = ROOT / "benchmarks" / "results"
TABLES = ("accounts", "identifiers", "edges", "enforcement")


def ensure_platform(n: int, seed: int, link_labels: float) -> Path:
    """The cached platform (generated in a subprocess: its memory is freed with it)."""
    # "-shown": negatives drawn from the pairs the tool shows a reviewer; caches from before
    # that rule hold other negatives and are not reused
    shown = "-shown" if link_labels else ""
    d = CACHE / f"identities-{n}-{seed}-labels{link_labels:g}{shown}"
    names = TABLES + ("truth",) + (("link_decisions",) if link_labels else ())
    if all((d / f"{t}.parquet").exists() for t in names):
        return d
    code = ("import sys; from ringfence.graph.synth import generate_platform, write_platform; "
            "n, seed, labels, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), "
            "sys.argv[4]; p = generate_platform(n, seed=seed, link_labels=labels); "
            "write_platform(p, out, format='parquet'); "
            "p.truth.to_parquet(out + '/truth.parquet')")
    print(f"[identities] generating {n:,} accounts, seed {seed} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-c", code, str(n), str(seed), str(link_labels), str(d)],
                   check=True, cwd=ROOT)
    return d


def _quality(identity: np.ndarray, truth: pd.DataFrame, candidates) -> dict:
    from ringfence.models.identity_quality import identity_quality

    q = identity_quality(identity, truth, candidates)
    keys = ("precision", "recall", "f1", "household_share", "ring_share", "stranger_share",
            "identity_pairs", "true_pairs", "stranger_pairs_in_identity")
    return {k: (round(q[k], 4) if isinstance(q[k], float) else q[k]) for k in keys}


def splink_identities(tables, hub_limit: int) -> tuple[np.ndarray, float, str]:
    """Splink's identities (a label per account row, -1 alone), its seconds and its version."""
    import splink
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.internals.duckdb.database_api import DuckDBAPI

    t0 = time.perf_counter()
    ids = tables.identifiers[["account_id", "kind", "value"]].astype(str)
    users = ids.drop_duplicates(["kind", "value", "account_id"]).groupby(
        ["kind", "value"]).size().rename("users")
    counted = ids.groupby(["account_id", "kind", "value"]).size().rename("times").reset_index()
    counted = counted.join(users, on=["kind", "value"])
    counted = counted[counted["users"] <= hub_limit]
    # the value each account used most often, per kind (ties: the smaller value)
    top = (counted.sort_values(["account_id", "kind", "times", "value"],
                               ascending=[True, True, False, True])
           .drop_duplicates(["account_id", "kind"]))
    wide = top.pivot(index="account_id", columns="kind", values="value")
    kinds = [str(k) for k in wide.columns]
    df = (tables.accounts[["account_id"]].astype(str).join(wide, on="account_id")
          .reset_index(drop=True))
    settings = SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="account_id",
        comparisons=[cl.ExactMatch(k).configure(term_frequency_adjustments=True) for k in kinds],
        blocking_rules_to_generate_predictions=[block_on(k) for k in kinds],
        retain_intermediate_calculation_columns=False)
    linker = Linker(DuckDBAPI().register(df), settings, log_level=30)
    linker.training.estimate_probability_two_random_records_match(
        [block_on(k) for k in kinds], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6)
    # EM twice: blocked on email it estimates the m of every other kind, blocked on device
    # the m of email
    for k in ("email", "device"):
        if k in kinds:
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(k))
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pred, threshold_match_probability=0.5).as_pandas_dataframe()
    seconds = time.perf_counter() - t0
    cid = clusters.set_index(clusters["account_id"].astype(str))["cluster_id"]
    cid = cid.reindex(df["account_id"])
    codes = pd.factorize(cid)[0]
    sizes = np.bincount(codes[codes >= 0], minlength=1)
    return np.where((codes >= 0) & (sizes[np.maximum(codes, 0)] >= 2), codes, -1), seconds, \
        splink.__version__


def bench_one(d: Path, args: argparse.Namespace, n: int) -> list[dict]:
    from benchmarks.reference_identity_rule import reference_identities
    from ringfence.graph import load_tables
    from ringfence.graph.pipeline import run_pipeline
    from ringfence.graph.progress import Stages

    labels = d / "link_decisions.parquet"
    tables = load_tables(*(d / f"{t}.parquet" for t in TABLES),
                         **({"link_decisions": labels} if labels.exists() else {}))
    truth = pd.read_parquet(d / "truth.parquet")
    stages = Stages(quiet=True)
    state = run_pipeline(tables, stages=stages, stop_after="identities")
    g = state.graph
    # align everything to the truth's rows
    pos = pd.Index(truth["account_id"].astype(str)).get_indexer(pd.Index(g.account_ids))
    to_truth = np.full(len(truth), -1, np.int64)

    def aligned(identity: np.ndarray) -> np.ndarray:
        out = to_truth.copy()
        out[pos] = identity
        return out

    pa, pb = g.pairs["a"].to_numpy(), g.pairs["b"].to_numpy()
    candidates = (pos[pa], pos[pb])
    rows = []
    t = time.perf_counter()
    old = reference_identities(g.n_accounts, pa, pb, g.pairs["weight"].to_numpy())
    rows.append({"method": "old rule", "seconds": round(time.perf_counter() - t, 2),
                 **_quality(aligned(old), truth, candidates)})
    rows.append({"method": "ringfence", "seconds": round(stages.timings["link identities"], 2),
                 **_quality(aligned(np.asarray(state.linking.identity)), truth, candidates),
                 # the classifier's part of the pooled weight, chosen from the decisions
                 "classifier_share": state.linking.linker.classifier_share_})
    if state.linking.linker.classifier_ is not None:  # the same decisions, Fellegi-Sunter alone
        import dataclasses

        from ringfence.graph.identity import link_identities
        supervised = g.config.linking.get("supervised", {})
        # Fellegi-Sunter alone; the classifier pooled half and half (before the share was
        # chosen from the decisions)
        for method, change in (("ringfence FS", {"min_decisions": 2**62}),
                               ("ringfence s=0.5", {"choose_share": False,
                                                    "classifier_share": 0.5})):
            linking = {**g.config.linking, "supervised": {**supervised, **change}}
            t = time.perf_counter()
            other = link_identities(g, dataclasses.replace(g.config, linking=linking),
                                    tables.link_decisions)
            rows.append({"method": method, "seconds": round(time.perf_counter() - t, 2),
                         **_quality(aligned(np.asarray(other.identity)), truth, candidates)})
    if args.splink_max and n <= args.splink_max:
        try:
            identity, seconds, version = splink_identities(tables, args.splink_hub)
        except ImportError:
            print("[identities] splink is not installed: no Splink reference "
                  "(pip install splink)", file=sys.stderr)
        else:
            rows.append({"method": f"splink {version}", "seconds": round(seconds, 2),
                         **_quality(identity, truth, candidates)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--link-labels", type=float, default=0.0, metavar="FRACTION",
                    help="give the linker synthetic reviewer decisions on this fraction of "
                    "the true pairs (default 0: label-free)")
    ap.add_argument("--splink-max", type=int, default=0,
                    help="run Splink on platforms up to this size (default 0: never; it is "
                    "20-50x slower: 100000 is the size it was compared at)")
    ap.add_argument("--splink-hub", type=int, default=100,
                    help="values used by more accounts are missing for Splink")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("RINGFENCE_MASK_KEY", "bench")

    from benchmarks.bench import machine

    results = {"machine": machine(), "started": datetime.now(timezone.utc).isoformat(),
               "args": vars(args), "runs": []}
    for n in sorted(args.sizes):
        for seed in args.seeds:
            d = ensure_platform(n, seed, args.link_labels)
            print(f"[identities] {n:,} accounts, seed {seed}: linking ...", file=sys.stderr,
                  flush=True)
            for row in bench_one(d, args, n):
                results["runs"].append({"accounts": n, "seed": seed, **row})

    cols = {"precision": "precision", "recall": "recall", "f1": "F1",
            "household_share": "households", "ring_share": "rings",
            "stranger_share": "strangers", "seconds": "seconds"}
    head = f"{'accounts':>10} {'seed':>4}  {'method':<14}" + "".join(f"{c:>11}"
                                                                  for c in cols.values())
    print(head)
    print("-" * len(head))
    for r in results["runs"]:
        cells = "".join(f"{'n/a':>11}" if r[c] is None else f"{r[c]:>11.3f}" for c in cols)
        print(f"{r['accounts']:>10,} {r['seed']:>4}  {r['method']:<14}{cells}")
    print("precision, recall, F1: pairs of accounts in one identity against the true actors; "
          "households, rings, strangers: share of such pairs of different actors in one "
          "identity (strangers: of those that share an identifier value)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"identities-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
