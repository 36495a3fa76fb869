"""The Spark engine beside the in-process one, and the volumes docs/spark.md's capacity
plan is fitted to.

    python benchmarks/bench_spark.py                            # 100,000 accounts (make bench-spark)
    python benchmarks/bench_spark.py --sizes 100000 1000000
    python benchmarks/bench_spark.py --parts volumes algorithms  # leave out the flag job

Three parts, each per platform size, each in a process of its own (peak memory is that
part's alone):

``volumes``
    The in-process engine's rows and bytes per stage: identifier observations and uses,
    identifiers dropped by the hub limits, pairs after them, edge links, the linker's
    candidate pairs, links kept, same-actor links, identities, the largest components.
``algorithms``
    What runs on Spark when the link list does not fit on the driver, on ``--master``
    (local[2] by default), from the in-process graph written as Parquet: connected
    components and identities (graph/spark/components.py), 20 iterations of
    propagation (graph/spark/pagerank.py) and Leiden per component of the identifier
    pairs (graph/spark/leiden.py);
    seconds, shuffle bytes (from Spark's status API) and parity with in-process:
    identities equal, largest propagation difference, ring recall and precision.
``engine``
    ``ringfence flag --engine spark`` beside ``ringfence flag`` on the same files:
    seconds per stage and the overlap of the flagged queues.

Platforms are ``ringfence synth`` platforms cached under benchmarks/.cache (as
benchmarks/bench.py makes them). Results are printed and written to
benchmarks/results/bench-spark-<time>.json. Targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PARTS = ("volumes", "algorithms", "engine")
UI_PORT = 4747  # the status API the shuffle sizes are read from (bench sessions only)


def _tables(d: Path):
    from ringfence.graph import load_tables

    return load_tables(*(d / f"{t}.parquet" for t in ("accounts", "identifiers", "edges",
                                                       "enforcement")))


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _bytes(df) -> int:
    return int(df.memory_usage(deep=True, index=False).sum())


def _largest_share(n: int, a, b) -> float:
    import numpy as np

    from ringfence.graph.identity import _components

    return round(float(np.bincount(_components(n, a, b)).max() / n), 4) if len(a) else 0.0


def volumes(d: Path) -> dict:
    """Rows and bytes per stage of the in-process engine (graph stages to identities)."""
    import scipy.sparse as sp

    from ringfence.graph.linking import SAME_ACTOR
    from ringfence.graph.pipeline import run_pipeline
    from ringfence.graph.progress import Stages

    tables = _tables(d)
    observations = len(tables.identifiers)
    obs_bytes = _bytes(tables.identifiers)
    edge_rows = len(tables.edges)
    stages = Stages(quiet=True)
    state = run_pipeline(tables, stages=stages, stop_after="identities", release_inputs=True)
    g, lk = state.graph, state.linking
    n = g.n_accounts
    same = lk.links[lk.links["link_kind"] == SAME_ACTOR]
    upper = sp.triu(g.adjacency, k=1).tocoo()
    out = {
        "accounts": n,
        "identifier_observations": {"rows": observations, "bytes": obs_bytes},
        "identifiers": {"rows": len(g.identifiers),
                        "dropped_by_hub_limits": int((g.identifiers["weight"] == 0).sum())},
        "identifier_uses": {"rows": len(g.uses), "bytes": _bytes(g.uses)},
        "edges": {"rows": edge_rows},
        "pairs": {"rows": len(g.pairs), "bytes": _bytes(g.pairs)},
        "edge_links": {"rows": len(g.links_by_edge), "bytes": _bytes(g.links_by_edge)},
        "adjacency_links": {"rows": int(upper.nnz), "bytes": int(upper.nnz * 24)},
        "candidate_pairs": {"rows": len(lk.linker.comparisons_),
                            "bytes": int(lk.linker.comparisons_.levels.nbytes
                                         + 16 * len(lk.linker.comparisons_))},
        "links": {"rows": len(lk.links), "bytes": _bytes(lk.links.drop(columns="reason"))},
        "same_actor_links": {"rows": len(same), "bytes": int(24 * len(same))},
        "identities": {"rows": len(lk.table), "largest": lk.largest, "split": lk.n_split},
        "largest_component_share": {
            "same_actor_links": _largest_share(n, same["a"].to_numpy(), same["b"].to_numpy()),
            "identifier_pairs": _largest_share(n, g.pairs["a"].to_numpy(), g.pairs["b"].to_numpy()),
            "adjacency": _largest_share(n, upper.row, upper.col)},
        "stage_seconds": stages.timings,
        "peak_rss_mib": _peak_mib(),
    }
    out["bytes_per_account"] = {k: round(v["bytes"] / n, 1) for k, v in out.items()
                                if isinstance(v, dict) and "bytes" in v}
    return out


class _Shuffle:
    """Shuffle bytes written by the Spark stages that completed since the last call."""

    def __init__(self, spark):
        self.url = None
        app = spark.sparkContext.applicationId
        if spark.conf.get("spark.ui.enabled", "false") == "true":
            self.url = f"http://127.0.0.1:{spark.conf.get('spark.ui.port')}/api/v1/applications/{app}/stages"
        self.seen = self._stages()

    def _stages(self) -> dict:
        if not self.url:
            return {}
        try:
            with urllib.request.urlopen(self.url, timeout=30) as r:
                return {(s["stageId"], s["attemptId"]): s for s in json.load(r)
                        if s["status"] == "COMPLETE"}
        except OSError:
            return {}

    def since(self) -> dict:
        now = self._stages()
        new = [s for k, s in now.items() if k not in self.seen]
        self.seen = now
        return {"shuffle_write_mib": round(sum(s.get("shuffleWriteBytes", 0) for s in new)
                                           / 2**20, 1),
                "spark_stages": len(new)}


def algorithms(d: Path, master: str) -> dict:
    """The Spark fallbacks on the in-process graph's links, timed and compared."""
    import dataclasses
    import warnings

    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    from ringfence.graph.linking import SAME_ACTOR
    from ringfence.graph.pipeline import run_pipeline
    from ringfence.graph.progress import Stages
    from ringfence.graph.propagate import propagation_columns
    from ringfence.graph.spark import spark_session
    from ringfence.graph.spark.components import connected_components, spark_identities
    from ringfence.graph.spark.leiden import leiden_per_component, ring_quality
    from ringfence.graph.spark.pagerank import spark_propagation

    stages = Stages(quiet=True)
    state = run_pipeline(_tables(d), stages=stages)
    g, lk = state.graph, state.linking
    n = g.n_accounts
    config20 = dataclasses.replace(g.config, max_iter=20, tol=1e-300)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, _ = propagation_columns(g, config20)
    in_process = {**stages.timings, "propagation (20 iterations)": round(time.perf_counter() - t, 2)}
    truth = pd.read_csv(d / "truth.csv.gz", dtype=str, keep_default_na=False) \
        .set_index("account_id").reindex(g.account_ids)
    ring = pd.factorize(truth["ring_id"].where(truth["ring_id"] != "", None))[0]

    work = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    same = lk.links[lk.links["link_kind"] == SAME_ACTOR]
    same[["a", "b"]].assign(weight=same["match_weight"]).to_parquet(work / "same.parquet")
    upper = sp.triu(g.adjacency, k=1).tocoo()
    pd.DataFrame({"a": upper.row.astype(np.int64), "b": upper.col.astype(np.int64),
                  "weight": upper.data}).to_parquet(work / "links.parquet")
    g.status[["banned", "cleared", "seed_weight"]].assign(node=np.arange(n)) \
        .to_parquet(work / "status.parquet")
    pd.DataFrame({"node": np.arange(n), "account_id": g.account_ids.astype(str),
                  "identity": lk.identity}).to_parquet(work / "accounts.parquet")

    t = time.perf_counter()
    spark = spark_session(master, app_name="ringfence-bench",
                          conf={"spark.ui.enabled": "true", "spark.ui.port": str(UI_PORT),
                                "spark.driver.memory": "4g"})
    spark.sparkContext.setCheckpointDir(str(work / "checkpoints"))
    out = {"accounts": n, "master": master, "session_seconds": round(time.perf_counter() - t, 1),
           "in_process_seconds": in_process, "spark": {}}
    shuffle = _Shuffle(spark)
    same_df = spark.read.parquet(str(work / "same.parquet"))
    links_df = spark.read.parquet(str(work / "links.parquet"))

    def timed(name, fn):
        t0 = time.perf_counter()
        result = fn()
        out["spark"][name] = {"seconds": round(time.perf_counter() - t0, 1), **shuffle.since()}
        print(f"[bench-spark] {n:,}: {name} {out['spark'][name]}", file=sys.stderr, flush=True)
        return result

    comp = timed("connected components", lambda: connected_components(same_df).toPandas())
    found = timed("identities", lambda: (lambda f: (f.nodes.toPandas(), f.n_split))(
        spark_identities(same_df, g.config.max_identity_size)))
    identity = np.full(n, -1)
    identity[found[0]["node"].to_numpy()] = found[0]["identity"].to_numpy()
    out["parity"] = {"identities_equal": bool((identity == lk.identity).all()),
                     "components": int(comp["component"].nunique())}

    def propagate():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table, meta = spark_propagation(links_df, spark.read.parquet(str(work / "status.parquet")),
                                            config20)
            return table.toPandas().sort_values("node"), meta

    got, meta = timed("propagation (20 iterations)", propagate)
    out["parity"]["propagation_max_abs_diff"] = {
        col: float(np.abs(got[col].to_numpy() - expected[col]).max())
        for col in ("propagation_raw", "propagation", "propagation_score")}
    out["parity"]["propagation_l1_diff"] = float(
        np.abs(got["propagation_raw"].to_numpy() - expected["propagation_raw"]).sum())

    g.pairs[["a", "b"]].to_parquet(work / "pairs.parquet")
    pair_comp = timed("connected components (identifier pairs)", lambda: connected_components(
        spark.read.parquet(str(work / "pairs.parquet"))))
    nodes = spark.read.parquet(str(work / "accounts.parquet")).join(pair_comp, "node")

    clusters = timed("Leiden per component", lambda: leiden_per_component(
        links_df, nodes, g.config).toPandas())
    membership = np.full(n, -1)
    membership[clusters["node"].to_numpy()] = clusters["cluster"].to_numpy()
    rec, prec = ring_quality(state.membership, ring)
    srec, sprec = ring_quality(membership, ring)
    out["parity"]["rings"] = {"in_process": [round(rec, 4), round(prec, 4)],
                              "leiden_per_component": [round(srec, 4), round(sprec, 4)]}
    out["peak_rss_mib_driver_python"] = _peak_mib()
    spark.stop()
    return out


