"""Neo4j at platform scale: rows per second of the bulk export, the full MERGE sync and
the incremental (nightly) sync.

    python benchmarks/bench_neo4j.py                          # make bench-neo4j
    python benchmarks/bench_neo4j.py --bulk-sizes 100000 --sync-size 5000

- bulk export: ``export_bulk`` of a flagged synthetic platform (100,000 and 1,000,000
  accounts by default), preparation and file writing timed apart;
- full and incremental sync against the test server (ArcadeDB from
  ``arcadedb-embedded``, started here as the tests start it; ``NEO4J_URI`` is not
  used: the benchmark wipes its database): a full sync of a 20,000-account run into
  an empty database, then the same run with ``--changed`` (1 %) of the accounts'
  scores changed, a few accounts gone and new, synced incrementally.

Platforms are generated in a child process and cached as Parquet under
``benchmarks/.cache`` (shared with bench.py). Results are printed and written to
``benchmarks/results/bench-neo4j-<time>.json``. Throughput is reported, never asserted.
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
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
RESULTS = ROOT / "benchmarks" / "results"
TABLES = ("accounts", "identifiers", "edges", "enforcement")


def platform_dir(n: int, seed: int) -> Path:
    """The cached platform, generated in a child process (its memory is not ours)."""
    d = CACHE / f"platform-{n}-{seed}"
    if not all((d / f"{t}.parquet").exists() for t in TABLES):
        code = ("import sys; from ringfence.graph.synth import generate_platform, write_platform; "
                "write_platform(generate_platform(n_accounts=int(sys.argv[1]), seed=int(sys.argv[2])),"
                " sys.argv[3], format='parquet')")
        subprocess.run([sys.executable, "-c", code, str(n), str(seed), str(d)], check=True)
    return d


def flagged(n: int, seed: int):
    from ringfence.graph import load_tables
    from ringfence.graph.masking import Masker
    from ringfence.jobs.flag import run_flag

    d = platform_dir(n, seed)
    t = time.perf_counter()
    tables = load_tables(**{k: str(d / f"{k}.parquet") for k in TABLES})
    result = run_flag(tables, scorer="propagation", masker=Masker(b"bench-neo4j"))
    return tables, result, time.perf_counter() - t


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def bench_bulk(n: int, seed: int, work: Path) -> dict:
    from ringfence.graph.neo4j.bulk import export_bulk
    from ringfence.graph.neo4j.incremental import _diff, sync_state
    from ringfence.graph.neo4j.rows import _outputs, _prepare, default_run_id

    tables, result, flag_s = flagged(n, seed)
    outputs = _outputs(result)
    t = time.perf_counter()
    run_id = default_run_id(tables, outputs)
    writes = _prepare(tables, outputs, result.graph, run_id)
    # what the nightly sync adds at this size before sending anything: hashing every row
    # and joining with the previous state (here: the same run, nothing changed)
    t = time.perf_counter()
    state = sync_state(writes, run_id)
    state_s = time.perf_counter() - t
    t = time.perf_counter()
    send, gone = _diff(state, state)
    diff_s = time.perf_counter() - t
    assert not send.any() and not len(gone)
    del writes, state
    cpu = time.process_time()
    export = export_bulk(tables, result, work / f"bulk-{n}")
    cpu = time.process_time() - cpu
    size = sum(p.stat().st_size for p in (work / f"bulk-{n}").rglob("*") if p.is_file())
    row = {"accounts": n, "rows": export.rows, "seconds": round(export.seconds, 2),
           "rows_per_s": round(export.rows_per_s),
           "prepare_seconds": round(export.prepare_seconds, 2),
           "write_seconds": round(export.write_seconds, 2),
           "write_rows_per_s": round(export.rows / max(export.write_seconds, 1e-9)),
           "cpu_seconds": round(cpu, 2), "mib": round(size / 2**20, 1),
           "flag_seconds": round(flag_s, 1), "peak_rss_gib": round(peak_gib(), 2),
           "files": len(export.nodes) + len(export.relationships),
           "state_hash_seconds": round(state_s, 2), "state_diff_seconds": round(diff_s, 2)}
    print(f"bulk export {n:>9,} accounts: {export.rows:>11,} rows in {export.seconds:6.1f} s "
          f"= {export.rows_per_s:>9,.0f} rows/s (preparing {export.prepare_seconds:.1f} s, files "
          f"{row['write_seconds']:.1f} s = {row['write_rows_per_s']:,} rows/s; cpu "
          f"{cpu:.1f} s; {row['mib']:,} MiB gzip); nightly-sync overhead: hashing "
          f"{state_s:.1f} s, diffing {diff_s:.1f} s", flush=True)
    return row


def _night(tables, result, changed: float, seed: int):
    """The next night's run: ``changed`` of the scores moved, 5 accounts gone, 5 new."""
    import numpy as np
    import pandas as pd

    from ringfence.graph import load_tables

    rng = np.random.default_rng(seed)
    scores = result.scores.copy()
    ids = scores["account_id"].astype(str).to_numpy()
    alone = ids[(scores["cluster_id"] < 0).to_numpy()]
    gone = set(rng.choice(alone, 5, replace=False))
    moved = rng.random(len(scores)) < changed
    scores.loc[moved, "score"] = scores.loc[moved, "score"] * 0.9 + 0.05
    keep = ~np.isin(ids, list(gone))
    new_ids = [f"acct_new_{i}" for i in range(5)]
    donors = scores[keep].head(5)
    scores = pd.concat([scores[keep], donors.assign(account_id=new_ids, cluster_id=-1,
                                                    identity_id=-1)], ignore_index=True)
    acc = tables.accounts
    acc = pd.concat([acc[~acc["account_id"].isin(gone)],
                     acc.set_index("account_id").loc[donors["account_id"]].reset_index()
                     .assign(account_id=new_ids)], ignore_index=True)
    idf = tables.identifiers[~tables.identifiers["account_id"].isin(gone)]
    edf = tables.edges[~tables.edges["src"].isin(gone) & ~tables.edges["dst"].isin(gone)]
    enf = tables.enforcement[~tables.enforcement["account_id"].isin(gone)]
    links = result.links[~result.links["account_a"].isin(gone)
                         & ~result.links["account_b"].isin(gone)]
    t2 = load_tables(acc, identifiers=idf, edges=edf, enforcement=enf)
    return t2, {"scores": scores, "links": links, "clusters": result.clusters}, int(moved.sum())


