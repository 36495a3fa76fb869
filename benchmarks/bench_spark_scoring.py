"""Features and scoring on Spark beside in-process: seconds and parity (issue #16).

    python benchmarks/bench_spark_scoring.py                  # 20,000 accounts
    python benchmarks/bench_spark_scoring.py --accounts 100000

On one synthetic platform and one in-process graph state: the flag job's model stages
(features, fit, scores, explanations) by :class:`~ringfence.models.scoring.ModelScorer` and
by :class:`~ringfence.models.spark_scoring.SparkModelScorer` on ``--master`` (local[2]),
then parity per feature family (the Spark features against ``scoring_features``, both
float32: the values that differ and the largest difference), the largest score
difference and the overlap of the top ``--capacity`` queues. Printed and written to
benchmarks/results/bench-spark-scoring-<time>.json. Targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

FAMILIES = (  # (family, prefixes or names), first match wins
    ("attributes", ("attr_", "account_age_days")),
    ("identifiers and edges per kind", ("n_ident_", "shared_", "hub_exposure", "n_edges_")),
    ("structure", ("degree", "neighbours", "identity_size")),
    ("neighbour aggregates", ("nb_",)),
    ("label features, 2 hops", ("banned_share2", "cleared_share2", "violations_share2",
                                "ban_weight_share2", "banned_rate2")),
    ("label features, identity", ("banned_in_identity", "cleared_in_identity")),
    ("propagation", ("propagation",)),
    ("label features, 1 hop", ("",)),
)


def _family(col: str) -> str:
    return next(f for f, prefixes in FAMILIES if any(col.startswith(p) for p in prefixes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--capacity", type=int, default=200)
    ap.add_argument("--driver-memory", default="2g", help="as the tests' session")
    args = ap.parse_args()

    import pandas as pd
    from ringfence.graph import load_tables
    from ringfence.graph.pipeline import run_pipeline
    from ringfence.graph.progress import Stages
    from ringfence.graph.spark import spark_session
    from ringfence.graph.synth import generate_platform
    from ringfence.models.scoring import ModelScorer, eligible_nodes, rank_order
    from ringfence.models.spark_features import (categories, graph_frames, propagation_passes,
                                                 spark_scoring_features, status_passes,
                                                 to_pandas)
    from ringfence.models.spark_scoring import SparkModelScorer
    from ringfence.models.training import (assign_folds, default_folds, labelled_nodes,
                                           scoring_features)

    p = generate_platform(n_accounts=args.accounts, seed=args.seed)
    tables = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    state = run_pipeline(tables)
    g = state.graph
    out = {"accounts": args.accounts, "master": args.master, "load_average": os.getloadavg(),
           "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    t = time.perf_counter()
    stages = Stages(quiet=True)
    ref = ModelScorer(seed=0).score(tables, state, stages)
    out["in_process_seconds"] = round(time.perf_counter() - t, 2)
    out["in_process_stage_seconds"] = {k: round(v, 2) for k, v in stages.timings.items()}
    t = time.perf_counter()
    spark = spark_session(args.master, shuffle_partitions=4,
                          conf={"spark.driver.memory": args.driver_memory})
    out["driver_memory"] = args.driver_memory
    out["session_seconds"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    stages = Stages(quiet=True)
    got = SparkModelScorer(spark, seed=0).score(tables, state, stages)
    out["spark_seconds"] = round(time.perf_counter() - t, 2)
    out["spark_stage_seconds"] = {k: round(v, 2) for k, v in stages.timings.items()}
    out["score_max_abs_difference"] = float(np.abs(got.scores - ref.scores).max())
    elig = eligible_nodes(state)
    a = rank_order(ref.scores, elig, g.account_ids)[:args.capacity]
    b = rank_order(got.scores, elig, g.account_ids)[:args.capacity]
    out["queue_overlap"] = len(set(a) & set(b)) / max(len(a), 1)
    out["queue_identical"] = bool(np.array_equal(a, b))
    out["explanations_identical"] = got.explanations == ref.explanations
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    result = RESULTS / f"bench-spark-scoring-{stamp}.json"
    result.write_text(json.dumps(out, indent=1))  # kept should the features' pass fail
    print(json.dumps(out, indent=1), flush=True)

    # the features alone, per family
    nodes, _ = labelled_nodes(g)
    fold = assign_folds(g.account_ids[nodes], default_folds(len(nodes)))
    X = scoring_features(g, tables.accounts, state.identity, state.membership, g.config,
                         propagation=state.propagation)
    frames = graph_frames(spark, state, tables.accounts)
    frames["status"] = spark.createDataFrame(status_passes(g, nodes, fold))
    t = time.perf_counter()
    S = to_pandas(spark_scoring_features(
        frames, spark.createDataFrame(propagation_passes(state, nodes, fold)),
        spark.createDataFrame(pd.DataFrame({"node": nodes.astype(np.int64), "fold": fold})),
        kind_names=g.kind_names, edge_kind_names=g.edge_kind_names, as_of=g.as_of,
        link_threshold=g.config.link_threshold), categories(frames["accounts"]))
    out["spark_features_seconds"] = round(time.perf_counter() - t, 2)
    out["same_columns"] = list(S.columns) == list(X.columns)
    fam: dict[str, dict] = {}
    for c in X.columns:
        f = fam.setdefault(_family(c), {"columns": 0, "values_differing": 0,
                                        "max_abs_difference": 0.0, "max_rel_difference": 0.0})
        f["columns"] += 1
        if isinstance(X[c].dtype, pd.CategoricalDtype):
            f["values_differing"] += int((S[c].astype(object) != X[c].astype(object)).sum()
                                         - (S[c].isna() & X[c].isna()).sum())
            continue
        x, s = X[c].to_numpy(np.float64), S[c].to_numpy(np.float64)
        ok = ~(np.isnan(x) & np.isnan(s))
        d = np.abs(x[ok] - s[ok])
        f["values_differing"] += int((d > 0).sum())
        f["max_abs_difference"] = max(f["max_abs_difference"], float(d.max(initial=0)))
        rel = d / np.maximum(np.abs(x[ok]), 1e-300)
        f["max_rel_difference"] = max(f["max_rel_difference"], float(rel.max(initial=0)))
    out["feature_parity"] = fam
    print(json.dumps(out, indent=1))
    result.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