def engine(d: Path, master: str, work: Path) -> dict:
    """``ringfence flag`` with each engine on the same files: seconds and flagged overlap."""
    import pandas as pd

    from ringfence.jobs.runs import read_table

    runs = {}
    for name, extra in (("in-process", []), ("spark", ["--engine", "spark",
                                                       "--spark-master", master])):
        out = work / f"flag-{name}"
        cmd = [sys.executable, "-m", "ringfence.jobs.cli", "flag", "--quiet", "--top", "0",
               "--out", str(out)]
        for t in ("accounts", "identifiers", "edges", "enforcement"):
            cmd += [f"--{t}", str(d / f"{t}.parquet")]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd + extra, cwd=ROOT, capture_output=True, text=True,
                              env=dict(os.environ, RINGFENCE_MASK_KEY="bench"))
        wall = time.perf_counter() - t0
        if proc.returncode:
            runs[name] = {"error": f"exit {proc.returncode}: {proc.stderr[-2000:]}"}
            continue
        run = json.loads((out / "run.json").read_text())
        flagged = read_table(out, "scores")
        flagged = flagged.loc[flagged["flagged"].astype(bool), "account_id"] \
            if "flagged" in flagged.columns else pd.Series(dtype=str)
        runs[name] = {"wall_seconds": round(wall, 1), "stage_seconds": run.get("stage_seconds"),
                      "engine": run.get("engine"), "flagged": set(flagged)}
    ok = [r for r in runs.values() if "flagged" in r]
    if len(ok) == 2:
        a, b = ok[0]["flagged"], ok[1]["flagged"]
        runs["flagged_overlap"] = round(len(a & b) / max(len(a | b), 1), 4)
    for r in ok:
        r["flagged"] = len(r["flagged"])
    return runs


