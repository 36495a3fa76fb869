"""The model on synthetic platforms: quality, stability across seeds, locality, meaning.

For each platform (``accounts:seed``, generated with the current generator)
the flag job runs with seeds 0, 1, 2 and reports:

* quality against the ground truth: average precision and precision at the
  review capacity (the job's default) over the unreviewed accounts;
* stability: the pairwise overlap of the top 1 % of the queue (top 200 of
  20,000 accounts, top 30 of 3,000) between the seeds;
* locality: 10 edges added between two unreviewed accounts, the largest score
  change and the number of scores moving more than 0.05 outside the two
  accounts' two-hop neighbourhood (seed 0);
* meaning: on the unreviewed accounts, the largest gap between a reliability
  bin's observed offender rate and its mean score.

    python benchmarks/eval_synth.py                          # 20000:7 and 3000:11
    python benchmarks/eval_synth.py --platforms 50000:3      # another platform
    python benchmarks/eval_synth.py --params '{"max_features": 0.1}'   # other model parameters
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def top_overlap(a: pd.DataFrame, b: pd.DataFrame, k: int) -> float:
    """Share of the top ``k`` of queue ``a`` that is in the top ``k`` of queue ``b``."""
    ta = set(a.nsmallest(k, "rank")["account_id"])
    tb = set(b.nsmallest(k, "rank")["account_id"])
    return len(ta & tb) / k


def unreviewed_reliability(scores: pd.DataFrame, truth: pd.DataFrame,
                           n_bins: int = 10) -> pd.DataFrame:
    """The reliability table of the accounts nobody reviewed (neither banned nor cleared)."""
    from ringfence.models.evaluate import reliability_table

    df = scores.merge(truth[["account_id", "is_offender"]], on="account_id")
    df = df[~df["banned"] & ~df["cleared"]]
    return reliability_table(df["is_offender"].to_numpy(int), df["score"].to_numpy(float), n_bins)


def reliability_gap(table: pd.DataFrame) -> float:
    """Largest |observed rate - mean score| over the bins of >= 20 accounts."""
    table = table[table["accounts"] >= 20]
    return float((table["observed_rate"] - table["mean_predicted"]).abs().max())


def add_edges(p, a: str, b: str, n: int = 10) -> pd.DataFrame:
    """The platform's edges plus ``n`` edges from ``a`` to ``b``, a second apart (exact
    duplicates would be dropped by the input contract)."""
    e = p.edges
    extra = e.iloc[np.zeros(n, int)].copy()
    extra["src"], extra["dst"] = a, b
    if "at" in extra.columns:
        extra["at"] = extra["at"] + pd.to_timedelta(np.arange(n), unit="s")
    return pd.concat([e, extra], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    from ringfence import load_tables
    from ringfence.graph.synth import generate_platform
    from ringfence.jobs.flag import run_flag
    from ringfence.models.evaluate import evaluate_scores

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--platforms", nargs="+", default=["20000:7", "3000:11"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--params", default="{}", help="model parameters as JSON (as eval_reddit's)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    from ringfence.models.scoring import ModelScorer

    params = json.loads(args.params)
    out = []
    for spec in args.platforms:
        n, pseed = (int(x) for x in spec.split(":"))
        p = generate_platform(n, seed=pseed)
        tables = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
        truth = p.truth.assign(account_id=p.truth["account_id"].astype(str))
        k = max(n // 100, 10)
        runs, rows = {}, []
        for seed in args.seeds:
            t0 = time.perf_counter()
            s = run_flag(tables, seed=seed, scorer=ModelScorer(seed=seed, params=params)).scores
            s = s.assign(account_id=s["account_id"].astype(str))
            runs[seed] = s
            m = evaluate_scores(s, truth)
            table = unreviewed_reliability(s, truth)
            if seed == args.seeds[0]:
                print(f"{spec} seed {seed}, unreviewed accounts:\n{table.round(3)}", flush=True)
            rows.append({"seed": seed, "ap": m["average_precision"],
                         "precision_at_capacity": m.get("precision_at_capacity"),
                         "reliability_gap": reliability_gap(table),
                         "seconds": time.perf_counter() - t0})
        overlaps = [top_overlap(runs[x], runs[y], k)
                    for x, y in itertools.combinations(args.seeds, 2)]
        # locality: two unreviewed accounts with edges, far down the queue, linked 10 times
        s0 = runs[args.seeds[0]]
        linked = set(p.edges["src"].astype(str)) | set(p.edges["dst"].astype(str))
        cand = s0[s0["rank"].notna() & s0["account_id"].isin(linked)].sort_values("rank")
        a, b = cand["account_id"].iloc[len(cand) // 2], cand["account_id"].iloc[-1]
        t2 = load_tables(p.accounts, p.identifiers, add_edges(p, a, b), p.enforcement)
        s1 = run_flag(t2, seed=args.seeds[0],
                      scorer=ModelScorer(seed=args.seeds[0], params=params)).scores
        s1 = s1.assign(account_id=s1["account_id"].astype(str))
        near = _two_hop_graph(tables, {a, b}) | _two_hop_graph(t2, {a, b})
        d = s0.set_index("account_id")["score"] - s1.set_index("account_id")["score"]
        far = d[~d.index.isin(near)].abs()
        df = pd.DataFrame(rows)
        res = {"platform": spec, "k": k, "ap_mean": df["ap"].mean(), "ap_sd": df["ap"].std(),
               "p_at_cap_mean": df["precision_at_capacity"].mean(),
               "p_at_cap_sd": df["precision_at_capacity"].std(),
               "overlaps": [round(o, 3) for o in overlaps],
               "reliability_gap_max": df["reliability_gap"].max(),
               "far_max_change": float(far.max()), "far_moved_0.05": int((far > 0.05).sum()),
               "far_moved_0.1": int((far > 0.1).sum()), "seconds": df["seconds"].mean()}
        out.append(res)
        print(f"{spec}: AP {res['ap_mean']:.4f} ± {res['ap_sd']:.4f}  P@cap "
              f"{res['p_at_cap_mean']:.4f} ± {res['p_at_cap_sd']:.4f}  top-{k} overlaps "
              f"{res['overlaps']}  far change max {res['far_max_change']:.3f} "
              f"(>0.05: {res['far_moved_0.05']}, >0.1: {res['far_moved_0.1']})  reliability gap "
              f"{res['reliability_gap_max']:.3f}  ({res['seconds']:.1f} s/run)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


def _two_hop_graph(tables, nodes: set[str]) -> set[str]:
    """Accounts within two hops of ``nodes`` in the account graph the job builds."""
    from ringfence.graph.pipeline import run_pipeline

    g = run_pipeline(tables, stop_after="build").graph
    ids = pd.Index(np.asarray(g.account_ids).astype(str))
    x = np.zeros(g.n_accounts)
    x[ids.get_indexer(list(nodes))] = 1
    adj = g.adjacency
    reach = x + adj @ x
    reach = reach + adj @ reach
    return set(ids[reach > 0])


if __name__ == "__main__":
    sys.exit(main())
