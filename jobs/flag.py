"""The flag job: from the four input tables to a ranked, explained review queue.

Stages: load and validate, the graph stages (:func:`ringfence.graph.pipeline.run_pipeline`:
build, identities, clusters, propagation), scoring (:mod:`ringfence.models.scoring`),
rank and explain, write (:func:`ringfence.jobs.runs.write_run`). Already-banned
accounts are never flagged again, and accounts a reviewer cleared are never
queued.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ringfence.graph.build import AccountGraph
from ringfence.graph.config import GraphConfig
from ringfence.graph.decisions import latest_logged
from ringfence.graph.evidence import describe_paths, evidence_paths
from ringfence.graph.identity import IdentityLinking
from ringfence.graph.linking import SAME_ACTOR
from ringfence.graph.masking import Masker
from ringfence.graph.pipeline import GraphState, run_pipeline
from ringfence.graph.progress import Stages, peak_rss_mib
from ringfence.graph.rings import ring_priorities
from ringfence.graph.subgraph import StoredGraph, keep_around
from ringfence.graph.tables import TABLES, Tables, load_tables
from ringfence.jobs.config import JobConfig, default_review_capacity
from ringfence.jobs.continuity import Previous, add_status, carry_over, queue_table
from ringfence.jobs.decisions_log import reading_log
from ringfence.jobs.runs import RunFolder, read_run, record_inputs, write_run
from ringfence.models.scoring import (PropagationScorer, Scorer, eligible_nodes, make_scorer,
                                      percentile_of_rank, rank_order)

__all__ = ["FlagResult", "run_flag", "flag_files", "default_review_capacity"]

PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "networkx", "igraph")


@dataclass
class FlagResult:
    """Everything the flag job produced, as tables, plus the graph state it came from.

    ``state`` is None for a run read back without rebuilding its graph.
    """

    scores: pd.DataFrame
    identities: pd.DataFrame
    links: pd.DataFrame
    clusters: pd.DataFrame
    evidence: pd.DataFrame
    run: dict[str, Any]
    state: GraphState | None = field(default=None, repr=False)
    #: the graph around the flagged accounts, kept in the run folder (masked identifiers)
    subgraph: StoredGraph | None = field(default=None, repr=False)
    #: the masker the run's reasons were masked with
    masker: Masker | None = field(default=None, repr=False)

    @property
    def graph(self) -> AccountGraph | None:
        """The account graph (``state.graph``), or None."""
        return self.state.graph if self.state is not None else None

    def summary(self) -> dict[str, Any]:
        return self.run["summary"]

    @property
    def queue(self) -> pd.DataFrame:
        """The flagged accounts in rank order (the ``queue`` output)."""
        return queue_table(self.scores)

    def top(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` highest-ranked flagged accounts with their reasons."""
        s = self.scores
        return s[s["flagged"]].nsmallest(n, "rank")[["account_id", "score", "rank", "reasons"]]


