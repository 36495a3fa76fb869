"""The graph stages, in one place: build -> identities -> clusters -> propagation.

Every job that needs the account graph (the flag job, training, case reports,
the Neo4j sync, the benchmark) calls :func:`run_pipeline` and gets one
:class:`GraphState`. This is also the seam where another engine plugs in: an
engine is a function with :func:`run_pipeline`'s signature that returns the
same :class:`GraphState` (docs/engines.md says what each field must hold, as
tables and arrays).

Examples
--------
>>> from ringfence.graph.synth import generate_platform
>>> from ringfence.graph.tables import load_tables
>>> p = generate_platform(n_accounts=1000, seed=1)
>>> t = load_tables(p.accounts, p.identifiers, p.edges, p.enforcement)
>>> state = run_pipeline(t)
>>> state.graph.n_accounts == len(state.membership) == len(state.propagation)
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ringfence.graph.build import AccountGraph, build_graph
from ringfence.graph.canonical import canonical_order
from ringfence.graph.clusters import find_clusters
from ringfence.graph.config import GraphConfig
from ringfence.graph.identity import IdentityLinking, link_identities
from ringfence.graph.progress import Stages
from ringfence.graph.propagate import propagate_blacklist
from ringfence.graph.tables import Tables

__all__ = ["STAGES", "ENGINES", "GraphState", "run_pipeline", "after_build"]

#: the graph stages in order; ``stop_after`` names one of them
STAGES = ("build", "identities", "clusters", "propagation")
_STAGE_TITLES = {"build": "build graph", "identities": "link identities",
                 "clusters": "find clusters", "propagation": "propagate blacklist"}


@dataclass
class GraphState:
    """What the graph stages produced; later stages' fields are None when stopped early.

    Attributes
    ----------
    graph : AccountGraph
        Accounts as nodes ``0..n-1``, their status, identifier usage, pairs and
        the weighted adjacency (:func:`ringfence.graph.build.build_graph`).
    linking : IdentityLinking or None
        Identity per node, the links kept and one row per identity
        (:func:`ringfence.graph.identity.link_identities`).
    membership : numpy.ndarray or None
        Cluster id per node (:func:`ringfence.graph.clusters.find_clusters`).
    clusters : pandas.DataFrame or None
        One row per cluster, riskiest first.
    propagation : pandas.DataFrame or None
        One row per node: ``propagation_score``, ``propagation_raw``, ...
        (:func:`ringfence.graph.propagate.propagate_blacklist`).
    warnings : list of str
        Warnings the stages raised (convergence, ...), for the run record.
    engine : str
        The engine that produced the state.
    """

    graph: AccountGraph
    linking: IdentityLinking | None = None
    membership: np.ndarray | None = None
    clusters: pd.DataFrame | None = None
    propagation: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    engine: str = "in-process"
    #: how the engine ran: its session, which stage ran where, sizes (for run.json)
    engine_info: dict = field(default_factory=dict)

    @property
    def identity(self) -> np.ndarray:
        """Identity id per node (-1: linked to nobody)."""
        if self.linking is None:
            raise ValueError("identities were not linked (the pipeline stopped at 'build')")
        return self.linking.identity


def _in_process(tables: Tables, config: GraphConfig, *, as_of: str | pd.Timestamp | None,
                stages: Stages, release_inputs: bool, stop_after: str) -> GraphState:
    with stages.stage(_STAGE_TITLES["build"]):
        graph = build_graph(tables, config, as_of=as_of, release_inputs=release_inputs)
    return after_build(GraphState(graph=graph), tables, config, stages, stop_after)


def after_build(state: GraphState, tables: Tables, config: GraphConfig, stages: Stages,
                stop_after: str) -> GraphState:
    """Identities, clusters and propagation on the driver, from a built graph (every engine
    whose link list fits on the driver ends here)."""
    graph = state.graph
    last = STAGES.index(stop_after)
    tables.notes.extend(note for note in config.unused_kind_notes(
        graph.kind_names, graph.edge_kind_names) if note not in tables.notes)
    if last >= 1:
        with stages.stage(_STAGE_TITLES["identities"]):
            state.linking = link_identities(graph, config,
                                            getattr(tables, "link_decisions", None))
    if last >= 2:
        with stages.stage(_STAGE_TITLES["clusters"]):
            state.membership, state.clusters = find_clusters(graph, config,
                                                             identity=state.linking.identity)
    if last >= 3:
        with stages.stage(_STAGE_TITLES["propagation"]):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                state.propagation = propagate_blacklist(graph, config)
            state.warnings = [str(w.message) for w in caught]
            for msg in state.warnings:
                stages.log(f"warning: {msg}")
    return state


def _spark(tables: Tables, config: GraphConfig, **kwargs) -> GraphState:
    # pyspark is imported only when this engine is chosen
    from ringfence.graph.spark.engine import spark_engine

    return spark_engine(tables, config, **kwargs)


#: engine name -> function with :func:`run_pipeline`'s keyword arguments
ENGINES: dict[str, Callable[..., GraphState]] = {"in-process": _in_process, "spark": _spark}


def run_pipeline(tables: Tables, config: GraphConfig | None = None, *,
                 as_of: str | pd.Timestamp | None = None, stages: Stages | None = None,
                 release_inputs: bool = False, stop_after: str = "propagation",
                 engine: str = "in-process", engine_options: dict | None = None) -> GraphState:
    """Run the graph stages on validated tables and return their :class:`GraphState`.

    Parameters
    ----------
    tables
        From :func:`ringfence.load_tables`; needs ``accounts`` and, for any
        link, ``identifiers`` or ``edges``.
    config
        Graph parameters (default :class:`GraphConfig()`).
    as_of
        Ages are measured from here; default the newest timestamp in the input.
    stages
        Progress reporter (default: quiet). Each stage is timed under its title
        ("build graph", "link identities", "find clusters", "propagate blacklist").
    release_inputs
        Drop ``tables.identifiers`` and ``tables.edges`` once the build has read
        them (about 0.8 GB at 1,000,000 accounts); the command line does this.
    stop_after
        The last stage to run: one of :data:`STAGES` (a case report needs only
        ``"identities"``, the Neo4j sync only ``"build"``).
    engine
        A key of :data:`ENGINES`: ``"in-process"`` (default) or ``"spark"``
        (:func:`ringfence.graph.spark.engine.spark_engine`, needs ``ringfence[spark]``).
    engine_options
        Keyword arguments for the engine (Spark: ``master``, ``driver_max_links``).

    Returns
    -------
    GraphState
        Nodes are the accounts in ``account_id`` order: ``tables.accounts`` is
        sorted so in place (:func:`~ringfence.graph.canonical.canonical_order`),
        and no output depends on the order of the input rows.

    Notes
    -----
    Cost: about linear in identifier observations plus edges; at 1,000,000
    accounts the four stages take about 15 s on two cores (docs/how-it-works.md
    has the measured figures per stage).
    """
    if stop_after not in STAGES:
        raise ValueError(f"stop_after must be one of {', '.join(STAGES)}, got {stop_after!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    # nodes in account_id order: outputs must not depend on the order of input rows
    canonical_order(tables)
    return ENGINES[engine](tables, config or GraphConfig(), as_of=as_of,
                           stages=stages or Stages(quiet=True), release_inputs=release_inputs,
                           stop_after=stop_after, **(engine_options or {}))