def bench_sync(n: int, seed: int, changed: float, batch: int, work: Path) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from bolt_server import arcadedb_server

    from ringfence.graph.neo4j import Neo4jSettings
    from ringfence.graph.neo4j.incremental import sync_changes

    tables, result, _ = flagged(n, seed)
    a_out = {k: getattr(result, k) for k in ("scores", "links", "clusters")}
    t2, b_out, moved = _night(tables, result, changed, seed)
    out: dict = {"accounts": n, "changed_scores": moved, "batch_size": batch}
    (work / "arcadedb").mkdir()
    with arcadedb_server(work / "arcadedb", database="ringfence", timeout=180,
                         heap="1g") as srv:
        settings = Neo4jSettings(uri=srv.uri, user=srv.user, password=srv.password,
                                 database=srv.database)
        kw = {"progress": False, "batch_size": batch, "graph": result.graph}
        full, state = sync_changes(settings, tables, a_out, None, **kw)
        inc, _ = sync_changes(settings, t2, b_out, state, **kw)
    for name, r in (("full", full), ("incremental", inc)):
        write_s = sum(s.seconds for s in r.steps)
        out[name] = {"mode": r.mode, "rows_sent": r.rows, "seconds": round(r.seconds, 1),
                     "write_seconds": round(write_s, 1), "rows_per_s": round(r.rows_per_s),
                     "prepare_seconds": round(r.prepare_seconds, 1),
                     "prune_seconds": round(r.prune_seconds, 1),
                     "steps": {s.name: s.rows for s in r.steps}}
    total = full.rows
    out["incremental"]["run_rows"] = total
    out["incremental"]["run_rows_per_s"] = round(total / inc.seconds)
    out["speedup"] = round(full.seconds / inc.seconds, 1)
    print(f"full sync        {n:>7,} accounts: {full.rows:>9,} rows in {full.seconds:6.1f} s "
          f"= {full.rows_per_s:>7,.0f} rows/s while writing", flush=True)
    print(f"incremental sync {n:>7,} accounts ({moved:,} scores changed, 5 gone, 5 new): "
          f"{inc.rows:,} rows sent in {inc.seconds:.1f} s (preparing and diffing "
          f"{inc.prepare_seconds:.1f} s) = the run's {total:,} rows at "
          f"{out['incremental']['run_rows_per_s']:,} rows/s, {out['speedup']}x the full sync",
          flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bulk-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--sync-size", type=int, default=20_000, help="0: skip the sync")
    ap.add_argument("--changed", type=float, default=0.01)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench import code_version

    results: dict = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "code": code_version(),
                     "cpus": os.cpu_count(), "load_average": os.getloadavg(), "bulk": []}
    with tempfile.TemporaryDirectory(prefix="bench-neo4j-") as tmp:
        work = Path(tmp)
        if args.sync_size:
            results["sync"] = bench_sync(args.sync_size, args.seed, args.changed,
                                         args.batch_size, work)
        for n in args.bulk_sizes:
            results["bulk"].append(bench_bulk(n, args.seed, work))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-neo4j-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