def _child(part: str, d: Path, master: str) -> dict:
    """Run one part in a process of its own and read its JSON."""
    cmd = [sys.executable, __file__, "--child", part, str(d), "--master", master]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    sys.stderr.write(proc.stderr[-4000:] if proc.returncode else "")
    if proc.returncode:
        return {"error": f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--child", nargs=2, metavar=("PART", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.child:
        part, d = args.child
        result = volumes(Path(d)) if part == "volumes" else algorithms(Path(d), args.master)
        print(json.dumps(result))
        return

    from benchmarks.bench import ensure_platform, machine

    rows = []
    for n in args.sizes:
        d, _ = ensure_platform(n)
        row = {"accounts": n}
        for part in args.parts:
            print(f"[bench-spark] {n:,} accounts: {part} ...", file=sys.stderr, flush=True)
            t = time.perf_counter()
            if part == "engine":
                with tempfile.TemporaryDirectory(prefix="bench-spark-") as work:
                    row[part] = engine(d, args.master, Path(work))
            else:
                row[part] = _child(part, d, args.master)
            row[part]["part_seconds"] = round(time.perf_counter() - t, 1)
        rows.append(row)
        print(json.dumps(row, indent=1))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"bench-spark-{stamp}.json"
    path.write_text(json.dumps({"machine": machine(), "master": args.master, "rows": rows},
                               indent=1))
    print(f"[bench-spark] written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
