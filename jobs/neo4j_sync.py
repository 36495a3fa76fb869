"""Syncing a flag job's output folder into Neo4j (what ``ringfence neo4j sync`` runs).

A run folder is the jobs' business, so reading one lives here, not in
:mod:`ringfence.graph.neo4j`: :func:`load_run_dir` reloads what a run used and produced
(its inputs re-read and checked against the recorded sha256, the graph rebuilt, the
outputs read back) and :func:`sync_run_dir` hands that to
:func:`~ringfence.graph.neo4j.sync_to_neo4j`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ringfence.graph.atomic import file_sha256
from ringfence.graph.build import build_graph
from ringfence.graph.config import load_config
from ringfence.graph.neo4j import SyncReport, sync_to_neo4j
from ringfence.graph.neo4j.names import CLUSTER_TIME_COLUMNS
from ringfence.graph.tables import InputWarning, load_tables
from ringfence.jobs.output import read_output

__all__ = ["RunDirError", "load_run_dir", "sync_run_dir"]

class RunDirError(ValueError):
    """A flag output directory cannot be synced (missing files, changed inputs)."""


def _read_output_table(run_dir: Path, name: str) -> pd.DataFrame:
    if (run_dir / f"{name}.parquet").exists():
        return read_output(run_dir, name)
    path = run_dir / f"{name}.csv"
    if not path.exists():
        raise RunDirError(f"{run_dir}: no {name}.parquet or {name}.csv "
                          "(is this a flag job's --out directory?)")
    text = {"account_id", "account_a", "account_b", "reasons", "kinds", "top_kind",
            "top_identifier", "banned_account", "text", "path", "steps"}
    head = pd.read_csv(path, nrows=0).columns
    df = pd.read_csv(path, dtype={c: str for c in head if c in text}, keep_default_na=False,
                     na_values={c: ["", "NA", "NaN", "nan"] for c in head if c not in text})
    for c in CLUSTER_TIME_COLUMNS:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
    if "rank" in df.columns:
        df["rank"] = df["rank"].astype("Int64")
    return df


def load_run_dir(run_dir: str | Path, *, check_hashes: bool = True):
    """Reload what a flag run used and produced: ``(tables, outputs, graph, run)``.

    The inputs are read again from the paths in ``run.json`` (and must still have the
    recorded sha256), the graph is rebuilt with the run's config and as-of time, and
    the outputs are read from the directory.
    """
    run_dir = Path(run_dir)
    run_path = run_dir / "run.json"
    if not run_path.is_file():
        raise RunDirError(f"{run_dir}: no run.json (is this a flag job's --out directory?)")
    run = json.loads(run_path.read_text(encoding="utf-8"))
    paths: dict[str, str] = {}
    for name, info in (run.get("inputs") or {}).items():
        # "path" (absolute) when the flag job recorded it, else "source" as given
        src = info.get("path") or info.get("source", "")
        p = Path(src)
        if not p.is_absolute() and not p.exists():
            p = run_dir / src if (run_dir / src).exists() else p
        if not p.is_file():
            raise RunDirError(f"{run_dir}/run.json: the {name} input {src!r} is not a file "
                              "any more (or the run was made from DataFrames)")
        want = info.get("sha256")
        if check_hashes and want:
            if file_sha256(p) != want:
                raise RunDirError(f"{p}: the {name} input changed since the run "
                                  "(sha256 differs); flag it again before syncing")
        paths[name] = str(p)
    if "accounts" not in paths:
        raise RunDirError(f"{run_dir}/run.json: no accounts input recorded")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        tables = load_tables(**paths)
    config = load_config((run.get("parameters") or {}).get("config") or {})
    graph = build_graph(tables, config, as_of=run.get("as_of"))
    outputs = {n: _read_output_table(run_dir, n) for n in ("scores", "links", "clusters")}
    return tables, outputs, graph, run


def sync_run_dir(target, run_dir: str | Path, **kwargs: Any) -> SyncReport:
    """:func:`sync_to_neo4j` for a flag job's output directory (what the CLI runs)."""
    tables, outputs, graph, _ = load_run_dir(run_dir)
    return sync_to_neo4j(target, tables, outputs, graph=graph, **kwargs)