def summary_tail(scoring: Any, tables: Tables, masker: Masker, t0: float) -> dict[str, Any]:
    """The end of run.json's ``summary``, the same on both engines: how the accounts were
    scored, the seconds since ``t0``, the decisions read and a word on unstable masks."""
    tail: dict[str, Any] = {
        "scoring": scoring.mode,
        **({"scoring_note": scoring.info["reason"]} if "reason" in scoring.info else {}),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if tables.decisions is not None:
        tail["decisions"] = len(tables.decisions)
    if not masker.persistent:
        tail["masks"] = ("random per-run key: identifier masks will differ between runs "
                         "(run ringfence init once, or set RINGFENCE_MASK_KEY, to keep "
                         "them stable)")
    return tail


def run_parameters(config: JobConfig, capacity: int) -> dict[str, Any]:
    """run.json's ``parameters``: the job's configuration and the review capacity used."""
    parameters = config.to_dict()
    parameters["effective_review_capacity"] = capacity
    return parameters


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in ("ringfence",) + PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _links_table(graph: AccountGraph, ident: IdentityLinking, masker: Masker) -> pd.DataFrame:
    links = ident.links
    ids = graph.account_ids
    top = links["top_identifier"].to_numpy()
    has_top = top >= 0  # pairs linked by partial or timing evidence share no exact raw value
    cited = top[has_top]
    idf = graph.identifiers
    kind_names = np.array(graph.kind_names, dtype=object)
    # only the cited identifiers' strings, not all of them
    kinds = np.full(len(top), "", dtype=object)
    masks = np.full(len(top), "", dtype=object)
    shared_by = np.zeros(len(top), np.int64)
    if len(cited):
        kinds[has_top] = kind_names[idf["kind"].cat.codes.to_numpy()[cited]]
        values = np.asarray(idf["value"].array.take(cited), dtype=object)
        masks[has_top] = masker.mask_many(kinds[has_top], values)
        shared_by[has_top] = idf["n_accounts"].to_numpy()[cited]
    # "device+ip" per distinct bit mask (a handful), then spread to every link
    bits, inverse = np.unique(links["kinds"].to_numpy(), return_inverse=True)
    names = np.array(["+".join(kind_names[[i for i in range(len(kind_names)) if b >> i & 1]])
                      for b in bits], dtype=object)
    kinds_text = names[inverse.ravel()]
    out = pd.DataFrame({
        "account_a": ids[links["a"].to_numpy()],
        "account_b": ids[links["b"].to_numpy()],
        "identity_id": np.where(links["cut"].to_numpy() | (links["link_kind"] != SAME_ACTOR),
                                -1, ident.identity[links["a"].to_numpy()]),
        "weight": links["weight"].to_numpy(),
        "n_shared": links["n_shared"].to_numpy(),
        "kinds": kinds_text,
        "top_kind": kinds.astype(str),
        "top_identifier": masks.astype(str),
        "top_shared_by": shared_by,
        "cut": links["cut"].to_numpy(),
    })
    # the linker's evidence: kind, probability, weight, each comparison's contribution, why
    evidence = ["link_kind", "match_probability", "match_weight"] \
        + [c for c in links.columns if c.startswith("bf_")] + ["reason", "decided"]
    for col in evidence:
        out[col] = links[col].to_numpy()
    return out


def _flag(scores: np.ndarray, eligible: np.ndarray, capacity: int | None,
          threshold: float | None, account_ids: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """Rank eligible accounts by score (1 = riskiest; ties by account id) and flag the top K
    or those >= T."""
    n = len(scores)
    rank = np.full(n, np.nan)
    order = rank_order(scores, eligible, account_ids)
    rank[order] = np.arange(1, len(order) + 1)
    flagged = np.zeros(n, bool)
    if threshold is not None:
        elig = np.flatnonzero(eligible)
        flagged[elig] = scores[elig] >= threshold
        flagged &= scores > 0
    else:
        top = order[:capacity]
        flagged[top[scores[top] > 0]] = True
    return rank, flagged


def _evidence(graph: AccountGraph, flagged_nodes: np.ndarray, explanations: dict[int, str],
              masker: Masker, max_paths: int) -> tuple[np.ndarray, pd.DataFrame]:
    """A reason per account (empty unless flagged) and the evidence paths table."""
    paths = evidence_paths(graph, flagged_nodes, max_paths=max_paths, masker=masker)
    reasons = np.full(graph.n_accounts, "", dtype=object)
    ev_rows = []
    for node, plist in paths.items():
        text = describe_paths(plist)
        extra = explanations.get(node)
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
    return reasons, evidence


def _engine_options(config: JobConfig) -> dict[str, Any]:
    if config.engine != "spark":
        return {}
    # beyond the driver the job runs on Spark to the end (jobs/spark_flag.py)
    return {"master": config.spark_master, "driver_max_links": config.spark_driver_max_links,
            "driver_max_identifiers": config.spark_driver_max_identifiers}


def _driver_limit(config: JobConfig) -> tuple[type[BaseException], ...]:
    """The Spark engine's "beyond the driver" error, when the job runs on Spark."""
    if config.engine != "spark":
        return ()
    from ringfence.graph.spark.engine import DriverLimitError
    return (DriverLimitError,)


def run_flag(tables: Tables, config: JobConfig | GraphConfig | None = None, *,
             scorer: Scorer | str = "auto", masker: Masker | None = None,
             stages: Stages | None = None,
             previous: RunFolder | str | Path | None = None, **settings: Any) -> FlagResult:
    """Run the flag job on validated tables and return its outputs as DataFrames.

    Parameters
    ----------
    tables
        From :func:`ringfence.load_tables`; needs ``enforcement`` and one of
        ``identifiers`` or ``edges``.
    config
        The job's settings (:class:`~ringfence.jobs.config.JobConfig`, or a
        :class:`~ringfence.graph.config.GraphConfig` for the graph alone);
        ``settings`` given by name (``review_capacity=200``, ``seed=3``, any
        job setting or graph parameter) are applied on top.
    scorer
        ``"auto"`` (default): a saved model when ``config.model`` is set, else
        a model fitted in this run when enforcement holds at least 20 banned
        and 20 cleared accounts, else propagation alone
        (:class:`~ringfence.models.scoring.ModelScorer`); ``"propagation"``;
        or any :class:`~ringfence.models.scoring.Scorer`.
    masker
        Masks identifier values in reasons (default: key from
        ``RINGFENCE_MASK_KEY``, else the key file ``ringfence init`` wrote, else
        a random per-run key).
    stages
        Progress reporter (default: quiet).
    previous
        The previous run's folder: identity and cluster ids are carried over
        from it and ``scores`` says each account's status against it
        (:mod:`ringfence.jobs.continuity`).

    Returns
    -------
    FlagResult

    Examples
    --------
    >>> from ringfence.graph.synth import generate_platform
    >>> from ringfence import load_tables
    >>> p = generate_platform(n_accounts=2000, seed=1)
    >>> t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
    >>> result = run_flag(t, review_capacity=20)
    >>> int(result.scores["flagged"].sum())
    20
    """
    if isinstance(config, GraphConfig):  # graph parameters alone: the job's defaults for the rest
        config = JobConfig(graph=config)
    config = config or JobConfig()
    if settings:
        config = config.replace(**settings)
    tables.require("accounts", "enforcement", any_of=("identifiers", "edges"))
    if not config.use_model:
        scorer = PropagationScorer("model disabled (--no-model)")
    else:
        scorer = make_scorer(scorer, model_path=config.model, seed=config.graph.seed,
                             max_age_days=config.max_model_age_days)
    masker = masker or Masker()
    stages = stages or Stages(quiet=True)
    if previous is not None and not isinstance(previous, RunFolder):
        previous = read_run(previous)
    prior = Previous.read(previous) if previous is not None else None
    t0 = time.perf_counter()

    row_counts = {name: (len(df) if (df := tables[name]) is not None else None)
                  for name in TABLES}
    row_counts.update(getattr(tables, "counts", {}))  # tables left on Spark (SparkTables)
    try:
        state = run_pipeline(tables, config.graph, as_of=config.as_of, stages=stages,
                             release_inputs=config.release_inputs, engine=config.engine,
                             engine_options=_engine_options(config))
    except _driver_limit(config) as err:
        if err.state is None:
            raise
        # the graph stages ran on Spark: features, scores and outputs stay there
        from ringfence.jobs.spark_flag import flag_beyond_driver
        return flag_beyond_driver(tables, config, err, masker=masker, stages=stages,
                                  row_counts=row_counts, t0=t0, previous=prior)
    graph, ident = state.graph, state.linking
    if config.engine == "spark":  # features and scores on Spark, the model fitted here
        from ringfence.models.spark_scoring import spark_scorer
        scorer = spark_scorer(scorer, config.spark_master)
    scoring = scorer.score(tables, state, stages)
    if "spark" in scoring.info:
        state.engine_info.setdefault("stages", {}).update(scoring.info.pop("spark"))
    score = np.asarray(scoring.scores, float)

    with stages.stage("rank and explain"):
        id_counters = carry_over(state, prior)
        # a reviewer's clearance stands: cleared accounts are not queued again
        capacity = config.capacity_for(graph.n_accounts)
        rank, flagged = _flag(score, eligible_nodes(state), capacity, config.threshold,
                              graph.account_ids)
        flagged_nodes = np.flatnonzero(flagged)
        flagged_nodes = flagged_nodes[np.argsort(rank[flagged_nodes])]
        reasons, evidence = _evidence(graph, flagged_nodes, scoring.explanations, masker,
                                      config.max_paths)
        status = graph.status
        scores = pd.DataFrame({
            "account_id": graph.account_ids,
            "score": np.clip(score, 0.0, 1.0),
            "rank": pd.array(rank, dtype="Int64") if len(rank) else pd.array([], "Int64"),
            "percentile": percentile_of_rank(rank),
            "flagged": flagged,
            "identity_id": state.linking.identity,
            "cluster_id": state.membership,
            "banned": status["banned"].to_numpy(),
            "cleared": status["cleared"].to_numpy(),
            "violations": status["violations"].to_numpy(),
            "propagation_score": state.propagation["propagation_score"].to_numpy(),
            "reasons": reasons,
        })
        log = tables.decisions
        scores = scores.assign(**latest_logged(
            None if log is None else log.assign(node=tables.account_positions("decisions")),
            graph.n_accounts))
        scores = add_status(scores, prior, graph.as_of, config.score_tolerance)
        links = _links_table(graph, ident, masker)
        identities = ident.table.copy()
        # what the run's reports need once its inputs have moved on (written with the run)
        around = keep_around(graph, flagged_nodes, masker, enforcement=tables.enforcement)

    model_info = {"mode": scoring.mode, **scoring.info}
    summary = {
        "accounts": graph.n_accounts,
        "banned": int(scores["banned"].sum()),
        "cleared": int(scores["cleared"].sum()),
        "identities": int(len(identities)),
        "largest_identity": ident.largest,
        "identities_split": ident.n_split,
        "clusters": int(len(state.clusters)),
        "flagged": int(flagged.sum()),
        **({"vs_previous": ", ".join(f"{n:,} {k}" for k, n in scores["status_vs_previous"]
                                     .value_counts().items() if k != "not_flagged")}
           if prior is not None else {}),
        **summary_tail(scoring, tables, masker, t0),
    }
    parameters = run_parameters(config, capacity)
    run = {
        "run_id": uuid.uuid4().hex,
        "as_of": graph.as_of.isoformat(),
        **({"previous": prior.reference()} if prior is not None else {}),
        "id_counters": id_counters,
        "parameters": parameters,
        "inputs": {name: {"source": src} for name, src in tables.sources.items()},
        "row_counts": row_counts,
        "graph": graph.summary(),
        "propagation": state.propagation.attrs.get("propagation", {}),
        "propagation_warnings": state.warnings,
        "model": model_info,
        "masking": {"persistent_key": masker.persistent, "key_source": masker.source,
                    "key_fingerprint": masker.fingerprint()},
        "input_notes": list(tables.notes),
        "warnings": list(tables.warnings) + list(scoring.info.get("warnings", [])),
        "time_format": tables.time_format,
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "stage_seconds": dict(stages.timings),
        "stage_peak_rss_mib": dict(stages.peak_mib),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "summary": summary,
        "subgraph": dict(around.info),
        "engine": {"name": state.engine, **state.engine_info},
    }
    # rings to review first: active, with undecided members (after every scores column is in)
    clusters = ring_priorities(state.clusters, scores, graph.as_of)
    return FlagResult(scores=scores, identities=identities, links=links, clusters=clusters,
                      evidence=evidence, run=run, state=state, subgraph=around, masker=masker)


def flag_files(paths: dict[str, str | Path | None], out_dir: str | Path,
               config: JobConfig | None = None, *, stages: Stages | None = None,
               time_format: str | None = None, **kwargs: Any) -> FlagResult:
    """Load and validate input files, run the flag job, write its run folder: the CLI's job.

    ``time_format`` goes to :func:`load_tables`; ``kwargs`` go to :func:`run_flag`
    (``scorer``, ``masker``). The inputs are released as soon as the graph build
    has read them.
    """
    config = (config or JobConfig()).replace(release_inputs=True)
    stages = stages or Stages(quiet=True)
    paths = {**paths, "decisions": paths.get("decisions") or config.decisions}
    log = paths["decisions"]
    writer = None
    with stages.stage("load and validate"), reading_log(log) as log_record:
        if config.engine == "spark":
            from ringfence.graph.spark.load import load_spark_tables
            from ringfence.graph.spark.output import parquet_folder_writer
            from ringfence.graph.spark.session import spark_session

            # pyspark 4.3 warns at every pandas conversion; the engine's are tested (tests/spark)
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
            spark = spark_session(config.spark_master)
            tables = load_spark_tables(spark, **{k: paths.get(k) for k in TABLES},
                                       time_format=time_format)
            writer = parquet_folder_writer(spark)
        else:
            tables = load_tables(**{k: paths.get(k) for k in TABLES}, time_format=time_format)
        tables.require("accounts", "enforcement", any_of=("identifiers", "edges"))
    result = run_flag(tables, config, stages=stages, **kwargs)
    record_inputs(result.run, tables)
    if log_record:  # the log as read, not as it may have grown since
        result.run["inputs"]["decisions"].update(log_record)
    write_run(result, out_dir, config.format, stages=stages, writer=writer)
    return result
