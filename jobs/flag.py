"""The flag job: from the four input tables to a ranked, explained review queue.

Stages: load and validate, build the graph, link identities, find clusters,
propagate blacklist status, (features and model), score, explain, write.
Already-banned accounts are never flagged again, and accounts a reviewer
cleared are never flagged by propagation alone.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ringfence.graph.build import AccountGraph, build_graph
from ringfence.graph.clusters import find_clusters
from ringfence.graph.config import GraphConfig
from ringfence.graph.evidence import Masker, describe_paths, evidence_paths
from ringfence.graph.identity import Identities, link_identities
from ringfence.graph.propagate import propagate_blacklist
from ringfence.graph.tables import Tables, load_tables
from ringfence.jobs.output import atomic_directory, file_sha256, write_json, write_table
from ringfence.jobs.progress import Stages, peak_rss_mib

__all__ = ["FlagResult", "run_flag", "write_flag_outputs", "default_review_capacity"]

PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "networkx", "igraph")


def default_review_capacity(n_accounts: int) -> int:
    """1 % of accounts, at least 10: a day's work for a small review team."""
    return max(10, math.ceil(0.01 * n_accounts))


@dataclass
class FlagResult:
    """Everything the flag job produced, as tables (see :func:`run_flag`)."""

    scores: pd.DataFrame
    identities: pd.DataFrame
    links: pd.DataFrame
    clusters: pd.DataFrame
    evidence: pd.DataFrame
    run: dict[str, Any]
    graph: AccountGraph = field(repr=False)
    identity_result: Identities = field(repr=False)

    def summary(self) -> dict[str, Any]:
        return self.run["summary"]

    def top(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` highest-ranked flagged accounts with their reasons."""
        s = self.scores
        return s[s["flagged"]].nsmallest(n, "rank")[["account_id", "score", "rank", "reasons"]]


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in ("ringfence",) + PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _links_table(graph: AccountGraph, ident: Identities, masker: Masker) -> pd.DataFrame:
    links = ident.links
    ids = graph.account_ids
    top = links["top_identifier"].to_numpy()
    idf = graph.identifiers
    kind_names = np.array(graph.kind_names, dtype=object)
    # only the cited identifiers' strings, not all of them
    kinds = kind_names[idf["kind"].cat.codes.to_numpy()[top]] if len(top) \
        else np.array([], dtype=object)
    values = np.asarray(idf["value"].array.take(top), dtype=object)
    masks = masker.mask_many(kinds, values)
    # "device+ip" per distinct bit mask (a handful), then spread to every link
    bits, inverse = np.unique(links["kinds"].to_numpy(), return_inverse=True)
    names = np.array(["+".join(kind_names[[i for i in range(len(kind_names)) if b >> i & 1]])
                      for b in bits], dtype=object)
    kinds_text = names[inverse.ravel()]
    return pd.DataFrame({
        "account_a": ids[links["a"].to_numpy()],
        "account_b": ids[links["b"].to_numpy()],
        "identity_id": np.where(links["cut"].to_numpy(), -1,
                                ident.identity[links["a"].to_numpy()]),
        "weight": links["weight"].to_numpy(),
        "n_shared": links["n_shared"].to_numpy(),
        "kinds": kinds_text,
        "top_kind": kinds.astype(str) if len(top) else np.array([], dtype=str),
        "top_identifier": masks,
        "top_shared_by": idf["n_accounts"].to_numpy()[top] if len(top) else np.array([], int),
        "cut": links["cut"].to_numpy(),
    })


def _flag(scores: np.ndarray, eligible: np.ndarray, review_capacity: int | None,
          threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Rank eligible accounts by score (1 = riskiest) and flag the top K or those >= T."""
    n = len(scores)
    rank = np.full(n, np.nan)
    elig = np.flatnonzero(eligible)
    # stable order: score descending, then node order, so ties rank deterministically
    order = elig[np.lexsort((elig, -scores[elig]))]
    rank[order] = np.arange(1, len(order) + 1)
    flagged = np.zeros(n, bool)
    if threshold is not None:
        flagged[elig] = scores[elig] >= threshold
        flagged &= scores > 0
    else:
        k = review_capacity if review_capacity is not None else default_review_capacity(n)
        top = order[:k]
        flagged[top[scores[top] > 0]] = True
    return rank, flagged


def run_flag(tables: Tables, *, config: GraphConfig | None = None,
             review_capacity: int | None = None, threshold: float | None = None,
             as_of: str | pd.Timestamp | None = None, masker: Masker | None = None,
             stages: Stages | None = None, scorer: Callable[..., Any] | str | None = "auto",
             max_paths: int = 3, free_inputs: bool = False) -> FlagResult:
    """Run the flag job on validated tables and return its outputs as DataFrames.

    Parameters
    ----------
    tables
        From :func:`graph.load_tables`; needs ``enforcement`` and one of
        ``identifiers`` or ``edges``.
    config
        Graph parameters (:class:`graph.config.GraphConfig`).
    review_capacity, threshold
        Flag the top ``review_capacity`` eligible accounts by score, or those
        scoring at least ``threshold``; by default the top 1 % (at least 10).
    as_of
        Ages are measured from here; default the newest timestamp in the input.
    masker
        Masks identifier values in reasons (default: key from
        ``RINGFENCE_MASK_KEY``, else a random per-run key).
    stages
        Progress reporter (default: quiet).
    scorer
        ``"auto"`` (default): fit the repeat-offender model in this run when
        enforcement holds at least 20 banned and 20 cleared accounts, else
        propagation alone (see :func:`jobs.scoring.model_scorer`); ``None``:
        propagation alone; or a callable ``scorer(tables=, graph=,
        identities=, membership=, propagation=, stages=) -> (scores, info)``.
    max_paths
        Evidence paths kept per flagged account.
    free_inputs
        Drop ``tables.identifiers`` and ``tables.edges`` (and their cached
        encodings) as soon as the graph build has read them: the graph holds
        what the job needs, and at 1,000,000 accounts they are about 0.8 GB.
        The command line does this; from a notebook the default keeps your
        tables.

    Returns
    -------
    FlagResult

    Examples
    --------
    >>> from ringfence.graph.synth import generate_platform
    >>> from ringfence.graph import load_tables
    >>> p = generate_platform(n_accounts=2000, seed=1)
    >>> t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    >>> result = run_flag(t, review_capacity=20)
    >>> int(result.scores["flagged"].sum())
    20
    """
    if review_capacity is not None and threshold is not None:
        raise ValueError("give review_capacity or threshold, not both")
    if review_capacity is not None and review_capacity < 1:
        raise ValueError(f"review_capacity must be at least 1, got {review_capacity}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    tables.require("accounts", "enforcement", any_of=("identifiers", "edges"))
    config = config or GraphConfig()
    masker = masker or Masker()
    stages = stages or Stages(quiet=True)
    t0 = time.perf_counter()
    if scorer == "auto":
        from ringfence.jobs.scoring import model_scorer
        scorer = model_scorer(seed=config.seed)

    row_counts = {name: (len(df) if (df := tables[name]) is not None else None)
                  for name in ("accounts", "identifiers", "edges", "enforcement")}
    with stages.stage("build graph"):
        graph = build_graph(tables, config, as_of=as_of, release_inputs=free_inputs)
    with stages.stage("link identities"):
        ident = link_identities(graph, config)
    with stages.stage("find clusters"):
        membership, clusters = find_clusters(graph, config, identity=ident.identity)
    with stages.stage("propagate blacklist"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            prop = propagate_blacklist(graph, config)
        prop_warnings = [str(w.message) for w in caught]
        for msg in prop_warnings:
            stages.log(f"warning: {msg}")

    status = graph.status
    banned = status["banned"].to_numpy()
    cleared = status["cleared"].to_numpy()
    model_info: dict[str, Any]
    if scorer is not None:
        score, model_info = scorer(tables=tables, graph=graph, identities=ident,
                                   membership=membership, propagation=prop, stages=stages)
        score = np.asarray(score, float)
    else:
        score = prop["propagation_score"].to_numpy(float)
        model_info = {"mode": "propagation", "reason": "no model given"}

    with stages.stage("rank and explain"):
        # a reviewer's clearance stands: cleared accounts are not queued again
        eligible = ~banned & ~cleared
        rank, flagged = _flag(score, eligible, review_capacity, threshold)
        flagged_nodes = np.flatnonzero(flagged)
        flagged_nodes = flagged_nodes[np.argsort(rank[flagged_nodes])]
        paths = evidence_paths(graph, flagged_nodes, max_paths=max_paths, masker=masker)
        explain = model_info.pop("explain", None)
        model_reasons = explain(flagged_nodes) if explain is not None else {}
        reasons = np.full(graph.n_accounts, "", dtype=object)
        ev_rows = []
        for node, plist in paths.items():
            text = describe_paths(plist)
            extra = model_reasons.get(node)
            if extra:
                text = (text + "; " if text else "") + extra
            if not text:
                text = "no short path to a banned account (scored on other signals)"
            reasons[node] = text
            for i, p in enumerate(plist, start=1):
                ev_rows.append({"account_id": graph.account_ids[node], "path_rank": i,
                                "hops": p["hops"], "banned_account": p["banned"]["account_id"],
                                "strength": p["strength"], "text": p["text"],
                                "path": json.dumps(p["accounts"]),
                                "steps": json.dumps(p["steps"])})
        evidence = pd.DataFrame(ev_rows, columns=["account_id", "path_rank", "hops",
                                                  "banned_account", "strength", "text", "path",
                                                  "steps"])
        scores = pd.DataFrame({
            "account_id": graph.account_ids,
            "score": np.clip(score, 0.0, 1.0),
            "rank": pd.array(rank, dtype="Int64") if len(rank) else pd.array([], "Int64"),
            "flagged": flagged,
            "identity_id": ident.identity,
            "cluster_id": membership,
            "banned": banned,
            "cleared": cleared,
            "violations": status["violations"].to_numpy(),
            "propagation": prop["propagation_score"].to_numpy(),
            "reasons": reasons,
        })
        links = _links_table(graph, ident, masker)
        identities = ident.table.copy()

    n_flagged = int(flagged.sum())
    summary = {
        "accounts": graph.n_accounts,
        "banned": int(banned.sum()),
        "cleared": int(cleared.sum()),
        "identities": int(len(identities)),
        "largest_identity": ident.largest,
        "identities_split": ident.n_split,
        "clusters": int(len(clusters)),
        "flagged": n_flagged,
        "scoring": model_info.get("mode", "propagation"),
        **({"scoring_note": model_info["reason"]} if "reason" in model_info else {}),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if not masker.persistent:
        summary["masks"] = (f"random per-run key: identifier masks will differ between runs "
                            f"(set RINGFENCE_MASK_KEY to keep them stable)")
    run = {
        "as_of": graph.as_of.isoformat(),
        "parameters": {"config": config.to_dict(), "review_capacity": review_capacity,
                       "threshold": threshold,
                       "effective_review_capacity": review_capacity if threshold is not None
                       or review_capacity is not None else
                       default_review_capacity(graph.n_accounts),
                       "max_paths": max_paths},
        "inputs": {name: {"source": src} for name, src in tables.sources.items()},
        "row_counts": row_counts,
        "graph": graph.summary(),
        "propagation": prop.attrs.get("propagation", {}),
        "propagation_warnings": prop_warnings,
        "model": model_info,
        "masking": {"persistent_key": masker.persistent,
                    "key_fingerprint": masker.fingerprint()},
        "input_notes": list(tables.notes),
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "stage_seconds": dict(stages.timings),
        "stage_peak_rss_mib": dict(stages.peak_mib),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "summary": summary,
    }
    return FlagResult(scores=scores, identities=identities, links=links, clusters=clusters,
                      evidence=evidence, run=run, graph=graph, identity_result=ident)


def write_flag_outputs(result: FlagResult, out_dir: str | Path, fmt: str = "parquet") -> Path:
    """Write a :class:`FlagResult` into ``out_dir`` atomically; returns the directory.

    Files: ``scores``, ``identities``, ``links``, ``clusters``, ``evidence`` (in
    ``fmt``) and ``run.json``.
    """
    with atomic_directory(out_dir) as tmp:
        files = {}
        for name in ("scores", "identities", "links", "clusters", "evidence"):
            files[name] = write_table(getattr(result, name), tmp, name, fmt).name
        run = dict(result.run)
        run["outputs"] = files
        run["format"] = fmt
        write_json(run, tmp / "run.json")
    return Path(out_dir)


def hash_inputs(run: dict[str, Any], tables: Tables) -> None:
    """Add the sha256 of every input file to ``run['inputs']``."""
    for name, src in tables.sources.items():
        p = Path(src)
        if p.is_file():
            run["inputs"][name]["path"] = str(p.resolve())
            run["inputs"][name]["sha256"] = file_sha256(p)
            run["inputs"][name]["bytes"] = p.stat().st_size


def load_and_flag(paths: dict[str, str | None], out_dir: str | Path, *, fmt: str = "parquet",
                  config: GraphConfig | None = None, stages: Stages | None = None,
                  **kwargs: Any) -> FlagResult:
    """Load, validate, run and write: the command line's flag job."""
    stages = stages or Stages(quiet=True)
    with stages.stage("load and validate"):
        tables = load_tables(**paths)
        tables.require("accounts", "enforcement", any_of=("identifiers", "edges"))
    kwargs.setdefault("free_inputs", True)  # this function made the tables: let them go early
    result = run_flag(tables, config=config, stages=stages, **kwargs)
    hash_inputs(result.run, tables)
    with stages.stage("write outputs"):
        result.run["stage_seconds"] = dict(stages.timings)
        result.run["stage_peak_rss_mib"] = dict(stages.peak_mib)
        write_flag_outputs(result, out_dir, fmt)
    result.run["stage_seconds"] = dict(stages.timings)
    result.run["stage_peak_rss_mib"] = dict(stages.peak_mib)
    result.run["summary"]["seconds"] = round(stages.elapsed, 2)
    # the record written above could not know how long writing took: complete it
    path = Path(out_dir) / "run.json"
    run = json.loads(path.read_text())
    for key in ("stage_seconds", "stage_peak_rss_mib"):
        run[key] = result.run[key]
    run["summary"]["seconds"] = result.run["summary"]["seconds"]
    tmp = path.with_name(".run.json.tmp")
    write_json(run, tmp)
    os.replace(tmp, path)
    return result
